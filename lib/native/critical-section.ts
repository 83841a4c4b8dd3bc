/**
 * The native CriticalSection: hands /dev/snapshot to a forked, single-threaded, memory-locked C++
 * child (native/critical_section.cc, native/critical_child.cc) and turns the child's report into
 * a HibernateOutcome / RestoreOutcome.
 *
 * The child's death at any point thaws the machine (its exit closes the only descriptor of the
 * device), and the parent then writes the original swap header page back, so a crash never leaves
 * a valid image behind a running system. What remains for this module is to say so, precisely.
 */
import { constants as osConstants } from 'node:os';

import type { BlockDevice, CriticalSection, HibernateOutcome, HibernatePlan, RestoreOutcome, RestorePlan, SnapshotDevice } from '../backend.js';
import { errnoCode, HiberkitError, SnapshotError } from '../errors.js';
import { imageKeysFor, wipeImageKeys } from '../image/security.js';
import { wipe } from '../crypto/keys.js';
import { PAGE_SIZE } from '../ioctls.js';
import type { NativeBinding, NativeCriticalResult, NativeKillPoint } from './binding.js';
import { NativeBlockDevice } from './block-device.js';
import { NativeSnapshotDevice } from './snapshot-device.js';

/** For tests and measurements only; hibernate() and resume() pass none. */
interface NativeCriticalSectionOptions {
  /** The hibernating child kills itself there (see native/critical_child.h). */
  testKillAt?: NativeKillPoint;
  testKillMethod?: 'sigkill' | 'sigsegv' | 'abort';
  lockMode?: 'precise' | 'everything';
  /** Receives the child's full report (measurements included) after every run. */
  onReport?: (report: NativeCriticalResult) => void;
}

/**
 * Bytes per disk write batch of the image writer: large enough that O_DIRECT writes run at the
 * device's speed (1 MiB requests reach the virtio disk whole in the test VM), small enough for the
 * workspace to stay a few MiB.
 */
const IO_BYTES = 1 << 20;

/** No progress lines unless the caller names a descriptor: a library prints nothing it was not asked to. */
const NO_PROGRESS_FD = -1;

export function createNativeCriticalSection(binding: NativeBinding, options: NativeCriticalSectionOptions = {}): CriticalSection {
  return {
    async hibernate(plan: HibernatePlan): Promise<HibernateOutcome> {
      const run = requireFunction(binding.criticalHibernate, 'criticalHibernate');
      const storage = nativeStorage(plan.storage);
      const device = nativeDevice(plan.device);
      // Every page the image can occupy is a free swap page now; asked before the device is handed over.
      const maxStoredPages = Math.max(1, Math.floor(device.availableSwapSize() / PAGE_SIZE));
      // Derived (and checked) before the device is handed over; wiped as soon as the addon has copied them.
      const encryption = plan.encryption ? imageKeysFor(plan.encryption) : undefined;
      // The data key itself is not needed past this point: wiped now, it cannot end up in the
      // image, which is a copy of this process's memory too.
      if (plan.encryption) wipe(plan.encryption.dataKey);
      let pending: Promise<NativeCriticalResult>;
      try {
        pending = run({
          snapshotFd: device.detach(),
          snapshotPath: device.path,
          storageFd: storage.fd,
          resumePage: plan.resumePage,
          originalResumePage: plan.originalResumePage,
          progressFd: plan.progressFd ?? NO_PROGRESS_FD,
          kernelRelease: plan.header.kernelRelease,
          machineId: plan.header.machineId,
          createdAtMs: plan.header.createdAtMs,
          platformMode: plan.header.platformMode,
          compress: plan.compression === 'lz4',
          chunkPages: plan.chunkPages,
          maxStoredPages,
          ioBytes: IO_BYTES,
          powerOff: plan.powerOff,
          encryption,
          // Absent options stay undefined: the addon then uses its defaults (no kill, precise locking).
          testKillAt: options.testKillAt,
          testKillMethod: options.testKillMethod,
          lockMode: options.lockMode,
        });
      } finally {
        if (encryption) wipeImageKeys(encryption);
      }
      const report = await pending;
      options.onReport?.(report);
      if (report.outcome === 'resumed') return { kind: 'resumed' };
      return { kind: 'failed', stage: report.stage, error: errorOf(report, device.path, storage.path) };
    },

    async restore(plan: RestorePlan): Promise<RestoreOutcome> {
      const run = requireFunction(binding.criticalRestore, 'criticalRestore');
      const storage = nativeStorage(plan.storage);
      const device = nativeDevice(plan.device);
      const report = await run({
        snapshotFd: device.detach(),
        snapshotPath: device.path,
        storageFd: storage.fd,
        resumePage: plan.resumePage,
        originalResumePage: plan.originalResumePage,
        progressFd: plan.progressFd ?? NO_PROGRESS_FD,
        platformMode: plan.platformMode,
        lockMode: options.lockMode,
      });
      options.onReport?.(report);
      // A successful restore never comes back: the machine continues in the hibernated kernel.
      return { kind: 'failed', stage: report.stage, error: errorOf(report, device.path, storage.path) };
    },
  };
}

