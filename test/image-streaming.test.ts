/**
 * How resume reads an image: openImage checks the header and extent map, then pages() reads the
 * chunk stream once, checking every chunk before it hands out a byte of it and the CRC of the
 * whole stream after the last one, through a bounded window whatever the reads return.
 */
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../lib/ioctls.js';
import { HiberkitError } from '../lib/errors.js';
import { crc32c } from '../lib/codec/index.js';
import { loadImage, openImage, type OpenedImage } from '../lib/image/reader.js';
import { CHUNK_HEADER_BYTES, decodeChunkHeader, encodeChunkHeader } from '../lib/image/format.js';
import {
  MemoryBlockDevice,
  allocationPatterns,
  expectSame,
  expectSameBytes,
  publicKeyEncryption,
  randomBytes,
  recordOffsets,
  snapshotLikeStream,
  streamOf,
  writeImage,
} from './image-support.js';

/**
 * Answers every read with at most `pages` pages, as a device may, and hands out Buffers as the
 * native backend does (whose slice() is a view): the window must cope with both.
 */
class ShortReadDevice extends MemoryBlockDevice {
  constructor(
    bytes: Uint8Array,
    private readonly pages: number,
  ) {
    super(bytes);
  }

  override allocAligned(bytes: number): Uint8Array {
    return Buffer.alloc(bytes);
  }

  override async read(buf: Uint8Array, position: number): Promise<number> {
    return this.readSync(buf.subarray(0, this.pages * PAGE_SIZE), position);
  }
}

/** Each batch copied as it comes, and the error that ended the iteration (null if none). */
async function drain(image: OpenedImage): Promise<{ bytes: Buffer; error: HiberkitError | null }> {
  const batches: Buffer[] = [];
  try {
    for await (const batch of image.pages(1024)) batches.push(Buffer.from(batch));
  } catch (err) {
    if (!(err instanceof HiberkitError)) throw err;
    return { bytes: Buffer.concat(batches), error: err };
  }
  return { bytes: Buffer.concat(batches), error: null };
}

