/**
 * The emulated critical section: what the native forked child does (native/critical_child.cc),
 * as TypeScript steps against the emulated device, in the same order and with the same failure
 * handling (docs/snapshot-device.md §8):
 *
 *   hibernate: [PLATFORM_SUPPORT] → FREEZE → CREATE_IMAGE (ENOMEM: FREE, image size 0, once
 *   more) → GET_IMAGE_SIZE → read the stream in batches into the image writer → power off.
 *   After the restore: FREE → UNFREEZE → close. Any failure once the image exists: invalidate the
 *   on-disk image FIRST, then FREE_SWAP_PAGES → FREE → UNFREEZE → close.
 *
 *   restore: FREEZE → invalidate the on-disk image → [PLATFORM_SUPPORT] → ATOMIC_RESTORE.
 *   Failure: UNFREEZE → close.
 *
 * Nothing is awaited while user space is frozen except the emulated machine being switched off.
 */
import { writeSync } from 'node:fs';
import type { CriticalSection, HibernateOutcome, HibernatePlan, RestoreOutcome, RestorePlan, SnapshotDevice } from '../lib/backend.js';
import { ERRNO, HiberkitError, SnapshotError, isSnapshotError } from '../lib/errors.js';
import { PAGE_SIZE } from '../lib/ioctls.js';
import { invalidateImage } from '../lib/image/reader.js';
import { ImageWriter } from '../lib/image/writer.js';
import type { EmulatedMachine } from './machine.js';
import { BootEnded } from './machine.js';
import { EmulatedSnapshotDevice } from './snapshot-device.js';

/** Pages per readv: UIO_MAXIOV one-page segments, as the native child reads. */
const READ_BATCH_PAGES = 1024;

/** The machine booted on without this process's image: nothing will ever resume it. */
function sessionLost(reason: string): HiberkitError {
  return new HiberkitError('SESSION_LOST', `the emulated machine was not resumed from this image (${reason}): this hibernated session is gone, and the machine runs a fresh boot`);
}

/** A failure of one named step of the sequence. */
class StageFailure extends Error {
  readonly stage: string;
  readonly error: Error;
  constructor(stage: string, error: Error) {
    super(error.message);
    this.stage = stage;
    this.error = error;
  }
}

export class EmulatedCriticalSection implements CriticalSection {
  readonly #machine: EmulatedMachine;

  constructor(machine: EmulatedMachine) {
    this.#machine = machine;
  }

