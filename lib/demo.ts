/**
 * `hiberkit demo`: the whole product on an emulated machine, no root, no kernel support needed.
 * It builds a machine with a swap file, hibernates it with the real library code (the emulated
 * critical section writes a real image into the swap file), powers it off, boots it again,
 * inspects and resumes the image, and proves the RAM came back exactly.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { openEmulatedMachine } from '../emulator/index.js';
import { parseSize } from './config.js';
import { hibernate } from './hibernate.js';
import { inspect } from './inspect.js';
import { mib } from './preflight.js';
import { resume } from './resume.js';
import { HiberkitError } from './errors.js';

export interface DemoOptions {
  /** State directory of the emulated machine (a new temporary one by default). */
  dir?: string;
  /** RAM of the emulated machine in bytes (256 MiB by default; see demoMemoryBytes). */
  memoryBytes?: number;
  print: (line: string) => void;
}

const SWAP_FILE = '/swapfile';
/** Where the swap file starts on the emulated disk, as FIEMAP would report it for a real one. */
const SWAP_FILE_PAGE = 34_816;
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

export async function runDemo(options: DemoOptions): Promise<void> {
  const { print } = options;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'hiberkit-demo-'));
  const memoryBytes = options.memoryBytes ?? 256 * MIB;
  const swapBytes = memoryBytes;
  const diskBytes = SWAP_FILE_PAGE * 4096 + swapBytes + 64 * MIB;

  const boot1 = openEmulatedMachine(dir, {
    config: {
      memoryBytes,
      disks: [{ device: '/dev/vda', sizeBytes: diskBytes }],
      swaps: [{ type: 'file', path: SWAP_FILE, device: '/dev/vda', offsetPages: SWAP_FILE_PAGE, sizeBytes: swapBytes }],
      cmdline: ['console=ttyS0', 'root=/dev/vda', 'resume=/dev/vda', `resume_offset=${SWAP_FILE_PAGE}`],
    },
  });
  if (boot1.phase !== 'running') {
    throw new HiberkitError('DEMO_DIR_BUSY', `${dir} holds a machine waiting to be resumed; give the demo an empty --dir`);
  }
  const offset = boot1.backend.system.swapFileOffset(SWAP_FILE);
  print(`emulated machine in ${dir}: ${mib(memoryBytes)} of RAM, swap file ${SWAP_FILE} (${mib(swapBytes)}) on ${offset.blockDevice} at page ${offset.offsetPages}`);

  print('\n[boot 1] hiberkit hibernate');
  const hibernateStarted = performance.now();
  // A preferred size of all RAM: the kernel drops only the page cache the copies need room for.
  const hibernated = hibernate({ backend: boot1.backend, compress: 'lz4', imageSize: memoryBytes, onProgress: (m) => print(`  ${m}`) });
  await boot1.switchedOff(hibernated);
  const hibernateMs = performance.now() - hibernateStarted;
  // Taken at power-off, not before the command: CREATE_IMAGE itself changes RAM (it drops page
  // cache to make room for the copies and records the session in the kernel), exactly as a real
  // kernel does. What must come back is the RAM the image was taken from.
  const before = boot1.ram.fingerprint();
  print(`  powered off after ${(hibernateMs / 1000).toFixed(2)} s`);
  print(`  RAM fingerprint at power-off: ${before.slice(0, 16)}…`);

  print('\n[boot 2] hiberkit inspect');
  const boot2 = openEmulatedMachine(dir);
  const report = await inspect({ backend: boot2.backend });
  if (!report.valid) throw new HiberkitError('DEMO_FAILED', `the image is not valid: ${report.problem?.message}`);
  print(`  image of ${mib(report.streamBytes!)} stored as ${mib(report.storedBytes!)} (lz4, ratio ${report.ratio!.toFixed(2)}), kernel ${report.kernelRelease}`);

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

  print('\nsummary');
  print(`  hibernate (trigger → power-off)   ${(hibernateMs / 1000).toFixed(2)} s`);
  print(`  resume (load, verify, restore)    ${(resumeMs / 1000).toFixed(2)} s`);
  print(`  image                             ${mib(report.streamBytes!)} → ${mib(report.storedBytes!)} on disk (${(100 * report.ratio!).toFixed(0)}%)`);
  print(`  emulator pipeline                 ${(report.streamBytes! / MIB / ((hibernateMs + resumeMs) / 1000)).toFixed(0)} MiB/s (hibernate + resume)`);
  print('  memory after resume               identical to the RAM it hibernated');
}
