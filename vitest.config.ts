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
