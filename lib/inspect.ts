/**
 * inspect(): is there a hiberkit image on the resume device, and what is it? Reads and checks
 * the whole image (every checksum) without touching /dev/snapshot or changing the disk.
 */
import { HiberkitError, type HiberkitErrorCode } from './errors.js';
import { openTargetStorage, resumeTarget, type ImageLookup } from './target.js';
import { loadImage, readHeaderSummary, readMarker } from './image/reader.js';
import { unlockerFor } from './crypto/image-keys.js';
import { PAGE_SIZE } from './ioctls.js';
import type { Backend } from './backend.js';
import type { Settings } from './config.js';

export interface InspectOptions extends Settings, ImageLookup {
  backend: Backend;
}

export interface ImageReport {
  blockDevice: string;
  resumePage: number;
  present: boolean;
  /**
   * Every checksum (and, for an encrypted image, every authentication tag) verified, and the image
   * made for this kernel and machine. Absent when it could not be checked: an encrypted image
   * without a passphrase source (--passphrase-file / --passphrase-fd).
   */
  valid?: boolean;
  /** Why it is not valid (a HiberkitError code and message). */
  problem?: { code: string; message: string };
  streamBytes?: number;
  storedBytes?: number;
  compression?: string;
  /** storedBytes / streamBytes. */
  ratio?: number;
  encrypted?: boolean;
  /** How an encrypted image's key is sealed. */
  keyKind?: 'passphrase' | 'public-key';
  /** When the image was made; believe it only with createdAtVerified (checked, and for an encrypted image authenticated). */
  createdAt?: string;
  createdAtVerified?: boolean;
  kernelRelease?: string;
  machineId?: string;
  platformMode?: boolean;
}

const KEY_UNAVAILABLE: ReadonlySet<HiberkitErrorCode> = new Set(['NO_PASSPHRASE', 'BAD_KEY_FILE']);

export async function inspect(options: InspectOptions): Promise<ImageReport> {
  const { backend } = options;
  const target = resumeTarget(backend, options, options.configFile);
  if (!target) {
    throw new HiberkitError('NO_RESUME_DEVICE', 'no resume device: pass --resume-device, set resume-device in /etc/hiberkit.conf, or boot with resume=');
  }
  const storage = openTargetStorage(backend, target, { write: false, direct: true });
  const report: ImageReport = { blockDevice: target.blockDevice, resumePage: target.resumePage, present: false };
  try {
    if (!readMarker(storage, target.resumePage)) return report;
    report.present = true;
    const { header, keyKind } = readHeaderSummary(storage, target.resumePage);
    Object.assign(report, {
      streamBytes: header.streamPages * PAGE_SIZE,
      storedBytes: header.storedBytes,
      compression: header.compressed ? 'lz4' : 'none',
      ratio: header.storedBytes / (header.streamPages * PAGE_SIZE),
      encrypted: header.encrypted,
      createdAt: new Date(header.createdAtMs).toISOString(),
      kernelRelease: header.kernelRelease,
      machineId: header.machineId,
      platformMode: header.platformMode,
      ...(keyKind ? { keyKind } : {}),
    });
    const canUnlock = options.passphraseFile !== undefined || options.passphraseFd !== undefined;
    if (header.encrypted && !canUnlock) return report;
    const image = await loadImage(
      storage,
      target.resumePage,
      { kernelRelease: backend.system.kernelRelease(), machineId: backend.system.machineId() },
      { unlock: unlockerFor(options, options.backend.paths, () => {}) },
    );
    image.close();
    report.valid = true;
    // From the verified header: for an encrypted image the summary's time was not authenticated yet.
    report.createdAt = new Date(image.header.createdAtMs).toISOString();
    report.createdAtVerified = true;
  } catch (err) {
    // No passphrase or key could be read: that says nothing about the image, so it is the
    // command that fails (with the reason), not the image.
    if (!(err instanceof HiberkitError) || KEY_UNAVAILABLE.has(err.code)) throw err;
    report.valid = false;
    report.problem = { code: err.code, message: err.message };
  } finally {
    storage.close();
  }
  return report;
}