function requireFunction<T>(fn: T | undefined, name: string): T {
  if (!fn) throw new HiberkitError('NATIVE_UNAVAILABLE', `the native addon has no ${name}: it was built from an older tree; run npm run build:native`);
  return fn;
}

function nativeDevice(device: SnapshotDevice): NativeSnapshotDevice {
  if (!(device instanceof NativeSnapshotDevice)) {
    throw new HiberkitError('WRONG_BACKEND', 'the native critical section needs a /dev/snapshot opened by the native backend');
  }
  return device;
}

function nativeStorage(storage: BlockDevice): NativeBlockDevice {
  if (!(storage instanceof NativeBlockDevice) || storage.fd < 0) {
    throw new HiberkitError('WRONG_BACKEND', 'the native critical section needs an open block device of the native backend');
  }
  return storage;
}

/** The calls whose errno is about the image storage rather than /dev/snapshot. */
const STORAGE_CALLS = new Set(['write-image', 'invalidate-image']);

/** The error a report stands for; `report.outcome` is 'failed' or 'died'. */
export function errorOf(report: NativeCriticalResult, snapshotPath: string, storagePath: string): Error {
  const cause = report.outcome === 'failed' ? failureError(report, snapshotPath, storagePath) : deathError(report);
  if (report.invalidateErrno === null || report.invalidateErrno === 0) return cause;
  // The one case the machine is in danger: a valid image may still be on disk.
  return new HiberkitError(
    'IMAGE_NOT_INVALIDATED',
    `${cause.message}; the image on ${storagePath} could NOT be invalidated (${errnoCode(report.invalidateErrno)}): ` +
      'a later boot could resume it over newer data; put the original swap signature back (mkswap) before rebooting',
    { cause },
  );
}

function failureError(report: NativeCriticalResult, snapshotPath: string, storagePath: string): Error {
  const errno = report.errno ?? 0;
  const syscall = report.syscall ?? report.stage;
  const path = STORAGE_CALLS.has(syscall) ? storagePath : report.syscall === 'ioctl' || report.syscall === 'readv' ? snapshotPath : undefined;
  const detail = report.writerStage ? `the image writer failed while ${report.writerStage}` : undefined;
  return new SnapshotError(
    { code: errnoCode(errno), errno, syscall, ...(report.ioctl ? { ioctl: report.ioctl } : {}), ...(path ? { path } : {}) },
    detail,
  );
}

function deathError(report: NativeCriticalResult): HiberkitError {
  const how = report.signal !== null ? `died from signal ${report.signal}${signalName(report.signal)}` : `exited unexpectedly with status ${report.exitCode}`;
  const after = report.invalidateErrno === 0 ? 'user space was thawed and the image invalidated' : 'user space was thawed';
  return new HiberkitError('CRITICAL_SECTION_DIED', `the critical section ${how} at stage '${report.stage}'; ${after}`);
}

function signalName(signal: number): string {
  const entry = Object.entries(osConstants.signals).find(([, number]) => number === signal);
  return entry ? ` (${entry[0]})` : '';
}
