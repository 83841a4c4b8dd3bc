/**
 * resume(): run early in boot (initramfs). Finds a hiberkit image and checks its header and
 * extent map; then reads the image once, uploading each chunk to /dev/snapshot as soon as it has
 * passed its checks; only when the whole stream has passed (its CRC, the kernel's own count) does
 * the critical section freeze, invalidate the on-disk image and jump into it. A refusal at any
 * point closes /dev/snapshot, so the kernel drops whatever it was given. An image proven bad for
 * this machine (provesImageBad) is then discarded, the original swap signature put back, so the
 * boot continues normally and swapon works; any other failure keeps it for another try.
 */
import { HiberkitError, SnapshotError, type HiberkitErrorCode } from './errors.js';
import { openTargetStorage, resumeTarget, type ImageLookup } from './target.js';
import { resumeDisabledByCommandLine } from './kernel-cmdline.js';
import { PAGE_SIZE } from './ioctls.js';
import { invalidateImage, openImage, readMarker } from './image/reader.js';
import type { Backend, BlockDevice, SnapshotDevice } from './backend.js';
import type { Settings } from './config.js';
import { describeError } from './describe-error.js';

export interface ResumeOptions extends Settings, ImageLookup {
  backend: Backend;
  /**
   * Everything a resume does (find, check the header and extent map, read and verify every chunk,
   * decrypt and authenticate, keep or discard a refused image) but /dev/snapshot is never opened
   * and a good image is left in place: 'image-ok'. hiberkit-resume --dry-run decides the same.
   */
  dryRun?: boolean;
  onProgress?: (message: string) => void;
  /** Where the restore critical section prints its line (it cannot call onProgress); default: nowhere. */
  progressFd?: number;
}

export type ResumeResult =
  /** No resume device is configured anywhere. */
  | { status: 'no-resume-device' }
  /** `noresume` on the kernel command line, and no flag names a resume device. */
  | { status: 'noresume' }
  /** dryRun: the image passed every check and stays on disk. */
  | { status: 'image-ok'; blockDevice: string; streamPages: number; storedBytes: number }
  /** The resume device holds no hiberkit image: boot normally. */
  | { status: 'no-image'; blockDevice: string }
  /** Emulator only: control passed to the restored image (a real restore never returns). */
  | { status: 'restored'; blockDevice: string };

/** Pages handed to /dev/snapshot per call: one full writev (the kernel takes at most 1024 segments). */
const UPLOAD_BATCH_PAGES = 1024;

