/**
 * The C++ image writer (native/image_writer.cc, used in the real critical section) and the
 * TypeScript one (lib/image/writer.ts, used by the emulator) write byte-identical images for the
 * same stream, swap pages and identity — and, for an encrypted image, the same keys and image id;
 * the TypeScript reader restores the exact stream from both. The C++ writer runs on a buffered
 * file (its writes done in turn) and on an O_DIRECT one (its writes overlapped through Linux AIO,
 * native/write_queue.h; test/image-writer-aio.test.ts checks that path is the one taken).
 */
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ERRNO } from '../lib/errors.js';
import { PAGE_SIZE } from '../lib/ioctls.js';
import { loadTestBinding, type NativeImageWriteParams } from './native-test-binding.js';
import { ImageWriter, invalidateImage } from '../lib/image/writer.js';
import { loadImage, openImage } from '../lib/image/reader.js';
import { decodeMarker } from '../lib/image/format.js';
import { imageKeysFor } from '../lib/image/security.js';
import {
  MemoryBlockDevice,
  allocationPatterns,
  codeOf,
  listAllocator,
  publicKeyEncryption,
  signedPublicKeyEncryption,
  randomBytes,
  snapshotLikeStream,
  swapDevice,
  swapHeaderPage,
  testIdentity,
} from './image-support.js';
import type { ImageIdentity } from '../lib/backend.js';

const native = loadTestBinding();
const workdir = mkdtempSync(join(tmpdir(), 'hiberkit-crosscheck-'));
afterAll(() => rmSync(workdir, { recursive: true, force: true }));

interface Case {
  label: string;
  stream: Uint8Array;
  pages: number[];
  compression: 'lz4' | 'none';
  chunkPages: number;
  ioBytes: number;
  resumePage?: number;
  identity?: ImageIdentity;
  sourcePagesPerRead?: number;
  /** Default: the number of pages offered. */
  maxStoredPages?: number;
  encrypted?: boolean;
  /** Encrypted and signed (an origin signature in the header, FLAG_SIGNED). */
  signed?: boolean;
}

/** One key pair and image id for every encrypted case: the writers must agree given the same ones. */
const sealed = publicKeyEncryption();
const imageId = randomBytes(16, 77);
const signedSealed = signedPublicKeyEncryption(imageId);

let fileCounter = 0;

/** How the C++ writer's file is opened: buffered, or O_DIRECT (so its chunk writes go through AIO). */
const FILE_MODES = [
  ['a buffered file', constants.O_RDWR],
  ['an O_DIRECT file', constants.O_RDWR | constants.O_DIRECT],
] as const;

/** Runs the C++ writer on a file holding `initial`; returns its result and the file's bytes. */
function nativeWrite(initial: Uint8Array, params: NativeImageWriteParams, stream: Uint8Array, offsets: number[], flags: number = constants.O_RDWR) {
  const path = join(workdir, `device-${fileCounter++}.img`);
  writeFileSync(path, initial);
  const fd = openSync(path, flags);
  try {
    const result = native.writeImageFromBuffer(fd, params, stream, offsets);
    return { result, bytes: new Uint8Array(readFileSync(path)) };
  } finally {
    closeSync(fd);
    rmSync(path);
  }
}