describe('reading an image in one pass', () => {
  const shapes = [
    { label: 'lz4, 32-page chunks', stream: snapshotLikeStream(300, 11), compression: 'lz4', chunkPages: 32 },
    { label: 'lz4, a short last chunk', stream: snapshotLikeStream(101, 12), compression: 'lz4', chunkPages: 8 },
    { label: 'random pages (chunks stored raw in an lz4 image)', stream: randomBytes(70 * PAGE_SIZE, 13), compression: 'lz4', chunkPages: 16 },
    { label: 'no compression', stream: snapshotLikeStream(40, 14), compression: 'none', chunkPages: 4 },
  ] as const;

  for (const { label, stream, compression, chunkPages } of shapes) {
    it(`${label}: yields the stream exactly, in batches of any size`, async () => {
      const { device } = writeImage({ stream, compression, chunkPages });
      const image = await openImage(device, 0, expectSame);
      for (const batch of [1, 7, 1024]) expectSameBytes(await streamOf(image, batch), stream, `${batch}-page batches`);
    });
  }

  it('copes with reads that return a few pages at a time, across scattered extents', async () => {
    const stream = snapshotLikeStream(200, 21);
    for (const { compression, pages } of [
      { compression: 'lz4', pages: allocationPatterns.scattered(600, 1) },
      { compression: 'none', pages: allocationPatterns.descendingRuns(600, 1400, 3) },
    ] as const) {
      const { device } = writeImage({ stream, compression, chunkPages: 16, pages, devicePages: 1500 });
      for (const readPages of [1, 2, 5]) {
        const short = new ShortReadDevice(device.bytes, readPages);
        expectSameBytes(await streamOf(await openImage(short, 0, expectSame), 3), stream, `${compression}, ${readPages}-page reads`);
      }
    }
  });

  it('keeps each record apart from the window it came through: encrypted, with short reads into Buffers', async () => {
    const stream = snapshotLikeStream(160, 22);
    const { encryption, options } = publicKeyEncryption();
    const { device } = writeImage({ stream, chunkPages: 8, encryption, pages: allocationPatterns.scattered(400, 1), devicePages: 900 });
    for (const readPages of [1, 3]) {
      const short = new ShortReadDevice(device.bytes, readPages);
      expectSameBytes(await streamOf(await openImage(short, 0, expectSame, options), 2), stream, `${readPages}-page reads`);
    }
  });

  it('decrypts and verifies an encrypted image chunk by chunk', async () => {
    const stream = snapshotLikeStream(90, 16);
    const { encryption, options } = publicKeyEncryption();
    const { device } = writeImage({ stream, chunkPages: 8, encryption });
    const image = await openImage(device, 0, expectSame, options);
    expectSameBytes(await streamOf(image, 1024), stream);
    expectSameBytes(await streamOf(image, 5), stream, 'a second pass reads the device again');
    image.close();
    await expect(streamOf(image)).rejects.toThrow(/the image was closed/);
  });

  it('hands out the chunks before a damaged one, then refuses, and nothing of the damaged chunk', async () => {
    const stream = snapshotLikeStream(64, 18);
    const { device } = writeImage({ stream, compression: 'lz4', chunkPages: 8 });
    const { extents } = await openImage(device, 0, expectSame);
    const at = recordOffsets(device.bytes, extents[0]!.startPage * PAGE_SIZE, 4, false)[3]!;
    device.bytes[at + CHUNK_HEADER_BYTES + 5] ^= 0x40;
    const { bytes, error } = await drain(await openImage(device, 0, expectSame));
    expect(error?.code).toBe('IMAGE_CORRUPT');
    expect(error?.message).toMatch(/chunk 3 .* fails its payload CRC/);
    expectSameBytes(bytes, stream.subarray(0, 3 * 8 * PAGE_SIZE));
  });

  it('refuses a stream whose CRC fails only after the last chunk, and loadImage before returning', async () => {
    const stream = snapshotLikeStream(64, 17);
    for (const compression of ['none', 'lz4'] as const) {
      const { device } = writeImage({ stream, compression, chunkPages: 8 });
      const { extents } = await openImage(device, 0, expectSame);
      // Alter the first chunk's payload and give its record the matching payload CRC: each chunk
      // still passes its own checks, only the CRC of the whole decoded stream can catch it.
      const at = extents[0]!.startPage * PAGE_SIZE;
      const chunk = decodeChunkHeader(device.bytes, at, false);
      const { storedBytes } = chunk;
      const payload = device.bytes.subarray(at + CHUNK_HEADER_BYTES, at + CHUNK_HEADER_BYTES + storedBytes);
      payload[compression === 'none' ? 100 : storedBytes - 1] ^= 1;
      encodeChunkHeader(device.bytes, at, { ...chunk, payloadCrc32c: crc32c(payload) });
      const { bytes, error } = await drain(await openImage(device, 0, expectSame));
      expect(error?.message, compression).toMatch(/the uncompressed stream fails its CRC|is not a valid LZ4 block/);
      if (compression === 'none') expect(bytes.length).toBe(stream.length);
      await expect(loadImage(device, 0, expectSame)).rejects.toThrow(HiberkitError);
    }
  });

  it('refuses non-zero padding after the last record', async () => {
    const stream = snapshotLikeStream(30, 19);
    const { device, summary } = writeImage({ stream, chunkPages: 8 });
    expect(summary.storedBytes % PAGE_SIZE).not.toBe(0);
    const { extents } = await openImage(device, 0, expectSame);
    const last = extents[extents.length - 1]!;
    device.bytes[(last.startPage + last.pageCount) * PAGE_SIZE - 1] = 7;
    const { error } = await drain(await openImage(device, 0, expectSame));
    expect(error?.message).toMatch(/padding after the last chunk record is not zero/);
  });
});
