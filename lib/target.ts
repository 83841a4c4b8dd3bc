/**
 * Where the image lives: a block device and the page of its swap header ("resume page").
 * Hibernate writes it where the flags, then /etc/hiberkit.conf say, else to the active swap with
 * the most free space. Resume, inspect and discard look for it where the flags say, then the
 * kernel's command line (`noresume`, `resume=`, `resume_offset=`), then /etc/hiberkit.conf: the
 * order hiberkit-resume follows in the initramfs (native/resume/resume_location.h).
 */
import { HiberkitError } from './errors.js';
import { PAGE_SIZE } from './ioctls.js';
import { classifyResumePage } from './image/format.js';
import type { Backend, BlockDevice, OpenBlockOptions, SwapArea, SystemInfo } from './backend.js';
import type { Settings } from './config.js';

interface ImageTarget {
  /** Block device node holding the swap area ('/dev/vda'). */
  blockDevice: string;
  /** Page index of the swap header on that device. */
  resumePage: number;
  /** The active swap area it is (hibernate needs one; resume runs before swapon). */
  swap?: SwapArea;
}

/** The swap area hibernation writes to. It must be active: the kernel allocates pages only from active swap. */
export function hibernationTarget(backend: { system: Pick<SystemInfo, 'swapAreas' | 'resolveBlockDevice'> }, settings: Settings): ImageTarget & { swap: SwapArea } {
  const areas = backend.system.swapAreas();
  if (areas.length === 0) {
    throw new HiberkitError('NO_SWAP', 'no active swap: hibernation needs a swap partition or swap file (mkswap, then swapon)');
  }
  if (settings.resumeDevice === undefined && settings.resumeOffset !== undefined) {
    const file = areas.find((area) => area.type === 'file' && area.offsetPages === settings.resumeOffset);
    if (!file) {
      throw new HiberkitError(
        'NOT_ACTIVE_SWAP',
        `no active swap file starts at page ${settings.resumeOffset} (active: ${describeAreas(areas)}); give --resume-device with --resume-offset, or check it with \`hiberkit swap-offset FILE\``,
      );
    }
    return { blockDevice: file.blockDevice, resumePage: file.offsetPages, swap: file };
  }
  if (settings.resumeDevice === undefined) {
    const roomiest = [...areas].sort((a, b) => b.sizeBytes - b.usedBytes - (a.sizeBytes - a.usedBytes))[0]!;
    return { blockDevice: roomiest.blockDevice, resumePage: roomiest.offsetPages, swap: roomiest };
  }
  const blockDevice = backend.system.resolveBlockDevice(settings.resumeDevice);
  const partition = areas.find((area) => area.blockDevice === blockDevice && area.type === 'partition');
  if (partition && settings.resumeOffset !== undefined && settings.resumeOffset !== 0) throw offsetOnPartition(blockDevice, settings.resumeOffset);
  const match = areas.find(
    (area) =>
      area.blockDevice === blockDevice &&
      (settings.resumeOffset === undefined ? area.type === 'partition' : area.offsetPages === settings.resumeOffset),
  );
  if (!match) {
    const where = settings.resumeOffset === undefined ? blockDevice : `${blockDevice} at page ${settings.resumeOffset}`;
    throw new HiberkitError(
      'NOT_ACTIVE_SWAP',
      `${where} is not an active swap area (active: ${describeAreas(areas)}); run swapon on it, or for a swap file pass --resume-offset from \`hiberkit swap-offset FILE\``,
    );
  }
  return { blockDevice, resumePage: match.offsetPages, swap: match };
}

/** A resume device and offset as one source of settings gives them. */
export type ResumeLocation = Pick<Settings, 'resumeDevice' | 'resumeOffset'>;

/** What resume, inspect and discard take besides their settings to find the image. */
export interface ImageLookup {
  /** The config file's resume device and offset: they rank below the kernel command line (resumeTarget). */
  configFile?: ResumeLocation;
}

/**
 * Where resume, inspect and discard look for an image, highest first: `settings` (the caller's
 * own: the command-line flags), the kernel's command line, `configFile` (the config file's
 * location); null when nothing names a device. (`noresume` is resume's own business: inspect and
 * discard still find the image.)
 */
export function resumeTarget(backend: Backend, settings: Settings, configFile: ResumeLocation = {}): ImageTarget | null {
  if (settings.resumeDevice !== undefined) {
    return {
      blockDevice: backend.system.resolveBlockDevice(settings.resumeDevice),
      resumePage: settings.resumeOffset ?? 0,
    };
  }
  const kernel = backend.system.resumeSetting();
  if (kernel.device) return { blockDevice: kernel.device, resumePage: settings.resumeOffset ?? kernel.offsetPages };
  if (configFile.resumeDevice === undefined) return null;
  return {
    blockDevice: backend.system.resolveBlockDevice(configFile.resumeDevice),
    resumePage: settings.resumeOffset ?? configFile.resumeOffset ?? 0,
  };
}

/**
 * Opens the block device where resume, inspect and discard look for an image. A resume offset is
 * for a swap file; on a device whose first page is a swap header (a swap partition, marked by an
 * image or not) it would point into the middle of the swap area, so it is refused.
 */
export function openTargetStorage(backend: Backend, target: ImageTarget, options: OpenBlockOptions): BlockDevice {
  const storage = backend.openBlockDevice(target.blockDevice, options);
  if (target.resumePage === 0) return storage;
  try {
    const first = storage.allocAligned(PAGE_SIZE);
    if (storage.readSync(first, 0) === PAGE_SIZE && classifyResumePage(first).kind !== 'unknown') {
      throw offsetOnPartition(target.blockDevice, target.resumePage);
    }
    return storage;
  } catch (err) {
    storage.close();
    throw err;
  }
}

function offsetOnPartition(blockDevice: string, offset: number): HiberkitError {
  return new HiberkitError(
    'RESUME_OFFSET_ON_PARTITION',
    `${blockDevice} is a swap partition (its swap header is page 0), so resume offset ${offset} does not apply to it; drop --resume-offset (and resume_offset=), which is for swap files`,
  );
}

function describeAreas(areas: SwapArea[]): string {
  return areas.map((a) => `${a.path} (${a.blockDevice}, offset ${a.offsetPages})`).join(', ');
}