  async hibernate(plan: HibernatePlan): Promise<HibernateOutcome> {
    const device = this.#ownDevice(plan.device);
    // As the native child: lines go to the descriptor the caller named, or nowhere.
    const progress = (line: string) => {
      if (plan.progressFd !== undefined && plan.progressFd >= 0) writeSync(plan.progressFd, `hiberkit: ${line}\n`);
    };
    const originalImageSize = this.#machine.kernel.vars.imageSize;
    let imageSizeLowered = false;
    const restoreImageSize = () => {
      // image_size is global: one ENOMEM must not shrink every later image.
      if (imageSizeLowered) device.setPreferredImageSize(originalImageSize);
    };

    // Before the freeze nothing needs undoing but the close.
    try {
      if (plan.powerOff === 'platform') step('platform-support', () => device.setPlatformSupport(true));
      step('freeze', () => device.freeze());
    } catch (err) {
      device.close();
      return failed(err);
    }

    const started = Date.now();
    let inSuspend: number;
    try {
      inSuspend = step('create-image', () => {
        try {
          return device.createImage();
        } catch (err) {
          if (!isSnapshotError(err, 'ENOMEM')) throw err;
          // The kernel could not shrink memory to the preferred size and still copy it: ask for
          // the smallest image and try once more, as uswsusp does.
          device.free();
          device.setPreferredImageSize(0);
          imageSizeLowered = true;
          return device.createImage();
        }
      });
    } catch (err) {
      // A late failure can leave kernel threads frozen and an image half made: FREE clears both.
      device.free();
      restoreImageSize();
      device.unfreeze();
      device.close();
      return failed(err);
    }
    if (inSuspend === 0) return finishResumed(device, restoreImageSize, progress);

    let booted: BootEnded;
    try {
      const streamBytes = step('get-image-size', () => device.getImageSize());
      progress(`snapshot of ${streamBytes >> 20} MiB taken in ${Date.now() - started} ms`);
      step('write-image', () => this.#writeImage(device, plan, streamBytes / PAGE_SIZE));
      progress('image saved; powering off');
      booted = step('power-off', () => this.#powerOff(device, plan));
    } catch (err) {
      // The machine lost power under the writer: this process is gone with it, nothing to undo.
      if (err instanceof StageFailure && err.error instanceof BootEnded) throw err.error;
      return failed(err, this.#undoWithImage(device, plan, restoreImageSize));
    }

    const { session } = booted;
    if (!session) return { kind: 'failed', stage: 'power-off', error: sessionLost('the machine was switched off without an image') };
    const dir = this.#machine.dir;
    progress(
      `the emulated machine in ${dir} is off; its image waits for the next boot. Resume it with \`hiberkit resume --emulate ${dir}\` from another shell (or drop it with \`hiberkit discard --emulate ${dir}\`): this hibernation continues then`,
    );
    if ((await session.outcome) === 'lost') {
      return { kind: 'failed', stage: 'power-off', error: sessionLost(this.#machine.sessions()[session.id]?.reason ?? 'it was lost') };
    }
    return finishResumed(device, restoreImageSize, progress);
  }

  async restore(plan: RestorePlan): Promise<RestoreOutcome> {
    const device = this.#ownDevice(plan.device);
    try {
      step('freeze', () => device.freeze());
    } catch (err) {
      device.close();
      return failed(err);
    }
    try {
      // Before jumping: if the restore fails or the restored system crashes early, the next boot
      // must not try the same image again (docs/snapshot-device.md §8.2 step 7).
      step('invalidate', () => invalidateImage(plan.storage, plan.resumePage, plan.originalResumePage));
      if (plan.platformMode) step('platform-support', () => device.setPlatformSupport(true));
      step('atomic-restore', () => device.atomicRestore());
    } catch (err) {
      if (err instanceof StageFailure && err.error instanceof BootEnded) return { kind: 'restored' };
      device.unfreeze();
      device.close();
      return failed(err);
    }
    // ATOMIC_RESTORE returned without error: it cannot, on a real kernel or this one.
    throw new Error('ATOMIC_RESTORE returned');
  }

  #ownDevice(device: SnapshotDevice): EmulatedSnapshotDevice {
    if (!(device instanceof EmulatedSnapshotDevice) || this.#machine.kernel.openDevice !== device) {
      throw new HiberkitError('WRONG_BACKEND', 'the emulated critical section needs the /dev/snapshot this emulated machine has open');
    }
    return device;
  }

  /** Reads the whole stream with readv batches and hands it to the image writer. */
  #writeImage(device: EmulatedSnapshotDevice, plan: HibernatePlan, streamPages: number): void {
    const writer = new ImageWriter({
      storage: plan.storage,
      allocator: { allocPage: () => device.allocSwapPage() },
      resumePage: plan.resumePage,
      originalResumePage: plan.originalResumePage,
      identity: plan.header,
      compression: plan.compression,
      chunkPages: plan.chunkPages,
      streamPages,
      encryption: plan.encryption,
    });
    const batch = new Uint8Array(Math.min(READ_BATCH_PAGES, streamPages) * PAGE_SIZE);
    let received = 0;
    while (received < streamPages) {
      const want = Math.min(READ_BATCH_PAGES, streamPages - received) * PAGE_SIZE;
      const got = device.readPages(batch.subarray(0, want));
      if (got === 0) throw new HiberkitError('SHORT_IMAGE', `the kernel ended the image after ${received} of ${streamPages} pages`);
      writer.writePages(batch.subarray(0, got));
      received += got / PAGE_SIZE;
    }
    writer.finish();
  }

  /** Switches the machine off as planned; returns how the boot ended. Coming back is a failure. */
  #powerOff(device: EmulatedSnapshotDevice, plan: HibernatePlan): BootEnded {
    try {
      if (plan.powerOff === 'platform') {
        device.powerOff();
        // With platform support on, success never returns (docs/snapshot-device.md §2.3).
        throw SnapshotError.fromErrno(ERRNO.EINVAL, 'ioctl', { ioctl: 'SNAPSHOT_POWER_OFF', path: device.path });
      }
      const errno = this.#machine.kernel.reboot(plan.powerOff === 'reboot' ? 'restart' : 'power-off');
      if (errno) throw SnapshotError.fromErrno(errno, 'reboot');
      throw new HiberkitError('POWER_OFF_RETURNED', 'reboot(2) returned without switching the machine off');
    } catch (err) {
      if (err instanceof BootEnded) return err;
      throw err;
    }
  }

  /**
   * After CREATE_IMAGE returned 1. The image on disk goes FIRST: thawing with a valid image there
   * would let a later boot resume it over a file system that has moved on (docs/snapshot-device.md §8.1 step 10). Returns
   * the error of a failed invalidation, the one case where the machine is left in danger.
   */
  #undoWithImage(device: EmulatedSnapshotDevice, plan: HibernatePlan, restoreImageSize: () => void): Error | null {
    let invalidation: Error | null = null;
    try {
      invalidateImage(plan.storage, plan.resumePage, plan.originalResumePage);
    } catch (err) {
      invalidation = err as Error;
    }
    try {
      device.freeSwapPages();
    } catch (err) {
      // ENODEV: no swap area was selected, so no page was handed out either.
      if (!isSnapshotError(err, 'ENODEV')) throw err;
    }
    device.free();
    restoreImageSize();
    device.unfreeze();
    device.close();
    return invalidation;
  }
}

/** Runs one step; its failure carries the stage name. */
function step<T>(stage: string, run: () => T): T {
  try {
    return run();
  } catch (err) {
    throw new StageFailure(stage, err as Error);
  }
}

function failed(err: unknown, invalidation: Error | null = null): { kind: 'failed'; stage: string; error: Error } {
  if (!(err instanceof StageFailure)) throw err;
  if (!invalidation) return { kind: 'failed', stage: err.stage, error: err.error };
  return {
    kind: 'failed',
    stage: err.stage,
    error: new HiberkitError(
      'IMAGE_NOT_INVALIDATED',
      `${err.error.message}; the image could NOT be invalidated (${invalidation.message}): a later boot could resume it over newer data; put the original swap signature back (mkswap) before rebooting`,
      { cause: err.error },
    ),
  };
}

/** CREATE_IMAGE "returned" 0: the machine was restored. Tear down and let everything run. */
function finishResumed(device: EmulatedSnapshotDevice, restoreImageSize: () => void, progress: (line: string) => void): HibernateOutcome {
  device.free();
  restoreImageSize();
  device.unfreeze();
  device.close();
  progress('resumed');
  return { kind: 'resumed' };
}
