import { defineConfig } from 'vitest/config';

// Two projects: `unit` runs anywhere in seconds (emulator, codecs, image format, CLI on the
// emulator); `vm` boots a real Linux kernel under QEMU and runs the native backend inside it.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/vm/**'],
          testTimeout: 60_000,
          // scrypt at a test-only lower cost (lib/crypto/keys.ts scryptCost): the default, N = 2^18,
          // takes about a second per passphrase; test/crypto-keys.test.ts exercises it.
          env: { HIBERKIT_TEST_SCRYPT_LOG_N: '14' },
        },
      },
      {
        test: {
          name: 'vm',
          include: ['test/vm/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 1_800_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
