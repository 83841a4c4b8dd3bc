/**
 * resume(): run early in boot (initramfs). Finds a hiberkit image and checks its header and
 * extent map; then reads the image once, uploading each chunk to /dev/snapshot as soon as it has
 * passed its checks; only when the whole stream has passed (its CRC, the kernel's own count) does
 * the critical section freeze, invalidate the on-disk image and jump into it. A refusal at any
 * point closes /dev/snapshot, so the kernel drops whatever it was given, and puts the original
 * swap signature back: the boot continues normally and swapon works.
 */
import { HiberkitError } from './errors.js';
import { resumeTarget } from './target.js';
import { PAGE_SIZE } from './ioctls.js';
import { invalidateImage, openImage, readMarker } from './image/reader.js';
import type { Backend, BlockDevice, SnapshotDevice } from './backend.js';
import type { Settings } from './config.js';

export interface ResumeOptions extends Settings {
  backend: Backend;
  onProgress?: (message: string) => void;
}

export type ResumeResult =
  /** No resume device is configured anywhere. */
  | { status: 'no-resume-device' }
  /** The resume device holds no hiberkit image: boot normally. */
  | { status: 'no-image'; blockDevice: string }
  /** Emulator only: control passed to the restored image (a real restore never returns). */
  | { status: 'restored'; blockDevice: string };

/** Pages handed to /dev/snapshot per call: one full writev (the kernel takes at most 1024 segments). */
const UPLOAD_BATCH_PAGES = 1024;

export async function resume(options: ResumeOptions): Promise<ResumeResult> {
  const { backend } = options;
  const progress = options.onProgress ?? (() => {});
  const target = resumeTarget(backend, options);
  if (!target) return { status: 'no-resume-device' };

  const storage = backend.openBlockDevice(target.blockDevice, { write: true, direct: true });
  try {
    const marker = foreignAsNone(() => readMarker(storage, target.resumePage), progress);
    if (!marker) return { status: 'no-image', blockDevice: target.blockDevice };

    // Only now that there is an image: the key tools are not worth compiling for a boot without one.
    const { expectedSealing, isKeyFailure, unlockerFor } = await import('./crypto/image-keys.js');
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
        });
        if (outcome.kind === 'failed') throw outcome.error;
        return { status: 'restored', blockDevice: target.blockDevice };
      } finally {
        image.close();
        if (device?.isOpen) device.close();
      }
    } catch (err) {
      const code = err instanceof HiberkitError ? err.code : 'RESTORE_FAILED';
      if (isKeyFailure(err) && (options.onBadPassphrase ?? 'keep') === 'keep') {
        throw new HiberkitError(
          code,
          `the image on ${target.blockDevice} was not restored: ${(err as Error).message}. The image is kept: run \`hiberkit resume\` again with the right key, or \`hiberkit discard\` to drop it (swapon refuses the area until then).`,
          { cause: err },
        );
      }
      invalidateImage(storage, target.resumePage, marker.originalPage);
      throw new HiberkitError(
        code,
        `the image on ${target.blockDevice} was not restored: ${(err as Error).message}. It was discarded and the swap signature put back; the boot continues normally.`,
        { cause: err },
      );
    }
  } finally {
    closeQuietly(storage);
  }
}

/**
 * Writes every page batch, then the one extra write that makes the kernel consume trailing zero
 * pages (docs/snapshot-device.md §5.6): it must return 0, meaning the kernel has the complete image. A batch source
 * that throws (a chunk or the stream failing its check) ends the upload with that error.
 */
async function upload(batches: AsyncIterable<Uint8Array>, writePages: (buf: Uint8Array) => number): Promise<void> {
  let last: Uint8Array | undefined;
  for await (const batch of batches) {
    const written = writePages(batch);
    if (written !== batch.length) {
      // writev stops at the first page the kernel does not take and reports what it took: the
      // page's own error, if it had one, comes with the next call (which throws it).
      writePages(batch.subarray(written));
      throw new HiberkitError('RESTORE_FAILED', `the kernel took ${written} of ${batch.length} bytes of the image: it considers the image complete early, so it does not match this machine`);
    }
    last = batch;
  }
  if (!last) throw new HiberkitError('IMAGE_TRUNCATED', 'the image has no pages');
  const extra = writePages(last.subarray(0, PAGE_SIZE));
  if (extra !== 0) {
    throw new HiberkitError('IMAGE_TRUNCATED', 'the kernel expects more pages than the image holds');
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
