// The emulated machine across boots: its state directory, two backend instances playing two
// boots, hibernation sessions that resume or get lost, RAM restored exactly, swapon's treatment of
// hibernation signatures, and a restore done by another process.
import { execFile } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, test, vi } from 'vitest';
import type { HibernatePlan } from '../lib/backend.js';
import { PAGE_SIZE } from '../lib/ioctls.js';
import { hibernate } from '../lib/hibernate.js';
import { resume } from '../lib/resume.js';
import type { MachineConfigInput } from '../emulator/config.js';
import { createEmulatedBackend } from '../emulator/index.js';
import { createEmulatedMachine } from '../emulator/create.js';
import { openEmulatedMachine, type EmulatedMachine } from '../emulator/machine.js';
import { PAGE_FREE } from '../emulator/ram.js';
import { parseSwapHeader } from '../lib/swap-header.js';

const MIB = 1 << 20;
/** Little enough in use that CREATE_IMAGE drops nothing: the RAM before and after is the same. */
const NO_SHRINK: MachineConfigInput = { memoryBytes: 32 * MIB, usage: { anon: 0.15, cache: 0.15, zero: 0.15 } };

const dirs: string[] = [];
const opened: EmulatedMachine[] = [];
const quiet = openSync('/dev/null', 'w');
afterAll(() => closeSync(quiet));
afterEach(() => {
  for (const machine of opened.splice(0)) if (machine.status === 'running') machine.shutdown();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hiberkit-machine-'));
  dirs.push(dir);
  return dir;
}

/** The machine in `dir`, booted; created first from `config` when one is given. */
function boot(dir: string, config?: MachineConfigInput): EmulatedMachine {
  if (config) createEmulatedMachine(dir, { config });
  const machine = openEmulatedMachine(dir);
  opened.push(machine);
  return machine;
}

/** The swap header signature of /dev/vda, as the disk holds it now. */
function vdaSignature(machine: EmulatedMachine): string {
  return parseSwapHeader(machine.disks.readPage(machine.disks.byDevice('/dev/vda')!, 0)).signature.replace(/\0+$/, '');
}

/** Hibernates with the emulated critical section; resolves when a later boot resumed or lost it. */
async function hibernateWithCriticalSection(machine: EmulatedMachine, powerOff: HibernatePlan['powerOff'] = 'platform') {
  const { backend } = machine;
  const storage = backend.openBlockDevice('/dev/vda', { write: true, direct: true });
  const original = storage.allocAligned(PAGE_SIZE);
  storage.readSync(original, 0);
  const device = backend.openSnapshot('hibernate');
  device.setSwapArea(backend.system.deviceNumber('/dev/vda'), 0);
  device.setPreferredImageSize(1 << 30);
  const outcome = await backend.criticalSection.hibernate({
    device,
    storage,
    resumePage: 0,
    originalResumePage: original,
    header: { kernelRelease: backend.system.kernelRelease(), machineId: backend.system.machineId(), createdAtMs: Date.now(), platformMode: powerOff === 'platform' },
    compression: 'lz4',
    chunkPages: 32,
    powerOff,
    progressFd: quiet,
  });
  storage.close();
  return outcome;
}

describe('the state directory', () => {
  test('two boots: configuration and disks persist, RAM is fresh, swap is switched on again', () => {
    const dir = freshDir();
    const first = boot(dir, { memoryBytes: 32 * MIB, disks: [{ device: '/dev/vdb', sizeBytes: 8 * MIB }] });
    expect(openEmulatedMachine(dir)).toBe(first);
    const data = first.backend.openBlockDevice('/dev/vdb', { write: true });
    data.writeSync(Buffer.alloc(PAGE_SIZE, 0x5a), 3 * PAGE_SIZE);
    data.close();
    const firstRam = first.ram.fingerprint();
    first.shutdown();

    const second = boot(dir);
    expect(second).not.toBe(first);
    expect(second.bootNumber).toBe(2);
    expect(second.config).toEqual(first.config);
    expect(second.ram.fingerprint()).not.toBe(firstRam);
    const readBack = Buffer.alloc(PAGE_SIZE);
    second.backend.openBlockDevice('/dev/vdb').readSync(readBack, 3 * PAGE_SIZE);
    expect(readBack.every((b) => b === 0x5a)).toBe(true);
    expect(second.backend.system.swapAreas().map((a) => a.path)).toEqual(['/dev/vda']);
    second.backend.power.sync();
    expect(second.kernel.syncCount).toBe(1);
    expect(second.backend.system.resumeSetting()).toEqual({ device: '/dev/vda', dev: 254 << 8, offsetPages: 0 });
  });

  test('machines with the same seed boot into the same RAM; another seed, another RAM', () => {
    const a = boot(freshDir(), { memoryBytes: 32 * MIB, seed: 11 });
    const b = boot(freshDir(), { memoryBytes: 32 * MIB, seed: 11 });
    const c = boot(freshDir(), { memoryBytes: 32 * MIB, seed: 12 });
    expect(a.ram.fingerprint()).toBe(b.ram.fingerprint());
    expect(c.ram.fingerprint()).not.toBe(a.ram.fingerprint());
    expect(c.config.machineId).not.toBe(a.config.machineId);
  });

  test('another instance (another process) attaches to the running boot and sees its kernel variables', async () => {
    const dir = freshDir();
    const machine = boot(dir, { memoryBytes: 32 * MIB });
    machine.setResume('/dev/vda', 0);
    machine.openSnapshot('read-only').setPreferredImageSize(5 * MIB);
    vi.resetModules();
    const other = (await import('../emulator/machine.js')).openEmulatedMachine(dir);
    expect(other).not.toBe(machine);
    expect(other.bootNumber).toBe(1);
    expect(other.kernel.vars.imageSize).toBe(5 * MIB);
    expect(other.ram.fingerprint()).toBe(machine.ram.fingerprint());
  });
});

describe('what /proc and /sys say', () => {
  test('the default configuration: 64 MiB, a 128 MiB swap partition on /dev/vda named by resume=, ACPI S4 and S3', () => {
    const dir = freshDir();
    const backend = createEmulatedBackend({ dir, config: {} });
    const machine = openEmulatedMachine(dir);
    opened.push(machine);
    const { system } = backend;
    expect(backend.name).toBe('emulator');
    expect(system.kernelRelease()).toBe('6.17.0-emulated');
    expect(system.machineId()).toMatch(/^[0-9a-f]{32}$/);
    expect(system.commandLine()).toEqual(['console=ttyS0', 'resume=/dev/vda']);
    expect(system.memoryBytes()).toBeGreaterThan(63 * MIB);
    expect(system.memoryBytes()).toBeLessThan(64 * MIB);
    expect(system.isPrivileged()).toBe(true);
    expect(system.swapAreas()).toEqual([
      { path: '/dev/vda', type: 'partition', sizeBytes: 128 * MIB - PAGE_SIZE, usedBytes: 0, priority: -2, blockDevice: '/dev/vda', dev: 254 << 8, offsetPages: 0 },
    ]);
    expect(system.hibernationSupport()).toEqual({
      snapshotDevice: true,
      diskState: true,
      enabled: true,
      lockdown: 'none',
      diskModes: ['platform', 'shutdown', 'reboot', 'suspend', 'test_resume'],
      disabledOnCommandLine: false,
      // The kernel's default: 2/5 of its pages.
      imageSizeBytes: Math.floor((machine.map.numPhyspages * 2) / 5) * PAGE_SIZE,
    });
  });

  test('device specs resolve like blkid would; swap files report their resume offset', () => {
    const machine = boot(freshDir(), {
      memoryBytes: 32 * MIB,
      disks: [{ device: '/dev/vdb', sizeBytes: 16 * MIB }],
      swaps: [
        { type: 'partition', device: '/dev/vda', sizeBytes: 4 * MIB, label: 'fast', uuid: '11111111-2222-4333-8444-555555555555', usedBytes: 8 * PAGE_SIZE },
        { type: 'file', path: '/swapfile', device: '/dev/vdb', offsetPages: 1000, sizeBytes: 2 * MIB, label: 'file' },
      ],
      cmdline: ['resume=UUID=11111111-2222-4333-8444-555555555555', 'resume_offset=0', 'hibernate=no'],
    });
    const { system } = machine.backend;
    expect(system.resolveBlockDevice('UUID=11111111-2222-4333-8444-555555555555')).toBe('/dev/vda');
    expect(system.resolveBlockDevice('LABEL=file')).toBe('/dev/vdb');
    expect(system.resolveBlockDevice('254:16')).toBe('/dev/vdb');
    expect(() => system.resolveBlockDevice('LABEL=none')).toThrow(expect.objectContaining({ code: 'DEVICE_NOT_FOUND' }));
    expect(system.resumeSetting()).toEqual({ device: '/dev/vda', dev: 254 << 8, offsetPages: 0 });
    expect(system.swapFileOffset('/swapfile')).toEqual({ blockDevice: '/dev/vdb', offsetPages: 1000 });
    expect(() => system.swapFileOffset('/etc/passwd')).toThrow(expect.objectContaining({ code: 'NOT_A_SWAP_FILE' }));
    expect(system.swapAreas().map((a) => [a.path, a.usedBytes, a.offsetPages, a.priority])).toEqual([
      ['/dev/vda', 8 * PAGE_SIZE, 0, -2],
      ['/swapfile', 0, 1000, -3],
    ]);
    expect(system.hibernationSupport()).toMatchObject({ enabled: false, diskModes: [], disabledOnCommandLine: true });
  });
});

describe('hibernation sessions', () => {
  test('hibernate in boot 1, resume in boot 2 (lib/hibernate + lib/resume): the session continues with its RAM exactly', async () => {
    const dir = freshDir();
    const first = boot(dir, NO_SHRINK);
    const samples = inUsePages(first, 64).map((pfn) => ({ pfn, data: first.ram.readPage(pfn) }));
    const pending = hibernate({ backend: first.backend, imageSize: 1 << 30 });
    await vi.waitFor(() => expect(first.status).toBe('off'));
    // Switched off right after the snapshot: this is the RAM the image holds.
    const snapshotRam = first.ram.fingerprint();
    expect(Object.values(first.sessions())).toEqual([expect.objectContaining({ state: 'suspended', bootNumber: 1 })]);

    const second = boot(dir);
    expect(second.bootNumber).toBe(2);
    expect(second.phase).toBe('early');
    expect(second.ram.fingerprint()).not.toBe(snapshotRam);
    expect(await resume({ backend: second.backend })).toEqual({ status: 'restored', blockDevice: '/dev/vda' });
    expect(second.status).toBe('replaced');

    await expect(pending).resolves.toMatchObject({ resumed: true, blockDevice: '/dev/vda' });
    expect(first.status).toBe('running');
    expect(openEmulatedMachine(dir)).toBe(first);
    expect(first.bootNumber).toBe(1);
    // RAM as the second boot's restore left it (reloaded from the state directory) is the snapshot.
    expect(first.ram.fingerprint()).toBe(snapshotRam);
    for (const { pfn, data } of samples) expect(first.ram.readPage(pfn).equals(data)).toBe(true);
    expect(Object.values(first.sessions())).toEqual([expect.objectContaining({ state: 'resumed' })]);
    expect(vdaSignature(first)).toBe('SWAPSPACE2');
    expect(first.backend.system.swapAreas()).toEqual([expect.objectContaining({ path: '/dev/vda', usedBytes: 0 })]);
    expect(first.violations).toEqual([]);
    expect(first.kernel.freezer.userSpaceFrozen).toBe(false);
  });

  test('a reboot instead of a power-off resumes the same way', async () => {
    const dir = freshDir();
    const first = boot(dir, NO_SHRINK);
    const outcome = hibernateWithCriticalSection(first, 'reboot');
    await vi.waitFor(() => expect(first.status).toBe('off'));
    await resume({ backend: boot(dir).backend });
    await expect(outcome).resolves.toEqual({ kind: 'resumed' });
  });

  test('a boot that goes past the initramfs without resuming loses the session; swapon refuses the marked area', async () => {
    const dir = freshDir();
    const first = boot(dir, NO_SHRINK);
    const outcome = hibernateWithCriticalSection(first);
    await vi.waitFor(() => expect(first.status).toBe('off'));
    const second = boot(dir);
    expect(second.phase).toBe('early');
    // Asking for the active swap areas is something only a booted system does.
    expect(second.backend.system.swapAreas()).toEqual([]);
    expect(second.phase).toBe('running');
    expect(second.bootLog).toEqual([expect.stringMatching(/swapon \/dev\/vda: no swap signature \(found "HIBERKIT01"\)/)]);
    const result = await outcome;
    expect(result).toMatchObject({ kind: 'failed', stage: 'power-off', error: { code: 'SESSION_LOST' } });
    expect(Object.values(second.sessions())).toEqual([expect.objectContaining({ state: 'lost' })]);
  });

  test('swapon rewrites hibernation signatures util-linux knows (S1SUSPEND, ULSUSPEND, …) back to SWAPSPACE2', () => {
    const dir = freshDir();
    const first = boot(dir, { memoryBytes: 32 * MIB });
    const disk = first.disks.byDevice('/dev/vda')!;
    const page = first.disks.readPage(disk, 0);
    page.write('S1SUSPEND\0', 4086, 'latin1');
    first.disks.writePage(disk, 0, page);
    first.shutdown();
    const second = boot(dir);
    expect(vdaSignature(second)).toBe('SWAPSPACE2');
    expect(second.backend.system.swapAreas()).toHaveLength(1);
    expect(second.bootLog).toEqual([expect.stringMatching(/S1SUSPEND signature found; rewritten to SWAPSPACE2/)]);
  });

  test('another process restores the image: the hibernating process continues', async () => {
    const dir = freshDir();
    const first = boot(dir, NO_SHRINK);
    const outcome = hibernateWithCriticalSection(first);
    await vi.waitFor(() => expect(first.status).toBe('off'));

    const { stdout } = await runInChildProcess(dir);
    expect(JSON.parse(stdout)).toEqual({ status: 'restored', blockDevice: '/dev/vda', pid: expect.any(Number) });
    expect(JSON.parse(stdout).pid).not.toBe(process.pid);
    await expect(outcome).resolves.toEqual({ kind: 'resumed' });
    expect(first.status).toBe('running');
    expect(first.kernel.vars.bootNumber).toBe(1);
  }, 30_000);
});

/** The first `count` pages in use (kernel, anonymous or cache). */
function inUsePages(machine: EmulatedMachine, count: number): number[] {
  const pfns: number[] = [];
  for (const range of machine.map.ranges) {
    for (let pfn = range.start; pfn < range.end && pfns.length < count; pfn++) if (machine.ram.pageState(pfn) !== PAGE_FREE) pfns.push(pfn);
  }
  return pfns;
}

/**
 * Runs lib/resume against the machine in `dir` in a separate node process. Node 20 cannot run
 * TypeScript by itself: a module hook transpiles each file with the project's TypeScript.
 */
async function runInChildProcess(dir: string): Promise<{ stdout: string }> {
  const work = freshDir();
  const typescript = pathToFileURL(createRequire(import.meta.url).resolve('typescript')).href;
  const hooks = join(work, 'hooks.mjs');
  writeFileSync(
    hooks,
    `import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from ${JSON.stringify(typescript)};
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (err.code !== 'ERR_MODULE_NOT_FOUND' || !specifier.endsWith('.js')) throw err;
    return next(specifier.slice(0, -3) + '.ts', context);
  }
}
export async function load(url, context, next) {
  if (!url.endsWith('.ts')) return next(url, context);
  const source = readFileSync(fileURLToPath(url), 'utf8');
  const options = { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 };
  return { format: 'module', source: ts.transpileModule(source, { compilerOptions: options }).outputText, shortCircuit: true };
}
`,
  );
  const register = join(work, 'register.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  const root = fileURLToPath(new URL('..', import.meta.url));
  const child = join(work, 'child.mjs');
  writeFileSync(
    child,
    `const { openEmulatedMachine } = await import(${JSON.stringify(pathToFileURL(join(root, 'emulator/machine.js')).href)});
const { resume } = await import(${JSON.stringify(pathToFileURL(join(root, 'lib/resume.js')).href)});
const result = await resume({ backend: openEmulatedMachine(process.argv[2]).backend });
process.stdout.write(JSON.stringify({ ...result, pid: process.pid }));
`,
  );
  return promisify(execFile)(process.execPath, ['--import', pathToFileURL(register).href, child, dir]);
}