function paramsOf(c: Case, original: Uint8Array): NativeImageWriteParams {
  return {
    resumePage: c.resumePage ?? 0,
    originalResumePage: original,
    identity: c.identity ?? testIdentity,
    compression: c.compression,
    chunkPages: c.chunkPages,
    ioBytes: c.ioBytes,
    maxStoredPages: c.maxStoredPages ?? c.pages.length,
    sourcePagesPerRead: c.sourcePagesPerRead,
    encryption: c.signed ? imageKeysFor(signedSealed.encryption) : c.encrypted ? imageKeysFor(sealed.encryption, imageId) : undefined,
  };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

const cases: Case[] = [
  { label: 'snapshot-like, contiguous, LZ4 32-page chunks, 64 KiB batches', stream: snapshotLikeStream(400, 1), pages: allocationPatterns.contiguous(900, 1), compression: 'lz4', chunkPages: 32, ioBytes: 65536 },
  { label: 'snapshot-like, shuffled, LZ4 7-page chunks, one-page batches, short reads', stream: snapshotLikeStream(150, 2), pages: allocationPatterns.shuffled(400, 1, 2), compression: 'lz4', chunkPages: 7, ioBytes: 4096, sourcePagesPerRead: 3 },
  { label: 'snapshot-like, descending runs, raw 1-page chunks', stream: snapshotLikeStream(120, 3), pages: allocationPatterns.descendingRuns(300, 700, 9), compression: 'none', chunkPages: 1, ioBytes: 5 * 4096, sourcePagesPerRead: 1 },
  { label: 'random, scattered (a chained extent map), LZ4 chunks that stay raw', stream: randomBytes(600 * PAGE_SIZE, 4), pages: allocationPatterns.scattered(700, 2), compression: 'lz4', chunkPages: 16, ioBytes: 1 << 20 },
  { label: 'zeros, one 4096-page chunk, platform mode, swap file in the middle', stream: new Uint8Array(4096 * PAGE_SIZE), pages: [...allocationPatterns.contiguous(50, 1), ...allocationPatterns.contiguous(50, 300)], compression: 'lz4', chunkPages: 4096, ioBytes: 8192, resumePage: 200, identity: { ...testIdentity, platformMode: true, kernelRelease: 'x'.repeat(64), machineId: '' } },
  { label: 'one page', stream: randomBytes(PAGE_SIZE, 5), pages: [7, 3, 9, 8, 4], compression: 'lz4', chunkPages: 32, ioBytes: 4096 },
  // 25 batches of 16 pages: the C++ writer's ring of four buffers wraps around many times.
  { label: 'snapshot-like, contiguous, raw 32-page chunks, 64 KiB batches', stream: snapshotLikeStream(400, 11), pages: allocationPatterns.contiguous(500), compression: 'none', chunkPages: 32, ioBytes: 64 << 10 },
  // 512 one-page writes per 2 MiB batch: more than the 1024 writes the C++ writer keeps in flight,
  // so it has to take completions before it may queue more.
  { label: 'random, scattered, raw 16-page chunks, 2 MiB batches', stream: randomBytes(2000 * PAGE_SIZE, 14), pages: allocationPatterns.scattered(2100), compression: 'none', chunkPages: 16, ioBytes: 2 << 20 },
];

describe('C++ and TypeScript image writers', () => {
  const withEncrypted = cases.flatMap((c) => [
    c,
    { ...c, label: `${c.label}, encrypted`, encrypted: true },
    { ...c, label: `${c.label}, encrypted and signed`, encrypted: true, signed: true },
  ]);
  const runs = withEncrypted.flatMap((c) => FILE_MODES.map(([file, flags]) => ({ ...c, file, flags })));
  it.each(runs)('write the same bytes: $label, on $file', async (c) => {
    const resumePage = c.resumePage ?? 0;
    const devicePages = Math.max(...c.pages, resumePage) + 3;
    const { device, original } = swapDevice(devicePages, resumePage, 42);
    const initial = Uint8Array.from(device.bytes);

    const writer = new ImageWriter({
      storage: device,
      allocator: listAllocator(c.pages),
      resumePage,
      originalResumePage: original,
      identity: c.identity ?? testIdentity,
      compression: c.compression,
      chunkPages: c.chunkPages,
      streamPages: c.stream.length / PAGE_SIZE,
      ioBytes: c.ioBytes,
      ...(c.signed ? { encryption: signedSealed.encryption } : c.encrypted ? { encryption: sealed.encryption, imageId } : {}),
    });
    writer.writePages(c.stream);
    const summary = writer.finish();

    const { result, bytes } = nativeWrite(initial, paramsOf(c, original), c.stream, c.pages.map((p) => p * PAGE_SIZE), c.flags);
    expect(result).toEqual({
      error: 0,
      stage: 'done',
      streamPages: summary.streamPages,
      storedBytes: summary.storedBytes,
      extents: summary.extents,
      storedPages: summary.storedPages,
    });
    expect(sameBytes(bytes, initial)).toBe(false);
    const firstDifference = bytes.findIndex((b, i) => b !== device.bytes[i]);
    expect(firstDifference, `first differing byte (page ${Math.floor(firstDifference / PAGE_SIZE)})`).toBe(-1);

    const anyIdentity = { kernelRelease: null, machineId: null };
    for (const storage of [device, new MemoryBlockDevice(bytes)]) {
      const image = await loadImage(storage, resumePage, anyIdentity, c.signed ? signedSealed.options : sealed.options);
      expect(image.header.encrypted).toBe(c.encrypted === true);
      const chunks: Uint8Array[] = [];
      for await (const batch of image.pages(100)) chunks.push(Uint8Array.from(batch));
      expect(sameBytes(Buffer.concat(chunks), c.stream)).toBe(true);
    }
  });
});

describe('the C++ writer refuses, and leaves the resume page alone', () => {
  const stream = snapshotLikeStream(64, 6);
  const base: Case = { label: '', stream, pages: allocationPatterns.contiguous(200, 1), compression: 'lz4', chunkPages: 8, ioBytes: 4096 };

  function attempt(c: Case, original = swapHeaderPage(299), offsets = c.pages.map((p) => p * PAGE_SIZE)) {
    const initial = randomBytes(300 * PAGE_SIZE, 9);
    initial.set(original, 0);
    const { result, bytes } = nativeWrite(initial, paramsOf(c, original), c.stream, offsets);
    expect(sameBytes(bytes.subarray(0, PAGE_SIZE), original)).toBe(true);
    return result;
  }

  it('a resume page that is not a clean swap header', () => {
    const dirty = swapHeaderPage(299);
    dirty[4050] = 1;
    expect(attempt(base, dirty)).toMatchObject({ error: ERRNO.EINVAL, stage: expect.stringMatching(/^check resume page/) });
    expect(attempt(base, swapHeaderPage(299, 'S1SUSPEND\0'))).toMatchObject({ error: ERRNO.EINVAL });
  });

  it('running out of swap pages', () => {
    expect(attempt({ ...base, pages: base.pages.slice(0, 5) })).toMatchObject({ error: ERRNO.ENOSPC, stage: 'allocate swap page' });
  });

  it('more extents than max_stored_pages allows for', () => {
    const result = attempt({ ...base, compression: 'none', pages: allocationPatterns.scattered(140, 1), maxStoredPages: 30 });
    expect(result).toMatchObject({ error: ERRNO.ENOSPC, stage: expect.stringMatching(/^record extent/) });
  });

  it('an allocator answer that is the resume page or not page aligned', () => {
    expect(attempt({ ...base, pages: [1, 2, 0, 3, ...base.pages] })).toMatchObject({ error: ERRNO.EINVAL, stage: expect.stringMatching(/resume page/) });
    expect(attempt(base, undefined, [4097])).toMatchObject({ error: ERRNO.EINVAL, stage: expect.stringMatching(/not page aligned/) });
  });

  it('a bad configuration', () => {
    expect(attempt({ ...base, chunkPages: 0 })).toMatchObject({ error: ERRNO.EINVAL, stage: expect.stringMatching(/chunk_pages/) });
    expect(attempt({ ...base, ioBytes: 6000 })).toMatchObject({ error: ERRNO.EINVAL, stage: expect.stringMatching(/io_bytes/) });
    expect(attempt({ ...base, stream: new Uint8Array(0) })).toMatchObject({ error: ERRNO.EINVAL, stage: expect.stringMatching(/empty stream/) });
  });
});

describe('C++ InvalidateImage', () => {
  it('puts back the same page as the TypeScript invalidateImage, after destroying the same header', async () => {
    const { device, original } = swapDevice(40);
    const writer = new ImageWriter({ storage: device, allocator: listAllocator(allocationPatterns.contiguous(39)), resumePage: 0, originalResumePage: original, identity: testIdentity, compression: 'lz4', chunkPages: 4, streamPages: 10 });
    writer.writePages(snapshotLikeStream(10, 7));
    writer.finish();
    const marked = Uint8Array.from(device.bytes);

    invalidateImage(device, 0, device.bytes.subarray(0, PAGE_SIZE).slice());
    const path = join(workdir, 'invalidate.img');
    writeFileSync(path, marked);
    const fd = openSync(path, 'r+');
    try {
      expect(native.invalidateImageFd(fd, 0, original)).toBe(0);
      expect(native.invalidateImageFd(fd, 0, marked.subarray(0, PAGE_SIZE))).toBe(ERRNO.EINVAL);
    } finally {
      closeSync(fd);
    }
    expect(sameBytes(new Uint8Array(readFileSync(path)), device.bytes)).toBe(true);
    // Both destroyed the image header (issue #10): the marked page written back opens nothing.
    const { headerPage } = decodeMarker(marked.subarray(0, PAGE_SIZE));
    expect(device.bytes.subarray(headerPage * PAGE_SIZE, (headerPage + 1) * PAGE_SIZE).every((b) => b === 0)).toBe(true);
    expect(sameBytes(device.bytes.subarray(PAGE_SIZE), marked.subarray(PAGE_SIZE))).toBe(false);
    device.bytes.set(marked.subarray(0, PAGE_SIZE), 0);
    expect(await codeOf(openImage(device, 0, { kernelRelease: null, machineId: null }))).toBe('IMAGE_CORRUPT');
  });
});
