/**
 * loadImage's decode-once path: with enough available memory it keeps every chunk it decodes
 * while verifying, and pages() hands out those bytes instead of decoding a second time. The
 * stream must be the same either way, and every refusal must still happen before loadImage
 * returns, so nothing reaches /dev/snapshot from a damaged image.
 */
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../lib/ioctls.js';
import { crc32c } from '../lib/codec/index.js';
import { loadImage } from '../lib/image/reader.js';
import { CHUNK_HEADER_BYTES, decodeChunkHeader, encodeChunkHeader } from '../lib/image/format.js';
import { expectSame, expectSameBytes, publicKeyEncryption, randomBytes, snapshotLikeStream, streamOf, writeImage } from './image-support.js';

/** Far more than any test image needs. */
const PLENTY = 1 << 30;

describe('decoding each chunk once when memory allows', () => {
  const shapes = [
    { label: 'lz4, 32-page chunks', stream: snapshotLikeStream(300, 11), compression: 'lz4', chunkPages: 32 },
    { label: 'lz4, a short last chunk', stream: snapshotLikeStream(101, 12), compression: 'lz4', chunkPages: 8 },
    { label: 'random pages (chunks stored raw in an lz4 image)', stream: randomBytes(70 * PAGE_SIZE, 13), compression: 'lz4', chunkPages: 16 },
    { label: 'no compression', stream: snapshotLikeStream(40, 14), compression: 'none', chunkPages: 4 },
  ] as const;

  for (const { label, stream, compression, chunkPages } of shapes) {
    it(`${label}: keeps the decoded stream and yields it exactly`, async () => {
      const { device } = writeImage({ stream, compression, chunkPages });
      const image = await loadImage(device, 0, expectSame, { availableMemoryBytes: PLENTY });
      expect(image.decodedOnce).toBe(true);
      for (const batch of [1, 7, 1024]) expectSameBytes(await streamOf(image, batch), stream, `${batch}-page batches`);
    });
  }

  it('decodes twice when memory is short or unknown, with the same result', async () => {
    const stream = snapshotLikeStream(120, 15);
    const { device, summary } = writeImage({ stream, chunkPages: 16 });
    // The stored stream, the decoded stream and the kernel's copy of it, with 64 MiB to spare.
    const needed = summary.storedBytes + 2 * stream.length + (64 << 20);
    const short = await loadImage(device, 0, expectSame, { availableMemoryBytes: needed - 1 });
    expect(short.decodedOnce).toBe(false);
    expectSameBytes(await streamOf(short, 5), stream);
    const exact = await loadImage(device, 0, expectSame, { availableMemoryBytes: needed });
    expect(exact.decodedOnce).toBe(true);
    const unknown = await loadImage(device, 0, expectSame);
    expect(unknown.decodedOnce).toBe(false);
  });

  it('decrypts, verifies and keeps an encrypted image', async () => {
    const stream = snapshotLikeStream(90, 16);
    const { encryption, options } = publicKeyEncryption();
    const { device } = writeImage({ stream, chunkPages: 8, encryption });
    const image = await loadImage(device, 0, expectSame, { ...options, availableMemoryBytes: PLENTY });
    expect(image.decodedOnce).toBe(true);
    expectSameBytes(await streamOf(image, 1024), stream);
  });

  it('still refuses a stream whose CRC fails, before returning anything', async () => {
    const stream = snapshotLikeStream(64, 17);
    const { device } = writeImage({ stream, compression: 'none', chunkPages: 8 });
    const { extents } = await loadImage(device, 0, expectSame);
    // Alter the first chunk's payload and give its record the matching payload CRC: each chunk
    // still passes its own checks, only the CRC of the whole decoded stream can catch it.
    const at = extents[0]!.startPage * PAGE_SIZE;
    const chunk = decodeChunkHeader(device.bytes, at, false);
    const payload = device.bytes.subarray(at + CHUNK_HEADER_BYTES, at + CHUNK_HEADER_BYTES + chunk.storedBytes);
    payload[100] ^= 1;
    encodeChunkHeader(device.bytes, at, { ...chunk, payloadCrc32c: crc32c(payload) });
    await expect(loadImage(device, 0, expectSame, { availableMemoryBytes: PLENTY })).rejects.toThrow(/the uncompressed stream fails its CRC/);
  });
});
