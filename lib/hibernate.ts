/**
 * hibernate(): everything before and after the critical section. Before: check the machine,
 * choose the swap area, read its header page, open and configure /dev/snapshot, size the image.
 * Then the backend's critical section freezes, snapshots, writes and powers off; when the
 * machine is resumed, this same call returns.
 */
import { HiberkitError, SnapshotError } from './errors.js';
import { assertCanHibernate, mib, swapEncryptionFinding } from './preflight.js';
import { hibernationTarget, resumeTarget } from './target.js';
import { PAGE_SIZE } from './ioctls.js';
import { assertMarkable, classifyResumePage } from './image/format.js';
import { hibernationSealing, sealForHibernation } from './crypto/image-keys.js';
import { wipe } from './crypto/keys.js';
import type { Backend, BlockDevice, HibernatePlan, PowerOffMethod, SnapshotDevice } from './backend.js';
import type { Settings } from './config.js';

export interface HibernateOptions extends Settings {
  backend: Backend;
  /** Uncompressed pages per stored chunk. */
  chunkPages?: number;
  onProgress?: (message: string) => void;
  /**
   * Where the critical section prints its own lines ("snapshot of … taken", "resumed"): it runs
   * with user space frozen and cannot call onProgress. A file descriptor (the CLI gives 2); by
   * default it prints nothing.
   */
  progressFd?: number;
}

export interface HibernateResult {
  resumed: true;
  /** Where the image was written. */
  blockDevice: string;
  resumePage: number;
  /** Milliseconds from the call to its return, hibernation included (wall clock). */
  elapsedMs: number;
}

export const DEFAULT_CHUNK_PAGES = 32;

export async function hibernate(options: HibernateOptions): Promise<HibernateResult> {
  const { backend } = options;
  const progress = options.onProgress ?? (() => {});
  const started = Date.now();

  assertNoImageWaiting(backend, options);
  assertCanHibernate(backend);
  const releaseLock = backend.lockHibernation('hiberkit hibernate');
  try {
    return await hibernateLocked(options, progress, started);
  } finally {
    releaseLock();
  }
}

async function hibernateLocked(options: HibernateOptions, progress: (message: string) => void, started: number): Promise<HibernateResult> {
  const { backend } = options;
  const target = hibernationTarget(backend, options);
  warnIfResumeLooksElsewhere(backend, target.blockDevice, target.resumePage, progress);
  const powerOff = choosePowerOff(backend, options.powerOff);
  progress(`swap ${target.swap.path} on ${target.blockDevice} (header page ${target.resumePage}), power-off: ${powerOff}`);

  // Sealing may ask for a passphrase: do it before anything is opened.
  const encryption = sealForHibernation(options, backend.paths, progress);
  if (encryption) {
    progress(`image encrypted (${hibernationSealing(options, backend.paths)}, AES-256-GCM${encryption.origin ? ', signed' : ''})`);
    const swap = swapEncryptionFinding(backend);
    if (!swap.ok) progress(`warning: ${swap.summary}: ${swap.fix}`);
  }
  let storage: BlockDevice | undefined;
  let device: SnapshotDevice | undefined;
  try {
    storage = backend.openBlockDevice(target.blockDevice, { write: true, direct: true });
    device = backend.openSnapshot('hibernate');
    const originalResumePage = storage.allocAligned(PAGE_SIZE);
    storage.readSync(originalResumePage, target.resumePage * PAGE_SIZE);
    assertMarkable(originalResumePage, target.blockDevice);

    device.setSwapArea(target.swap.dev, target.resumePage);
    const availableSwap = device.availableSwapSize();
    assertSwapCanHold(backend, availableSwap, options.compress ?? 'lz4', target.swap.path);
    // The kernel's own image_size unless asked otherwise: what its own hibernation would aim for,
    // and whatever an administrator tuned it to. Left as it is when it fits the swap.
    const current = backend.system.hibernationSupport().imageSizeBytes ?? defaultImageSize(backend);
    const preferred = Math.min(options.imageSize ?? current, availableSwap);
    if (preferred !== current) device.setPreferredImageSize(preferred);
    if (powerOff === 'platform') device.setPlatformSupport(true);
    progress(`free swap ${mib(availableSwap)}, preferred image size ${mib(preferred)}`);

    backend.power.sync();
    const plan: HibernatePlan = {
      device,
      storage,
      resumePage: target.resumePage,
      originalResumePage,
      header: {
        kernelRelease: backend.system.kernelRelease(),
        machineId: backend.system.machineId(),
        createdAtMs: Date.now(),
        platformMode: powerOff === 'platform',
      },
      compression: options.compress ?? 'lz4',
      chunkPages: options.chunkPages ?? DEFAULT_CHUNK_PAGES,
      powerOff,
      encryption,
      progressFd: options.progressFd,
    };
    progress('freezing and saving the image');
    const outcome = await backend.criticalSection.hibernate(plan);
    if (outcome.kind === 'failed') {
      // The critical section reports two cases itself: an image it could not invalidate (dangerous),
      // and an emulated machine that booted on without resuming its image (nothing to thaw any more).
      if (outcome.error instanceof HiberkitError && ['IMAGE_NOT_INVALIDATED', 'SESSION_LOST'].includes(outcome.error.code)) throw outcome.error;
      throw new HiberkitError(
        'HIBERNATE_FAILED',
        `hibernation failed at stage ${outcome.stage}: ${outcome.error.message}. The system kept running and was thawed; no image was left on ${target.blockDevice} and its swap is usable.`,
        { cause: outcome.error },
      );
    }
    return { resumed: true, blockDevice: target.blockDevice, resumePage: target.resumePage, elapsedMs: Date.now() - started };
  } finally {
    if (device?.isOpen) device.close();
    storage?.close();
    wipe(encryption?.dataKey);
  }
}

