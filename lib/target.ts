/**
 * Where the image lives: a block device and the page of its swap header ("resume page").
 * Hibernate, resume and inspect all resolve it the same way: flags, then /etc/hiberkit.conf,
 * then (hibernate) the active swap with the most free space or (resume, inspect) the kernel's
 * `resume=` and `resume_offset=`.
 */
import { HiberkitError } from './errors.js';
import type { Backend, SwapArea } from './backend.js';
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
export function hibernationTarget(backend: Backend, settings: Settings): ImageTarget & { swap: SwapArea } {
  const areas = backend.system.swapAreas();
  if (areas.length === 0) {
    throw new HiberkitError('NO_SWAP', 'no active swap: hibernation needs a swap partition or swap file (mkswap, then swapon)');
  }
  if (settings.resumeDevice === undefined) {
    const roomiest = [...areas].sort((a, b) => b.sizeBytes - b.usedBytes - (a.sizeBytes - a.usedBytes))[0]!;
    return { blockDevice: roomiest.blockDevice, resumePage: roomiest.offsetPages, swap: roomiest };
  }
  const blockDevice = backend.system.resolveBlockDevice(settings.resumeDevice);
  const match = areas.find(
    (area) =>
      area.blockDevice === blockDevice &&
      (settings.resumeOffset === undefined ? area.type === 'partition' : area.offsetPages === settings.resumeOffset),
  );
  if (!match) {
    const where = settings.resumeOffset === undefined ? blockDevice : `${blockDevice} at page ${settings.resumeOffset}`;
    const active = areas.map((a) => `${a.path} (${a.blockDevice}, offset ${a.offsetPages})`).join(', ');
    throw new HiberkitError(
      'NOT_ACTIVE_SWAP',
      `${where} is not an active swap area (active: ${active}); run swapon on it, or for a swap file pass --resume-offset from \`hiberkit swap-offset FILE\``,
    );
  }
  return { blockDevice, resumePage: match.offsetPages, swap: match };
}

/** Where resume and inspect look for an image, or null when nothing names a resume device. */
export function resumeTarget(backend: Backend, settings: Settings): ImageTarget | null {
  if (settings.resumeDevice !== undefined) {
    return {
      blockDevice: backend.system.resolveBlockDevice(settings.resumeDevice),
      resumePage: settings.resumeOffset ?? 0,
    };
  }
  const kernel = backend.system.resumeSetting();
  if (!kernel.device) return null;
  return { blockDevice: kernel.device, resumePage: settings.resumeOffset ?? kernel.offsetPages };
}
