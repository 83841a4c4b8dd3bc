/**
 * Shared by the critical-section scenarios (critical-kill.ts, critical-cycle.ts) and by their
 * host test (test/vm/critical-section.vm.test.ts): the cases, the shape of what the guest
 * reports, and the guest-side setup of a hibernation on /dev/vda.
 */
import { execFileSync } from 'node:child_process';

import type { Backend, HibernatePlan, PowerOffMethod } from '../../../lib/backend.js';
import { PAGE_SIZE } from '../../../lib/ioctls.js';
import type { NativeCriticalResult, NativeKillPoint } from '../../../lib/native/binding.js';

export const SWAP_DEVICE = '/dev/vda';

export interface KillCase {
  id: string;
  killAt: Exclude<NativeKillPoint, 'none'>;
  method: 'sigkill' | 'sigsegv' | 'abort';
  lockMode: 'precise' | 'everything';
  /** The stage the child reports when it dies there. */
  stage: string;
}

/**
 * Every kill point with SIGKILL, two with a real crash, and the last point once more with plain
 * mlockall, to compare the two ways of locking the child (native/child_memory.h).
 */
export const KILL_CASES: readonly KillCase[] = [
  { id: 'after-freeze', killAt: 'after-freeze', method: 'sigkill', lockMode: 'precise', stage: 'freeze' },
  { id: 'after-create-image', killAt: 'after-create-image', method: 'sigkill', lockMode: 'precise', stage: 'create-image' },
  { id: 'mid-write', killAt: 'mid-write', method: 'sigkill', lockMode: 'precise', stage: 'write-image' },
  { id: 'after-marker', killAt: 'after-marker', method: 'sigkill', lockMode: 'precise', stage: 'write-image' },
  { id: 'before-power-off', killAt: 'before-power-off', method: 'sigkill', lockMode: 'precise', stage: 'power-off' },
  { id: 'mid-write-segv', killAt: 'mid-write', method: 'sigsegv', lockMode: 'precise', stage: 'write-image' },
  { id: 'after-marker-abort', killAt: 'after-marker', method: 'abort', lockMode: 'precise', stage: 'write-image' },
  { id: 'before-power-off-mlockall', killAt: 'before-power-off', method: 'sigkill', lockMode: 'everything', stage: 'power-off' },
];

/** The case of critical-kill where ATOMIC_RESTORE is refused (no image loaded), after the kill cases. */
export const RESTORE_REFUSED_ID = 'restore-refused';

/** One HK:RESULT line of critical-kill, per case. */
export interface KillReport {
  id: string;
  outcome: 'resumed' | 'restored' | 'failed';
  stage: string;
  error: string;
  native: NativeCriticalResult;
  /** The background shell loop kept counting after the run: every process was thawed. */
  loopAdvanced: boolean;
  /** classifyResumePage() of page 0 of /dev/vda after the run, and its signature. */
  resumePage: string;
  signature: string;
  /** `swapoff /dev/vda && swapon /dev/vda` succeeded. */
  swapCycle: boolean;
}

/** The HK:RESULT lines of critical-cycle. */
export type CycleReport =
  | { phase: 'before'; sha256: string; bytes: number }
  | { phase: 'after'; outcome: string; sha256: string; snapshotMs: number };

/** A fresh swap area on the disk, enabled (util-linux's tools are in the initramfs). */
export function enableSwap(): void {
  execFileSync('mkswap', [SWAP_DEVICE], { stdio: 'ignore' });
  execFileSync('swapon', [SWAP_DEVICE]);
}

/**
 * What lib/hibernate.ts prepares before the critical section, on /dev/vda with its header at
 * page 0: storage and device open, the original resume page read, the swap area selected.
 * Progress lines go to the console (fd 1), where the host reads the timings.
 */
export function prepareHibernation(backend: Backend, powerOff: PowerOffMethod): HibernatePlan {
  const storage = backend.openBlockDevice(SWAP_DEVICE, { write: true, direct: true });
  const device = backend.openSnapshot('hibernate');
  const originalResumePage = storage.allocAligned(PAGE_SIZE);
  storage.readSync(originalResumePage, 0);
  device.setSwapArea(backend.system.deviceNumber(SWAP_DEVICE), 0);
  return {
    device,
    storage,
    resumePage: 0,
    originalResumePage,
    header: {
      kernelRelease: backend.system.kernelRelease(),
      machineId: backend.system.machineId(),
      createdAtMs: Date.now(),
      platformMode: powerOff === 'platform',
    },
    compression: 'lz4',
    chunkPages: 32,
    powerOff,
    progressFd: 1,
  };
}
