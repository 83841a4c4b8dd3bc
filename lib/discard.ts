/**
 * discard(): drops a hiberkit image without restoring it, putting the original swap signature
 * back so the area is ordinary swap again (after a lost passphrase, or to boot fresh on purpose).
 */
import { HiberkitError } from './errors.js';
import { openTargetStorage, resumeTarget, type ImageLookup } from './target.js';
import { invalidateImage, readMarker } from './image/reader.js';
import type { Backend } from './backend.js';
import type { Settings } from './config.js';

export interface DiscardOptions extends Settings, ImageLookup {
  backend: Backend;
}

export interface DiscardResult {
  /** False when there was no hiberkit image to drop. */
  discarded: boolean;
  blockDevice: string;
}

export async function discard(options: DiscardOptions): Promise<DiscardResult> {
  const target = resumeTarget(options.backend, options, options.configFile);
  if (!target) {
    throw new HiberkitError('NO_RESUME_DEVICE', 'no resume device: pass --resume-device, set resume-device in /etc/hiberkit.conf, or boot with resume=');
  }
  const storage = openTargetStorage(options.backend, target, { write: true, direct: true });
  try {
    const marker = readMarker(storage, target.resumePage);
    if (marker) invalidateImage(storage, target.resumePage, marker.originalPage);
    return { discarded: marker !== null, blockDevice: target.blockDevice };
  } finally {
    storage.close();
  }
}
