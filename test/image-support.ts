/**
 * Shared fixtures of the codec and image tests: deterministic data generators, an in-memory block
 * device that logs its writes and flushes, swap header pages as mkswap makes them, swap
 * allocators that hand out pages in chosen patterns, and helpers to write and read back images.
 */
import { expect } from 'vitest';
import { HiberkitError } from '../lib/errors.js';
import { PAGE_SIZE } from '../lib/ioctls.js';
import { CHUNK_HEADER_BYTES, decodeChunkHeader } from '../lib/image/format.js';
import { generateRawKeyPair, newDataKey, openDataKey, sealDataKey } from '../lib/crypto/keys.js';
import { generateSigningKeyPair, signOrigin } from '../lib/crypto/origin.js';
import { ImageWriter, type ImageWriteSummary, type SwapPageAllocator } from '../lib/image/writer.js';
import type { LoadOptions, OpenedImage } from '../lib/image/reader.js';
import type { BlockDevice, ImageEncryption, ImageIdentity } from '../lib/backend.js';
import { seededRandom } from '../vm/guest/scenarios/bench-data.js';

// One seeded generator for every reproducible test input: the one the guest's benchmark data uses.
export { seededRandom };

export function randomBytes(length: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}

const WORDS = (
  'the kernel writes every page of memory to swap before the machine powers off and reads it back ' +
  'when it boots again while user space is frozen hibernation image header extent chunk stream ' +
  'compression checksum resume device offset swap signature page frame number metadata'
).split(' ');

/** Text-like bytes: words, spaces, numbers and newlines, compressible about 2-3x. */
export function textBytes(length: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  const parts: string[] = [];
  let size = 0;
  while (size < length) {
    const word = random() < 0.1 ? String(Math.floor(random() * 100000)) : WORDS[Math.floor(random() * WORDS.length)];
    const part = word + (random() < 0.08 ? '\n' : ' ');
    parts.push(part);
    size += part.length;
  }
  return Uint8Array.from(Buffer.from(parts.join('').slice(0, length), 'latin1'));
}

/** A stream that looks like a snapshot: zero pages, text pages, random pages, repeated pages. */
export function snapshotLikeStream(pages: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  const stream = new Uint8Array(pages * PAGE_SIZE);
  for (let p = 0; p < pages; p++) {
    const kind = random();
    const at = p * PAGE_SIZE;
    if (kind < 0.3) continue; // zero page
    if (kind < 0.7) stream.set(textBytes(PAGE_SIZE, seed * 7919 + p), at);
    else if (kind < 0.85) stream.set(randomBytes(PAGE_SIZE, seed * 104729 + p), at);
    else if (p > 0) stream.copyWithin(at, at - PAGE_SIZE, at);
  }
  return stream;
}

/** A swap header page as mkswap writes it: version 1, last page, a UUID, "SWAPSPACE2" at 4086. */
export function swapHeaderPage(lastPage: number, signature = 'SWAPSPACE2'): Uint8Array {
  const page = new Uint8Array(PAGE_SIZE);
  const view = new DataView(page.buffer);
  view.setUint32(1024, 1, true);
  view.setUint32(1028, lastPage, true);
  page.set(randomBytes(16, lastPage), 1036);
  page.set(Buffer.from('hiberkit-test', 'latin1'), 1052);
  page.set(Buffer.from(signature, 'latin1'), 4086);
  return page;
}

export type DeviceEvent = { kind: 'write'; page: number; pages: number } | { kind: 'flush' };

/** A BlockDevice over memory that records every write (in pages) and flush. */
export class MemoryBlockDevice implements BlockDevice {
  readonly logicalBlockSize = 512;
  readonly direct = false;
  readonly events: DeviceEvent[] = [];

  constructor(
    readonly bytes: Uint8Array,
    readonly path = '/dev/memory',
  ) {}

  get size(): number {
    return this.bytes.length;
  }

  allocAligned(bytes: number): Uint8Array {
    return new Uint8Array(bytes);
  }

  readSync(buf: Uint8Array, position: number): number {
    const n = Math.max(0, Math.min(buf.length, this.size - position));
    buf.set(this.bytes.subarray(position, position + n));
    return n;
  }

