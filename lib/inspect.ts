/**
 * inspect(): is there a hiberkit image on the resume device, and what is it? Reads and checks
 * the whole image (every checksum) without touching /dev/snapshot or changing the disk.
 */
import { HiberkitError } from './errors.js';
import { resumeTarget } from './target.js';
import { loadImage, readMarker } from './image/reader.js';
import type { Backend } from './backend.js';
import type { Settings } from './config.js';

export interface InspectOptions extends Settings {
  backend: Backend;
}

export interface ImageReport {
  blockDevice: string;
  resumePage: number;
  present: boolean;
  /** Every checksum verified and the image made for this kernel and machine. */
  valid?: boolean;
  /** Why it is not valid (a HiberkitError code and message). */
  problem?: { code: string; message: string };
  streamBytes?: number;
  storedBytes?: number;
  compression?: string;
  /** storedBytes / streamBytes. */
  ratio?: number;
  createdAt?: string;
  kernelRelease?: string;
  machineId?: string;
  platformMode?: boolean;
}

export async function inspect(options: InspectOptions): Promise<ImageReport> {
  const { backend } = options;
  const target = resumeTarget(backend, options);
  if (!target) {
    throw new HiberkitError('NO_RESUME_DEVICE', 'no resume device: pass --resume-device, set resume-device in /etc/hiberkit.conf, or boot with resume=');
  }
  const storage = backend.openBlockDevice(target.blockDevice, { write: false, direct: true });
  try {
    const base = { blockDevice: target.blockDevice, resumePage: target.resumePage };
    if (!readMarker(storage, target.resumePage)) return { ...base, present: false };
    try {
      const image = await loadImage(storage, target.resumePage, {
        kernelRelease: backend.system.kernelRelease(),
        machineId: backend.system.machineId(),
      });
      const { header } = image;
      return {
        ...base,
        present: true,
        valid: true,
        streamBytes: header.streamPages * 4096,
        storedBytes: header.storedBytes,
        compression: header.compressed ? 'lz4' : 'none',
        ratio: header.storedBytes / (header.streamPages * 4096),
        createdAt: new Date(header.createdAtMs).toISOString(),
        kernelRelease: header.kernelRelease,
        machineId: header.machineId,
        platformMode: header.platformMode,
      };
    } catch (err) {
      if (!(err instanceof HiberkitError)) throw err;
      return { ...base, present: true, valid: false, problem: { code: err.code, message: err.message } };
    }
  } finally {
    storage.close();
  }
}
