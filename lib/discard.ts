/**
 * discard(): drops a hiberkit image without restoring it, putting the original swap signature
 * back so the area is ordinary swap again (after a lost passphrase, or to boot fresh on purpose).
 */
import { HiberkitError } from './errors.js';
import { resumeTarget } from './target.js';
import { invalidateImage, readMarker } from './image/reader.js';
import type { Backend } from './backend.js';
import type { Settings } from './config.js';

export async function discard(options: Settings & { backend: Backend }): Promise<{ discarded: boolean; blockDevice: string }> {
  const target = resumeTarget(options.backend, options);
  if (!target) {
    throw new HiberkitError('NO_RESUME_DEVICE', 'no resume device: pass --resume-device, set resume-device in /etc/hiberkit.conf, or boot with resume=');
  }
  const storage = options.backend.openBlockDevice(target.blockDevice, { write: true, direct: true });
  try {
    const marker = readMarker(storage, target.resumePage);
    if (marker) invalidateImage(storage, target.resumePage, marker.originalPage);
    return { discarded: marker !== null, blockDevice: target.blockDevice };
  } finally {
    storage.close();
  }
}
