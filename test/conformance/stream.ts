/**
 * Helpers of the conformance cases for the snapshot stream: open/close discipline, a reference
 * snapshot of the machine under test, and small images forged from it. A forged image carries
 * the machine's real header (so the kernel accepts it) and real PFNs, but only a handful of
 * pages, and the cases never let a kernel restore one: they stop where the kernel must refuse.
 */
import assert from 'node:assert/strict';
import type { SnapshotDevice, SnapshotMode } from '../../lib/backend.js';
import { PAGE_SIZE } from '../../lib/ioctls.js';
import { decodeImageHeader, decodeMetadataPage, encodeImageHeader, encodeMetadataPage, type MetadataEntry } from '../../emulator/image-stream.js';
import type { ConformanceContext } from './context.js';

/** Runs `fn` on a freshly opened device and closes it whatever happens (close also thaws). */
export async function withDevice<T>(ctx: ConformanceContext, mode: SnapshotMode, fn: (device: SnapshotDevice) => T | Promise<T>): Promise<T> {
  const device = ctx.backend.openSnapshot(mode);
  try {
    return await fn(device);
  } finally {
    if (device.isOpen) device.close();
  }
}

/** Asserts that `fn` throws an error whose `code` is `code` (a SnapshotError, or a Node fs error). */
export function expectCode(code: string, fn: () => unknown, what: string): void {
  assert.throws(
    fn,
    (err: unknown) => {
      const got = (err as { code?: unknown }).code;
      assert.equal(got, code, `${what}: expected ${code}, got ${String(got)} (${(err as Error).message})`);
      return true;
    },
    `${what}: expected ${code}, but it succeeded`,
  );
}

/** A real header page of this machine and the PFNs of the first metadata page of a real image. */
export interface Reference {
  header: Uint8Array;
  pfns: number[];
}

/** FREEZE → CREATE_IMAGE → read the header and first metadata page → FREE → UNFREEZE → close. */
export async function captureReference(ctx: ConformanceContext): Promise<Reference> {
  return withDevice(ctx, 'hibernate', (device) => {
    device.freeze();
    assert.equal(device.createImage(), 1, 'CREATE_IMAGE stores 1 in the hibernating kernel');
    const pages = new Uint8Array(2 * PAGE_SIZE);
    assert.equal(device.readPages(pages), 2 * PAGE_SIZE, 'header and first metadata page');
    device.free();
    device.unfreeze();
    const pfns = decodeMetadataPage(pages.subarray(PAGE_SIZE)).map((e) => e.pfn);
    assert.ok(pfns.length >= 8, `the first metadata page lists ${pfns.length} PFNs; the forged images need 8`);
    return { header: pages.slice(0, PAGE_SIZE), pfns };
  });
}

export interface ForgedImage {
  /** Every page of the stream, header first. */
  pages: Uint8Array;
  /** Pages in the stream: 1 + 1 metadata page + data pages. */
  count: number;
}

/**
 * A small image on the reference header: one metadata page with `entries`, one data page per
 * entry without the zero flag, and a header claiming `declaredCopies` data pages (default: as many
 * as there are).
 */
export function forgeImage(reference: Reference, entries: readonly MetadataEntry[], declaredCopies?: number): ForgedImage {
  const dataPages = entries.filter((e) => !e.zero).length;
  const imagePages = declaredCopies ?? dataPages;
  const real = decodeImageHeader(reference.header);
  const header = encodeImageHeader({ ...real, imagePages, pages: 2 + imagePages, size: (2 + imagePages) * PAGE_SIZE });
  const count = 2 + dataPages;
  const pages = new Uint8Array(count * PAGE_SIZE);
  pages.set(header, 0);
  pages.set(encodeMetadataPage(entries), PAGE_SIZE);
  for (let i = 2; i < count; i++) pages.fill(0x40 + i, i * PAGE_SIZE, (i + 1) * PAGE_SIZE);
  return { pages, count };
}

/** Page `index` of a forged image. */
export function pageOf(image: ForgedImage, index: number): Uint8Array {
  return image.pages.subarray(index * PAGE_SIZE, (index + 1) * PAGE_SIZE);
}

/** Whether every byte is zero. */
export function allZero(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0);
}