export async function resume(options: ResumeOptions): Promise<ResumeResult> {
  const { backend } = options;
  const progress = options.onProgress ?? (() => {});
  if (options.resumeDevice === undefined && resumeDisabledByCommandLine(backend.system.commandLine())) return { status: 'noresume' };
  const target = resumeTarget(backend, options, options.configFile);
  if (!target) return { status: 'no-resume-device' };

  const storage = openTargetStorage(backend, target, { write: true, direct: true });
  try {
    const marker = foreignAsNone(() => readMarker(storage, target.resumePage), progress);
    if (!marker) return { status: 'no-image', blockDevice: target.blockDevice };

    // Only now that there is an image: the key tools are not worth compiling for a boot without one.
    const { expectedSealing, unlockerFor } = await import('./crypto/image-keys.js');
    try {
      progress(`image found on ${target.blockDevice}; loading it`);
      const image = await openImage(
        storage,
        target.resumePage,
        { kernelRelease: backend.system.kernelRelease(), machineId: backend.system.machineId() },
        // A system set up for encrypted images (an encrypt setting, or keys: expectedSealing)
        // resumes nothing else: whoever can write the disk could otherwise put a plain,
        // unauthenticated image in its place.
        { unlock: unlockerFor(options, backend.paths, progress), requireEncryption: expectedSealing(options, backend.paths) !== null },
      );
      // Only now is the header believed (authenticated, for an encrypted image): an old image put back shows its age here.
      progress(
        `image made ${new Date(image.header.createdAtMs).toISOString()} by kernel ${image.header.kernelRelease}${image.header.encrypted ? ', authenticated' : ''}`,
      );
      let device: SnapshotDevice | undefined;
      try {
        if (options.dryRun) {
          for await (const batch of image.pages(UPLOAD_BATCH_PAGES)) void batch;
          return { status: 'image-ok', blockDevice: target.blockDevice, streamPages: image.header.streamPages, storedBytes: image.header.storedBytes };
        }
        device = backend.openSnapshot('restore');
        const started = performance.now();
        await upload(image.pages(UPLOAD_BATCH_PAGES), device.writePages.bind(device));
        progress(
          `loaded and verified ${image.header.streamPages} pages (${image.header.storedBytes} bytes stored) in ${Math.round(performance.now() - started)} ms`,
        );
        const outcome = await backend.criticalSection.restore({
          device,
          storage,
          resumePage: target.resumePage,
          originalResumePage: marker.originalPage,
          platformMode: image.header.platformMode,
          progressFd: options.progressFd,
        });
        if (outcome.kind === 'failed') throw restoreFailure(outcome.stage, outcome.error);
        return { status: 'restored', blockDevice: target.blockDevice };
      } finally {
        image.close();
        if (device?.isOpen) device.close();
      }
    } catch (err) {
      const reason = `the image on ${target.blockDevice} was not restored: ${describeError(err)}`;
      if (!provesImageBad(err, options.onBadPassphrase ?? 'keep')) {
        throw new HiberkitError(
          err instanceof HiberkitError ? err.code : 'RESUME_FAILED',
          `${reason}. The image is kept: run \`hiberkit resume\` again ${retryHint(err)}, or \`hiberkit discard\` to drop it (swapon refuses the area until then).`,
          { cause: err },
        );
      }
      invalidateImage(storage, target.resumePage, marker.originalPage);
      throw new HiberkitError(
        (err as HiberkitError).code,
        `${reason}. It was discarded and the swap signature put back; the boot continues normally.`,
        { cause: err },
      );
    }
  } finally {
    closeQuietly(storage);
  }
}

/** Failures that prove the image can never be restored on this machine, whatever is retried. */
const IMAGE_BAD: ReadonlySet<HiberkitErrorCode> = new Set([
  'IMAGE_CORRUPT', // a checksum or a structure fails
  'IMAGE_TRUNCATED', // the image ends before its own extents or the kernel's page count
  'UNSUPPORTED_VERSION', // a format this hiberkit cannot read
  'IMAGE_TAMPERED', // an encrypted chunk fails authentication
  'IMAGE_FORGED', // not signed by this machine's signing key: someone else wrote it
  'WRONG_KERNEL', // made by another kernel release
  'WRONG_MACHINE', // made on another machine
  'IMAGE_NOT_ENCRYPTED', // a plain image where this system accepts only encrypted ones
  'RESTORE_FAILED', // the kernel refused the image's content, or the restore had begun (the image is invalidated then)
]);

/** Failures that say the secret given does not open the image: bad only if the user chose so. */
const WRONG_SECRET: ReadonlySet<HiberkitErrorCode> = new Set(['WRONG_PASSPHRASE', 'WRONG_KEY']);

/**
 * The one decision whether a failed resume discards the image. An ALLOW-list: only an image
 * proven bad for this machine goes (IMAGE_BAD), or one a wrong passphrase or key failed to open
 * when the settings say `on-bad-passphrase = discard`. Everything else keeps it for another try:
 * a key that could not be obtained (missing or unreadable file, bad descriptor, empty passphrase,
 * no terminal, Ctrl-C at the prompt, tries used up with `keep`), I/O errors, ENOMEM, a busy or
 * missing /dev/snapshot, and every unexpected exception.
 */
