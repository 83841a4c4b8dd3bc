/**
 * Making an emulated machine, on purpose: `createEmulatedMachine(dir, …)` or
 * `hiberkit machine create DIR`. Nothing else creates one, so a mistyped `--emulate DIR` is
 * refused instead of silently becoming a new, empty machine.
 *
 * The standard machine is what a small Linux box with a swap file looks like: one disk, /dev/vda,
 * holding the root filesystem and a swap file /swapfile as large as the RAM (so any image fits),
 * and a kernel command line that names it (`resume=/dev/vda resume_offset=…`), so `hibernate`
 * and `resume` need no flags.
 */
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { HiberkitError } from '../lib/errors.js';
import { normalizeConfig, type MachineConfig, type MachineConfigInput } from './config.js';
import { DiskSet } from './disks.js';
import { swapLocation } from './machine.js';
import { StateDir } from './state-dir.js';
import { writeSwapHeader } from '../lib/swap-header.js';

const MIB = 1 << 20;
export const DEFAULT_MEMORY_BYTES = 256 * MIB;
export const SWAP_FILE = '/swapfile';
/** Where the swap file starts on the disk (its resume offset), as FIEMAP would report it: after 136 MiB of filesystem. */
export const SWAP_FILE_PAGE = 34_816;
/** Room on the disk after the swap file, for the rest of the filesystem. */
const DISK_SLACK_BYTES = 64 * MIB;

export interface CreateMachineOptions {
  /** RAM: a whole number of MiB, at least 32 MiB (default 256 MiB). */
  memoryBytes?: number;
  /** Size of the swap file (default: as much as the RAM). */
  swapBytes?: number;
  /**
   * A machine of your own instead of the standard one (other disks and swap areas, kernel
   * profile, lockdown, processes …): for tests. Not combined with memoryBytes and swapBytes.
   */
  config?: MachineConfigInput;
}

/** The standard machine's configuration for these sizes. */
export function standardMachine(memoryBytes = DEFAULT_MEMORY_BYTES, swapBytes = memoryBytes): MachineConfigInput {
  return {
    memoryBytes,
    disks: [{ device: '/dev/vda', sizeBytes: SWAP_FILE_PAGE * 4096 + swapBytes + DISK_SLACK_BYTES }],
    swaps: [{ type: 'file', path: SWAP_FILE, device: '/dev/vda', offsetPages: SWAP_FILE_PAGE, sizeBytes: swapBytes }],
    cmdline: ['console=ttyS0', 'root=/dev/vda', 'resume=/dev/vda', `resume_offset=${SWAP_FILE_PAGE}`],
  };
}

/**
 * Creates a switched-off machine in `dir` (made if missing; it must be empty) and returns its
 * configuration. Refuses a directory that already holds a machine (MACHINE_EXISTS: its disks may
 * hold a hibernated session) or other files (MACHINE_DIR_UNUSABLE); a size the machine cannot
 * have is BAD_MACHINE_CONFIG.
 */
export function createEmulatedMachine(dir: string, options: CreateMachineOptions = {}): MachineConfig {
  if (options.config && (options.memoryBytes !== undefined || options.swapBytes !== undefined)) {
    throw new HiberkitError('BAD_MACHINE_CONFIG', 'give either a whole machine configuration or memory and swap sizes, not both');
  }
  let config: MachineConfig;
  try {
    config = normalizeConfig(options.config ?? standardMachine(options.memoryBytes, options.swapBytes));
  } catch (err) {
    throw new HiberkitError('BAD_MACHINE_CONFIG', `cannot create that machine: ${(err as Error).message}`, { cause: err });
  }
  assertUsableDirectory(dir);
  const state = new StateDir(dir);
  makeDisks(state, config);
  // Last: a directory holds a machine once it is complete.
  state.initialise(config);
  return config;
}

function assertUsableDirectory(dir: string): void {
  if (dir === '') throw new HiberkitError('MACHINE_DIR_UNUSABLE', 'name the directory the new machine is to live in');
  let entries: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new HiberkitError('MACHINE_DIR_UNUSABLE', `${dir} is a file: give a new or empty directory for the machine`);
    entries = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    mkdirSync(dir, { recursive: true });
    return;
  }
  if (new StateDir(dir).exists()) {
    throw new HiberkitError(
      'MACHINE_EXISTS',
      `${dir} already holds an emulated machine (its disks may hold a hibernated session): use it as it is (\`hiberkit machine show ${dir}\`), or create the new one in another directory`,
    );
  }
  if (entries.length > 0) throw new HiberkitError('MACHINE_DIR_UNUSABLE', `${dir} is not empty (${entries.slice(0, 3).join(', ')}${entries.length > 3 ? ', …' : ''}): give a new or empty directory for the machine`);
}

/** Makes the disks of a new machine (sparse files) and mkswap's its swap areas. */
function makeDisks(state: StateDir, config: MachineConfig): void {
  mkdirSync(state.disksDir, { recursive: true });
  const disks = new DiskSet(state.disksDir, config.disks);
  disks.createAll();
  for (const swap of config.swaps) {
    const location = swapLocation(disks, swap);
    disks.writePage(disks.byDevice(swap.device)!, location.offsetPages, writeSwapHeader({ sizeBytes: swap.sizeBytes, uuid: swap.uuid, label: swap.label }));
  }
}