  writeSync(buf: Uint8Array, position: number): number {
    if (position % PAGE_SIZE !== 0 || buf.length % PAGE_SIZE !== 0) throw new Error(`unaligned write of ${buf.length} at ${position}`);
    if (position + buf.length > this.size) throw new Error(`write past the end: ${buf.length} at ${position}`);
    this.bytes.set(buf, position);
    this.events.push({ kind: 'write', page: position / PAGE_SIZE, pages: buf.length / PAGE_SIZE });
    return buf.length;
  }

  async read(buf: Uint8Array, position: number): Promise<number> {
    return this.readSync(buf, position);
  }

  async write(buf: Uint8Array, position: number): Promise<number> {
    return this.writeSync(buf, position);
  }

  flush(): void {
    this.events.push({ kind: 'flush' });
  }

  close(): void {}
}

/** A swap device of `pages` pages whose page `resumePage` is a fresh swap header; the rest is noise. */
export function swapDevice(pages: number, resumePage = 0, seed = 1): { device: MemoryBlockDevice; original: Uint8Array } {
  const bytes = randomBytes(pages * PAGE_SIZE, seed);
  const original = swapHeaderPage(pages - 1);
  bytes.set(original, resumePage * PAGE_SIZE);
  return { device: new MemoryBlockDevice(bytes), original };
}

/** Page index sequences in the shapes a swap allocator may produce. */
export const allocationPatterns = {
  /** One run from `first`. */
  contiguous: (count: number, first = 1): number[] => Array.from({ length: count }, (_, i) => first + i),
  /** Every other page: no two consecutive. */
  scattered: (count: number, first = 1): number[] => Array.from({ length: count }, (_, i) => first + 2 * i),
  /** Runs of `run` pages handed out from the top of the area down. */
  descendingRuns: (count: number, top: number, run = 5): number[] =>
    Array.from({ length: count }, (_, i) => top - (Math.floor(i / run) + 1) * run + (i % run)),
  /** A shuffled range: runs appear only by chance. */
  shuffled: (count: number, first: number, seed: number): number[] => {
    const pages = Array.from({ length: count }, (_, i) => first + i);
    const random = seededRandom(seed);
    for (let i = pages.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [pages[i], pages[j]] = [pages[j], pages[i]];
    }
    return pages;
  },
};

/** An allocator over page indexes, answering byte offsets like SNAPSHOT_ALLOC_SWAP_PAGE. */
export function listAllocator(pages: readonly number[]): SwapPageAllocator & { used: number } {
  const allocator = {
    used: 0,
    allocPage(): number {
      if (allocator.used >= pages.length) throw new Error('test allocator exhausted');
      return pages[allocator.used++] * PAGE_SIZE;
    },
  };
  return allocator;
}

export const testIdentity: ImageIdentity = {
  kernelRelease: '6.1.0-27-cloud-amd64',
  machineId: '0123456789abcdef0123456789abcdef',
  createdAtMs: 1_760_000_000_123,
  platformMode: false,
};

/** What loadImage expects of images made with testIdentity. */
export const expectSame = { kernelRelease: testIdentity.kernelRelease, machineId: testIdentity.machineId };

export interface WriteCase {
  stream: Uint8Array;
  devicePages?: number;
  resumePage?: number;
  pages?: number[];
  compression?: 'lz4' | 'none';
  chunkPages?: number;
  ioBytes?: number;
  /** Pages handed to writePages per call. */
  feedPages?: number;
  identity?: ImageIdentity;
  encryption?: ImageEncryption;
  imageId?: Uint8Array;
}

