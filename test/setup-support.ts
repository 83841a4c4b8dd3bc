/**
 * Fake system facts for `hiberkit setup` and the doctor's installation checks: a temporary root
 * (with /etc, /sys/power and a hiberkit-resume to install), a swap file and a swap partition, and
 * a command runner that records instead of running.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { HiberkitError } from '../lib/errors.js';
import { encodeDev } from '../lib/ioctls.js';
import type { SwapArea } from '../lib/backend.js';
import type { CommandRunner, SetupFacts } from '../lib/setup/facts.js';

export const GIB = 1 << 30;

export const SWAP_FILE: SwapArea = { path: '/swapfile', type: 'file', sizeBytes: 2 * GIB, usedBytes: 0, priority: -2, blockDevice: '/dev/vda1', dev: encodeDev(254, 1), offsetPages: 34816 };
export const SWAP_PARTITION: SwapArea = { path: '/dev/vdb2', type: 'partition', sizeBytes: GIB / 2, usedBytes: 0, priority: -3, blockDevice: '/dev/vdb2', dev: encodeDev(254, 18), offsetPages: 0 };
const NAMES: Record<string, string> = { 'UUID=1111-2222': '/dev/vda1', 'PARTUUID=abcd-02': '/dev/vdb2', '/dev/vdb2': '/dev/vdb2', '/dev/vda1': '/dev/vda1' };

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A root directory with /etc, /sys/power (as the kernel shows it before anything set it) and a hiberkit-resume to install. */
export function makeRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'hiberkit-setup-root-'));
  dirs.push(root);
  mkdirSync(join(root, 'etc'));
  mkdirSync(join(root, 'sys/power'), { recursive: true });
  writeFileSync(join(root, 'sys/power/resume'), '0:0\n');
  writeFileSync(join(root, 'sys/power/resume_offset'), '0\n');
  writeFileSync(join(root, 'hiberkit-resume.built'), '\x7fELF the program');
  return root;
}

export function fakeFacts(root: string, overrides: Partial<SetupFacts> = {}): SetupFacts {
  return {
    root,
    isPrivileged: true,
    system: {
      swapAreas: () => [SWAP_FILE, SWAP_PARTITION],
      resolveBlockDevice: (spec) => {
        const node = NAMES[spec];
        if (!node) throw new HiberkitError('DEVICE_NOT_FOUND', `no block device has ${spec}`);
        return node;
      },
      memoryBytes: () => GIB,
    },
    lockdown: 'none',
    stableName: (blockDevice, type) => (type === 'file' && blockDevice === '/dev/vda1' ? 'UUID=1111-2222' : 'PARTUUID=abcd-02'),
    generators: ['initramfs-tools'],
    systemd: true,
    resumeProgram: join(root, 'hiberkit-resume.built'),
    nodePath: '/usr/bin/node',
    cliPath: '/usr/local/lib/node_modules/hiberkit/dist/lib/cli.js',
    ...overrides,
  };
}

export function recordingRunner(fail?: { argv0: string; output: string }): CommandRunner & { calls: string[] } {
  const calls: string[] = [];
  const runner = ((argv: readonly string[]) => {
    calls.push(argv.join(' '));
    return fail && argv[0] === fail.argv0 ? { status: 1, output: fail.output } : { status: 0, output: '' };
  }) as CommandRunner & { calls: string[] };
  runner.calls = calls;
  return runner;
}

export const read = (root: string, path: string) => readFileSync(join(root, path), 'utf8');

/** Every file under root, relative, with the fixtures makeRoot() made left out. */
export function tree(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(join(root, dir))) {
      const path = `${dir}/${name}`;
      if (statSync(join(root, path)).isDirectory()) walk(path);
      else found.push(path);
    }
  };
  walk('');
  return found.filter((path) => !path.startsWith('/sys/') && path !== '/hiberkit-resume.built').sort();
}
