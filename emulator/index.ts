/**
 * hiberkit's emulator: an x86_64 machine in TypeScript whose /dev/snapshot behaves exactly like
 * the kernel's (docs/snapshot-device.md), with RAM, disks, swap areas and
 * a freezer, persisted in a directory so separate processes can play its boots.
 *
 *   const machine = openEmulatedMachine('/tmp/vm1', { config: { memoryBytes: 64 << 20 } });
 *   await hibernate({ backend: machine.backend, ... });    // returns once a later boot resumed it
 *
 *   // elsewhere, the next boot of the same machine:
 *   await resume({ backend: openEmulatedMachine('/tmp/vm1').backend, ... });
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend } from '../lib/backend.js';
import { openEmulatedMachine, type OpenMachineOptions } from './machine.js';

export { BootEnded, EmulatedMachine, SNAPSHOT_PATH, openEmulatedMachine, type OpenMachineOptions, type SessionOutcome, type SuspendedSession } from './machine.js';
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
 * The Backend of an emulated machine in `dir` (a fresh temporary directory when none is given),
 * created with `config` if the directory holds no machine yet.
 */
export function createEmulatedBackend(options: OpenMachineOptions & { dir?: string } = {}): Backend {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'hiberkit-emulated-'));
  return openEmulatedMachine(dir, options).backend;
}