/** Writes `c.stream` with the TypeScript writer onto a fresh swap device (contiguous pages by default). */
export function writeImage(c: WriteCase): { device: MemoryBlockDevice; original: Uint8Array; summary: ImageWriteSummary; resumePage: number } {
  const streamPages = c.stream.length / PAGE_SIZE;
  const devicePages = c.devicePages ?? streamPages * 3 + 64;
  const resumePage = c.resumePage ?? 0;
  const { device, original } = swapDevice(devicePages, resumePage);
  const writer = new ImageWriter({
    storage: device,
    allocator: listAllocator(c.pages ?? allocationPatterns.contiguous(devicePages - 1, 1)),
    resumePage,
    originalResumePage: original,
    identity: c.identity ?? testIdentity,
    compression: c.compression ?? 'lz4',
    chunkPages: c.chunkPages ?? 32,
    streamPages,
    ioBytes: c.ioBytes ?? 64 * 1024,
    encryption: c.encryption,
    imageId: c.imageId,
  });
  const feed = (c.feedPages ?? 64) * PAGE_SIZE;
  for (let at = 0; at < c.stream.length; at += feed) writer.writePages(c.stream.subarray(at, at + feed));
  return { device, original, summary: writer.finish(), resumePage };
}

/**
 * Byte offsets in `bytes` of the first `count` chunk records of a chunk stream that starts at
 * `start` and runs on contiguously (the contiguous swap pages writeImage uses by default).
 */
export function recordOffsets(bytes: Uint8Array, start: number, count: number, encrypted: boolean): number[] {
  const offsets: number[] = [];
  for (let at = start, i = 0; i < count; i++) {
    offsets.push(at);
    at += CHUNK_HEADER_BYTES + decodeChunkHeader(bytes, at, encrypted).storedBytes;
  }
  return offsets;
}

/** The whole uncompressed stream of a loaded image, checking the batch sizes on the way. */
export async function streamOf(image: OpenedImage, batchPages?: number): Promise<Buffer> {
  const batches: Buffer[] = [];
  for await (const batch of image.pages(batchPages)) {
    expect(batch.length % PAGE_SIZE).toBe(0);
    if (batchPages) expect(batch.length).toBeLessThanOrEqual(batchPages * PAGE_SIZE);
    batches.push(Buffer.from(batch)); // copied: the batch buffer is reused
  }
  return Buffer.concat(batches);
}

/** Byte equality without vitest's element-by-element diff, which is slow on megabytes. */
export function expectSameBytes(actual: Uint8Array, expected: Uint8Array, label?: string): void {
  expect(actual.length, label).toBe(expected.length);
  expect(Buffer.compare(actual, expected), label).toBe(0);
}

/** The code of the HiberkitError the promise rejects with, or 'no error'; anything else is rethrown. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof HiberkitError) return err.code;
    throw err;
  }
  return 'no error';
}

/** A new data key sealed with a passphrase, and the loadImage options that open it with `given`. */
export function passphraseEncryption(passphrase: string): { encryption: ImageEncryption; unlockWith: (given: string) => LoadOptions } {
  const dataKey = newDataKey();
  const encryption = { dataKey, keyBlock: sealDataKey(dataKey, { passphrase: Buffer.from(passphrase) }) };
  return { encryption, unlockWith: (given) => ({ unlock: async (block) => openDataKey(block, { passphrase: Buffer.from(given) }) }) };
}

/**
 * A new data key sealed to a fresh X25519 key pair (opening it takes well under a millisecond,
 * unlike a passphrase's scrypt), and the loadImage options that open it with the private key.
 */
/**
 * Like publicKeyEncryption, signed as this machine's hibernate signs (lib/crypto/origin.ts), with
 * the id `imageId`; the options open it only with a valid origin signature.
 */
export function signedPublicKeyEncryption(imageId: Uint8Array): { encryption: ImageEncryption; options: LoadOptions; verifyKey: Buffer } {
  const { encryption, privateKey } = publicKeyEncryption();
  const { signingKey, verifyKey } = generateSigningKeyPair();
  const signed = { ...encryption, origin: { imageId, signature: signOrigin(signingKey, imageId, encryption.keyBlock) } };
  return { encryption: signed, options: { unlock: async (block) => ({ dataKey: openDataKey(block, { privateKey }), verifyKey }) }, verifyKey };
}

export function publicKeyEncryption(): { encryption: ImageEncryption; options: LoadOptions; privateKey: Buffer } {
  const pair = generateRawKeyPair();
  const dataKey = newDataKey();
  const encryption = { dataKey, keyBlock: sealDataKey(dataKey, { publicKey: pair.publicKey }) };
  return { encryption, options: { unlock: async (block) => openDataKey(block, { privateKey: pair.privateKey }) }, privateKey: pair.privateKey };
}