export function provesImageBad(err: unknown, onBadPassphrase: 'keep' | 'discard'): boolean {
  if (!(err instanceof HiberkitError)) return false;
  return IMAGE_BAD.has(err.code) || (onBadPassphrase === 'discard' && WRONG_SECRET.has(err.code));
}

const KEY_PROBLEMS: ReadonlySet<HiberkitErrorCode> = new Set(['WRONG_PASSPHRASE', 'WRONG_KEY', 'KEY_REQUIRED', 'NO_PASSPHRASE', 'BAD_KEY_FILE']);

function retryHint(err: unknown): string {
  return err instanceof HiberkitError && KEY_PROBLEMS.has(err.code)
    ? 'with the right key'
    : 'once that is fixed';
}

/**
 * Stages of the restore critical section before it invalidates the on-disk image: a failure
 * there (FREEZE busy, memory locking) leaves the image intact and worth another try.
 */
const STAGES_BEFORE_INVALIDATION = new Set(['prepare', 'wait-go', 'lock-memory', 'freeze']);

function restoreFailure(stage: string, error: Error): Error {
  if (STAGES_BEFORE_INVALIDATION.has(stage)) return error;
  return new HiberkitError('RESTORE_FAILED', `the restore failed at stage ${stage}, after the image had been invalidated: ${describeError(error)}`, { cause: error });
}

/** The kernel refusing a page write means the image does not fit this machine (spec §5.6): EPERM header, EFAULT memory map. */
function isContentRefusal(err: unknown): boolean {
  return err instanceof SnapshotError && err.syscall === 'write' && (err.code === 'EPERM' || err.code === 'EFAULT');
}

/**
 * Writes every page batch, then the one extra write that makes the kernel consume trailing zero
 * pages (docs/snapshot-device.md §5.6): it must return 0, meaning the kernel has the complete image. A batch source
 * that throws (a chunk or the stream failing its check) ends the upload with that error.
 */
async function upload(batches: AsyncIterable<Uint8Array>, writePages: (buf: Uint8Array) => number): Promise<void> {
  let last: Uint8Array | undefined;
  for await (const batch of batches) {
    const written = refusalAsRestoreFailed(() => writePages(batch));
    if (written !== batch.length) {
      // writev stops at the first page the kernel does not take and reports what it took: the
      // page's own error, if it had one, comes with the next call (which throws it).
      refusalAsRestoreFailed(() => writePages(batch.subarray(written)));
      throw new HiberkitError('RESTORE_FAILED', `the kernel took ${written} of ${batch.length} bytes of the image: it considers the image complete early, so it does not match this machine`);
    }
    last = batch;
  }
  if (!last) throw new HiberkitError('IMAGE_TRUNCATED', 'the image has no pages');
  const extra = refusalAsRestoreFailed(() => writePages(last.subarray(0, PAGE_SIZE)));
  if (extra !== 0) {
    throw new HiberkitError('IMAGE_TRUNCATED', 'the kernel expects more pages than the image holds');
  }
}

function refusalAsRestoreFailed(write: () => number): number {
  try {
    return write();
  } catch (err) {
    if (!isContentRefusal(err)) throw err;
    throw new HiberkitError('RESTORE_FAILED', `the kernel refused the image: ${(err as Error).message}`, { cause: err });
  }
}

/** Another tool's image (the kernel's own, uswsusp's) or no swap at all is not ours to touch: boot on. */
function foreignAsNone<T>(read: () => T, progress: (message: string) => void): T | null {
  try {
    return read();
  } catch (err) {
    if (!(err instanceof HiberkitError) || err.code !== 'FOREIGN_SIGNATURE') throw err;
    progress(err.message);
    return null;
  }
}

function closeQuietly(storage: BlockDevice): void {
  try {
    storage.close();
  } catch {
    // Closing a read-only handle after a failure must not hide the failure itself.
  }
}