/**
 * An image already waits on the resume device: a second hibernation must not touch it (IMAGE_PRESENT).
 * Checked first, with a look at that one page: the area holding the image is not active swap
 * (swapon refuses a marked header), so the preflight would only say "no swap" — and on an
 * emulated machine, whose boot may still resume the image, listing swap ends its initramfs.
 */
function assertNoImageWaiting(backend: Backend, settings: Settings): void {
  // Without root the preflight says what is wrong; reading the device would only fail with EACCES.
  if (!backend.system.isPrivileged()) return;
  const target = resumeTarget(backend, settings);
  if (!target) return;
  let storage: BlockDevice;
  try {
    storage = backend.openBlockDevice(target.blockDevice);
  } catch (err) {
    // A resume device that cannot be opened holds no image of ours; the checks after this say what is wrong with it.
    if (err instanceof SnapshotError) return;
    throw err;
  }
  try {
    const page = storage.allocAligned(PAGE_SIZE);
    storage.readSync(page, target.resumePage * PAGE_SIZE);
    const { kind } = classifyResumePage(page);
    if (kind === 'hiberkit' || kind === 'hiberkit-other-version') {
      throw new HiberkitError(
        'IMAGE_PRESENT',
        `${target.blockDevice} (header page ${target.resumePage}) already holds a hiberkit image waiting to be resumed: resume it (\`hiberkit resume\`) or discard it (\`hiberkit discard\`) first`,
      );
    }
  } finally {
    storage.close();
  }
}

/**
 * Refuses, before anything is frozen, a hibernation that cannot fit: the image holds at least the
 * memory the kernel cannot drop. LZ4 is credited with 2:1 at best, so only a hopeless case is
 * refused; a near miss still fails cleanly later (ENOSPC: thawed, swap usable).
 */
function assertSwapCanHold(backend: Backend, availableSwap: number, compress: 'lz4' | 'none', swapPath: string): void {
  const inUse = backend.system.memoryInUseBytes();
  const needed = compress === 'lz4' ? inUse / 2 : inUse;
  if (availableSwap < needed) {
    throw new HiberkitError(
      'NOT_ENOUGH_SWAP',
      `not enough swap for the image: ${mib(inUse)} of memory is in use and cannot be dropped, which needs about ${mib(needed)}${compress === 'lz4' ? ' even at 2:1 compression' : ''}, but ${swapPath} has ${mib(availableSwap)} free; add swap or free memory`,
    );
  }
}

/** The kernel's default image_size, 2/5 of RAM: for a kernel that does not show its own. */
function defaultImageSize(backend: Backend): number {
  return Math.floor((backend.system.memoryBytes() * 2) / 5);
}

function choosePowerOff(backend: Backend, requested?: PowerOffMethod): PowerOffMethod {
  const modes = backend.system.hibernationSupport().diskModes;
  if (requested === 'platform' && !modes.includes('platform')) {
    throw new HiberkitError(
      'NO_PLATFORM_S4',
      `this machine has no platform (ACPI S4) hibernation (/sys/power/disk offers: ${modes.join(' ') || 'nothing'}); use --power-off shutdown`,
    );
  }
  return requested ?? (modes.includes('platform') ? 'platform' : 'shutdown');
}

function warnIfResumeLooksElsewhere(
  backend: Backend,
  blockDevice: string,
  resumePage: number,
  progress: (message: string) => void,
): void {
  const kernel = backend.system.resumeSetting();
  if (kernel.device && (kernel.device !== blockDevice || kernel.offsetPages !== resumePage)) {
    progress(
      `warning: the kernel's resume setting names ${kernel.device} (offset ${kernel.offsetPages}) but the image goes to ${blockDevice} (offset ${resumePage}); resume looks where the kernel command line says before /etc/hiberkit.conf, so make resume= and resume_offset= name the image's place (or drop them), or give \`hiberkit resume\` --resume-device`,
    );
  }
}
