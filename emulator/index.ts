/**
 * hiberkit's emulator: an x86_64 machine in TypeScript whose /dev/snapshot behaves exactly like
 * the kernel's (docs/snapshot-device.md), with RAM, disks, swap areas and
 * a freezer, persisted in a directory so separate processes can play its boots.
 *
 *   createEmulatedMachine('/tmp/vm1', { memoryBytes: 256 << 20 });   // once: RAM, disk, swap file
 *   const machine = openEmulatedMachine('/tmp/vm1');                    // boots it
 *   await hibernate({ backend: machine.backend, ... });    // returns once a later boot resumed it
 *
 *   // elsewhere (another process), the next boot of the same machine:
 *   await resume({ backend: openEmulatedMachine('/tmp/vm1').backend, ... });
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend } from '../lib/backend.js';
import { createEmulatedMachine, type CreateMachineOptions } from './create.js';
import { openEmulatedMachine, type OpenMachineOptions } from './machine.js';

export { BootEnded, EmulatedMachine, SNAPSHOT_PATH, openEmulatedMachine, type OpenMachineOptions, type SessionOutcome, type SuspendedSession } from './machine.js';
export { DEFAULT_MEMORY_BYTES, SWAP_FILE, SWAP_FILE_PAGE, createEmulatedMachine, standardMachine, type CreateMachineOptions } from './create.js';
export { existingStateDir, type PowerRecord, type SessionRecord } from './state-dir.js';
export { EmulatedSnapshotDevice } from './snapshot-device.js';
export { EmulatedBlockDevice } from './disks.js';
export type { AccessMode, KernelVars } from './kernel.js';
export { normalizeConfig, diskDeviceNumber, type MachineConfig, type MachineConfigInput, type SwapConfig, type SwapPartitionConfig, type SwapFileConfig, type ProcessConfig } from './config.js';
export { KERNEL_PROFILES, behaviourOfRelease, resolveProfile, type KernelProfile, type KernelBehaviour, type ProfileName } from './profile.js';
export type { FaultPlan } from './faults.js';
export { PAGE_ANON, PAGE_CACHE, PAGE_FREE, PAGE_KERNEL, type MemoryUsage, type PageState } from './ram.js';
export { writeSwapHeader, parseSwapHeader, SWAP_SIGNATURE, type SwapHeader, type MkswapOptions } from '../lib/swap-header.js';
export {
  X86_RESTORE_MAGIC,
  decodeImageHeader,
  decodeMetadataPage,
  encodeImageHeader,
  encodeMetadataPage,
  type ImageHeader,
  type MetadataEntry,
} from './image-stream.js';

/**
 * The Backend of a new emulated machine, created (as `createEmulatedMachine` does) in `dir` or in
 * a fresh temporary directory, and booted.
 */
export function createEmulatedBackend(options: CreateMachineOptions & OpenMachineOptions & { dir?: string } = {}): Backend {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'hiberkit-emulated-'));
  const { memoryBytes, swapBytes, config, ...open } = options;
  createEmulatedMachine(dir, { memoryBytes, swapBytes, config });
  return openEmulatedMachine(dir, open).backend;
}
