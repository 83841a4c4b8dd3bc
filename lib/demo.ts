/**
 * `hiberkit demo`: the whole product on an emulated machine, no root, no kernel support needed.
 * It creates a standard emulated machine (a swap file as large as its RAM) in a temporary directory
 * it removes at the end, or uses the one `--dir` holds; hibernates it with the real library code
 * (the emulated critical section writes a real image into the swap file), powers it off, boots it
 * again, inspects and resumes the image, and proves the RAM came back exactly.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { createEmulatedMachine, existingStateDir, openEmulatedMachine, type MachineConfig } from '../emulator/index.js';
import { parseSize } from './config.js';
import { hibernate } from './hibernate.js';
import { inspect } from './inspect.js';
import { mib } from './preflight.js';
import { resume } from './resume.js';
import { HiberkitError } from './errors.js';

export interface DemoOptions {
  /** State directory of the emulated machine: kept afterwards. By default a temporary one, removed at the end. */
  dir?: string;
  /** RAM of a machine the demo creates (256 MiB by default); must match a machine `dir` already holds. */
  memoryBytes?: number;
  print: (line: string) => void;
}

const MIB = 1 << 20;
/** The least RAM the emulated PC memory map holds (emulator/e820.ts). */
const MIN_MEMORY = 32 * MIB;
/** The emulator keeps the RAM in one buffer (and the snapshot copies it): at most 2 GiB. */
const MAX_MEMORY = 2048 * MIB;

/**
 * The demo machine's RAM from `--memory` (`256M`, `1G`): a whole number of MiB from 32 MiB up to
 * 2 GiB and at most a quarter of this host's memory, since the emulator holds the RAM, the
 * snapshot's copy of it and the swap file's pages in this process.
 */
export function demoMemoryBytes(text: string, hostBytes = totalmem()): number {
  const bytes = parseSize(text);
  const max = Math.min(MAX_MEMORY, Math.floor(hostBytes / 4 / MIB) * MIB);
  if (bytes % MIB !== 0 || bytes < MIN_MEMORY || bytes > max) {
    throw new Error(`"${text}" is not a demo memory size: give a whole number of MiB from ${mib(MIN_MEMORY)} to ${mib(max)} (this host allows up to a quarter of its RAM), e.g. 256M`);
  }
  return bytes;
}

/** The configuration of the machine `dir` holds, or null for a missing or empty directory (it gets a new one). */
function machineIn(dir: string): MachineConfig | null {
  try {
    return existingStateDir(dir).readConfig();
  } catch (err) {
    if (err instanceof HiberkitError && err.code === 'NO_MACHINE') return null;
    throw err;
  }
}

export async function runDemo(options: DemoOptions): Promise<void> {
  const { print } = options;
  if (options.dir !== undefined) {
    await demoOn(options.dir, options);
    print(`\nthe machine stays in ${options.dir} (\`hiberkit machine show ${options.dir}\`; remove it with rm -r when done)`);
    return;
  }
  // Its RAM and disks take as much room as the machine has memory, twice: never left behind,
  // whether the demo succeeds, fails or is interrupted.
  const dir = mkdtempSync(join(tmpdir(), 'hiberkit-demo-'));
  const removeMachine = () => {
    rmSync(dir, { recursive: true, force: true });
    print(`\nremoved the demo's machine (${dir}); keep one with --dir DIR`);
  };
  const interrupted = (signal: NodeJS.Signals) => {
    removeMachine();
    process.kill(process.pid, signal);
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  try {
    await demoOn(dir, options);
  } finally {
    process.off('SIGINT', interrupted).off('SIGTERM', interrupted);
    removeMachine();
  }
}

/**
 * Lets the event loop turn: the emulated steps run synchronously or on promises that are already
 * settled, so a Ctrl-C (SIGINT) would otherwise wait for the end of the demo to be handled.
 */
function betweenSteps(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The demo on the machine in `dir`: the one there, or a new standard machine of `options.memory`. */
async function demoOn(dir: string, options: DemoOptions): Promise<void> {
  const { print } = options;
  const { memoryBytes } = options;
  const existing = machineIn(dir);
  if (existing) {
    if (memoryBytes !== undefined && memoryBytes !== existing.memoryBytes) {
      throw new HiberkitError('DEMO_MEMORY_MISMATCH', `${dir} holds a ${mib(existing.memoryBytes)} machine, not ${mib(memoryBytes)}: drop --memory to use it, or give another --dir`);
    }
  } else {
    createEmulatedMachine(dir, { memoryBytes });
  }
  const boot1 = openEmulatedMachine(dir);
  if (boot1.phase !== 'running') {
    throw new HiberkitError('DEMO_DIR_BUSY', `${dir} holds a machine waiting to be resumed; resume or discard its image first (\`hiberkit resume --emulate ${dir}\`), or give the demo another --dir`);
  }
  const swap = boot1.backend.system.swapAreas()[0];
  if (!swap) throw new HiberkitError('NO_SWAP', `the machine in ${dir} has no active swap: give the demo another --dir`);
  const ramBytes = boot1.config.memoryBytes;
  print(`emulated machine in ${dir}: ${mib(ramBytes)} of RAM, swap ${swap.type} ${swap.path} (${mib(swap.sizeBytes)}) on ${swap.blockDevice} at page ${swap.offsetPages}`);

  print('\n[boot 1] hiberkit hibernate');
  const hibernateStarted = performance.now();
  // A preferred size of all RAM: the kernel drops only the page cache the copies need room for.
  const hibernated = hibernate({ backend: boot1.backend, compress: 'lz4', imageSize: ramBytes, onProgress: (m) => print(`  ${m}`) });
  await boot1.switchedOff(hibernated);
  const hibernateMs = performance.now() - hibernateStarted;
  // Taken at power-off, not before the command: CREATE_IMAGE itself changes RAM (it drops page
  // cache to make room for the copies and records the session in the kernel), exactly as a real
  // kernel does. What must come back is the RAM the image was taken from.
  const before = boot1.ram.fingerprint();
  print(`  powered off after ${(hibernateMs / 1000).toFixed(2)} s`);
  print(`  RAM fingerprint at power-off: ${before.slice(0, 16)}…`);

  await betweenSteps();
  print('\n[boot 2] hiberkit inspect');
  const boot2 = openEmulatedMachine(dir);
  const report = await inspect({ backend: boot2.backend });
  if (!report.valid) throw new HiberkitError('DEMO_FAILED', `the image is not valid: ${report.problem?.message}`);
  print(`  image of ${mib(report.streamBytes!)} stored as ${mib(report.storedBytes!)} (lz4, ratio ${report.ratio!.toFixed(2)}), kernel ${report.kernelRelease}`);

  await betweenSteps();
  print('\n[boot 2] hiberkit resume');
  const resumeStarted = performance.now();
  const resumed = await resume({ backend: boot2.backend, onProgress: (m) => print(`  ${m}`) });
  if (resumed.status !== 'restored') throw new HiberkitError('DEMO_FAILED', `resume found ${resumed.status}`);
  const result = await hibernated;
  const resumeMs = performance.now() - resumeStarted;
  const after = openEmulatedMachine(dir).ram.fingerprint();
  print(`  the hibernate call of boot 1 returned: resumed=${result.resumed}`);
  print(`  RAM fingerprint after resume: ${after.slice(0, 16)}… ${after === before ? '(identical)' : '(DIFFERENT)'}`);
  if (after !== before) throw new HiberkitError('DEMO_FAILED', 'the restored RAM differs from the hibernated RAM');

  await betweenSteps();
  print('\nsummary');
  print(`  hibernate (trigger → power-off)   ${(hibernateMs / 1000).toFixed(2)} s`);
  print(`  resume (load, verify, restore)    ${(resumeMs / 1000).toFixed(2)} s`);
  print(`  image                             ${mib(report.streamBytes!)} → ${mib(report.storedBytes!)} on disk (${(100 * report.ratio!).toFixed(0)}%)`);
  print(`  emulator pipeline                 ${(report.streamBytes! / MIB / ((hibernateMs + resumeMs) / 1000)).toFixed(0)} MiB/s (hibernate + resume)`);
  print('  memory after resume               identical to the RAM it hibernated');
}
