/**
 * The TypeScript image writer: turns the kernel's snapshot stream into hiberkit's on-disk image
 * (docs/image-format.md). The emulator's critical section uses it; native/image_writer.cc is the
 * C++ twin used by the real one, and both write byte-identical images for the same stream,
 * allocator answers and identity (test/image-crosscheck.test.ts).
 *
 * Synchronous on purpose: it runs where nothing may be awaited (docs/snapshot-device.md §7.4).
 */
import { createHash } from 'node:crypto';
import { HiberkitError } from '../errors.js';
import { PAGE_SIZE } from '../ioctls.js';
import { crc32c, lz4Compress } from '../codec/index.js';
import {
  CHUNK_HEADER_BYTES,
  CODEC_LZ4,
  CODEC_RAW,
  DEFAULT_IO_BYTES,
  EXTENTS_PER_MAP_PAGE,
  FORMAT_VERSION,
  MAC_BYTES,
  MAX_CHUNK_PAGES,
  SIGNATURE_OFFSET,
  assertMarkable,
  encodeChunkHeader,
  encodeIdentityField,
  encodeExtentMapPage,
  encodeHeader,
  headerMacInput,
  markResumePage,
  pageContentCrc,
  signatureAt,
  type ChunkHeader,
  type Extent,
  type ImageHeader,
} from './format.js';
import { chunkAad, headerMac, imageKeysFor, sealChunk, wipeImageKeys, type ImageKeys } from './security.js';
import { wipe } from '../crypto/keys.js';
import type { BlockDevice, ImageEncryption, ImageIdentity } from '../backend.js';

export { invalidateImage } from './reader.js';

/** Hands out free swap pages: SNAPSHOT_ALLOC_SWAP_PAGE, or a list in tests. */
export interface SwapPageAllocator {
  /** Byte offset on the storage device of one free page (a multiple of 4096). */
  allocPage(): number;
}

export interface ImageWriterOptions {
  storage: BlockDevice;
  allocator: SwapPageAllocator;
  /** Page index of the swap header page on `storage`. */
  resumePage: number;
  /** That page as it is now (4096 bytes): it gets the marker, and is what invalidation puts back. */
  originalResumePage: Uint8Array;
  identity: ImageIdentity;
  compression: 'lz4' | 'none';
  /** Uncompressed pages per chunk (1..MAX_CHUNK_PAGES). */
  chunkPages: number;
  /** Pages the stream has (GET_IMAGE_SIZE / 4096); writePages must deliver exactly this many. */
  streamPages: number;
  /** Bytes per disk batch, a multiple of 4096 (default 4 MiB). */
  ioBytes?: number;
  /**
   * Encrypt and authenticate the image (docs/image-format.md §2.1). The writer derives its keys
   * from the data key and wipes them when it finishes or fails; the data key stays the caller's.
   */
  encryption?: ImageEncryption;
  /** The encrypted image's id; random unless given (for tests that compare the two writers). */
  imageId?: Uint8Array;
}

export interface ImageWriteSummary {
  streamPages: number;
  /** Bytes of the chunk stream (records, without the final padding). */
  storedBytes: number;
  /** Swap pages used: chunk stream, extent map and header. */
  storedPages: number;
  /** Extents of the chunk stream. */
  extents: number;
  headerPage: number;
}

export class ImageWriter {
  private readonly storage: BlockDevice;
  private readonly allocator: SwapPageAllocator;
  private readonly resumePage: number;
  private readonly originalResumePage: Uint8Array;
  private readonly identity: ImageIdentity;
  private readonly compress: boolean;
  private readonly chunkPages: number;
  private readonly streamPages: number;

  /** Pages of the stream received so far. */
  private receivedPages = 0;
  /** The chunk being collected (used only when writePages does not hand over whole chunks). */
  private readonly chunk: Uint8Array;
  private chunkFill = 0;
  private chunkIndex = 0;
  /** Compressed payload; one byte shorter than a chunk, so "it fits" means "it shrank". */
  private readonly payload: Uint8Array;
  private readonly recordHeader = new Uint8Array(CHUNK_HEADER_BYTES);
  private streamCrc = 0;

  /** Chunk stream bytes waiting for their disk batch. */
  private readonly io: Uint8Array;
  private ioFill = 0;
  private storedBytes = 0;
  private readonly extents: Extent[] = [];
  /** Set by finish() and by any failure: the writer is then spent and its keys wiped. */
  private finished = false;
  private readonly keys: ImageKeys | null;

  constructor(options: ImageWriterOptions) {
    const ioBytes = options.ioBytes ?? DEFAULT_IO_BYTES;
    if (!Number.isInteger(options.chunkPages) || options.chunkPages < 1 || options.chunkPages > MAX_CHUNK_PAGES) {
      throw new RangeError(`chunkPages must be 1..${MAX_CHUNK_PAGES}, got ${options.chunkPages}`);
    }
    if (!Number.isInteger(options.streamPages) || options.streamPages < 1) {
      throw new RangeError(`streamPages must be a positive integer, got ${options.streamPages}`);
    }
    if (!Number.isInteger(ioBytes) || ioBytes < PAGE_SIZE || ioBytes % PAGE_SIZE !== 0) {
      throw new RangeError(`ioBytes must be a positive multiple of ${PAGE_SIZE}, got ${ioBytes}`);
    }
    if (options.imageId && !options.encryption) throw new RangeError('an image id is only for an encrypted image');
    assertMarkable(options.originalResumePage, options.storage.path);
    // Checked now rather than when the header is written, after the whole stream.
    encodeIdentityField(options.identity.kernelRelease, 'kernel release');
    encodeIdentityField(options.identity.machineId, 'machine id');
    this.storage = options.storage;
    this.allocator = options.allocator;
    this.resumePage = options.resumePage;
    this.originalResumePage = options.originalResumePage;
    this.identity = options.identity;
    this.compress = options.compression === 'lz4';
    this.chunkPages = options.chunkPages;
    this.streamPages = options.streamPages;
    const chunkBytes = this.chunkPages * PAGE_SIZE;
    this.chunk = new Uint8Array(chunkBytes);
    this.payload = new Uint8Array(chunkBytes - 1);
    this.io = this.storage.allocAligned(ioBytes);
    // Last: nothing after it can throw and leave derived keys behind.
    this.keys = options.encryption ? imageKeysFor(options.encryption, options.imageId) : null;
  }

  /** Takes the next pages of the stream: any multiple of 4096 bytes. */
  writePages(buf: Uint8Array): void {
    if (this.finished) throw new Error('ImageWriter.writePages after finish() or a failure');
    if (buf.length % PAGE_SIZE !== 0) throw new RangeError(`writePages takes whole pages, got ${buf.length} bytes`);
    const pages = buf.length / PAGE_SIZE;
    if (this.receivedPages + pages > this.streamPages) {
      throw new RangeError(`the stream has ${this.streamPages} pages; ${this.receivedPages + pages} were written`);
    }
    this.receivedPages += pages;
    try {
      this.takePages(buf);
    } catch (err) {
      this.end();
      throw err;
    }
  }

  private takePages(buf: Uint8Array): void {
    const chunkBytes = this.chunk.length;
    let at = 0;
    while (at < buf.length) {
      if (this.chunkFill === 0 && buf.length - at >= chunkBytes) {
        // Whole chunks straight from the caller's buffer, without a copy.
        this.emitChunk(buf.subarray(at, at + chunkBytes));
        at += chunkBytes;
        continue;
      }
      const take = Math.min(chunkBytes - this.chunkFill, buf.length - at);
      this.chunk.set(buf.subarray(at, at + take), this.chunkFill);
      this.chunkFill += take;
      at += take;
      if (this.chunkFill === chunkBytes) {
        this.emitChunk(this.chunk);
        this.chunkFill = 0;
      }
    }
  }

  /**
   * Writes the rest: the last chunk, the padding, the extent map, the header, and last of all
   * the marked resume page, with a flush before and after it (docs/image-format.md §5 Writing).
   */
  finish(): ImageWriteSummary {
    if (this.finished) throw new Error('ImageWriter.finish called twice, or after a failure');
    if (this.receivedPages !== this.streamPages) {
      throw new RangeError(`the stream has ${this.streamPages} pages but only ${this.receivedPages} were written`);
    }
    try {
      return this.writeRest();
    } finally {
      this.end();
    }
  }

  /** Spends the writer: no more calls, and the derived keys and the last plaintext it held are wiped. */
  private end(): void {
    this.finished = true;
    if (this.keys) {
      wipeImageKeys(this.keys);
      wipe(this.chunk, this.payload);
    }
  }

  private writeRest(): ImageWriteSummary {
    if (this.chunkFill > 0) this.emitChunk(this.chunk.subarray(0, this.chunkFill));
    if (this.ioFill > 0) {
      const padded = roundUpToPage(this.ioFill);
      this.io.fill(0, this.ioFill, padded);
      this.writeStreamBatch(padded / PAGE_SIZE);
    }
    this.storage.flush();

    const map = this.writeExtentMap();
    const headerPage = this.allocPages(1)[0];
    const fields: ImageHeader = {
      version: FORMAT_VERSION,
      compressed: this.compress,
      platformMode: this.identity.platformMode,
      streamPages: this.streamPages,
      storedBytes: this.storedBytes,
      chunkPages: this.chunkPages,
      chunkCount: this.chunkIndex,
      streamCrc32c: this.streamCrc,
      extentMapPage: map.firstPage,
      extentMapPages: map.pages,
      extentCount: this.extents.length,
      extentMapCrc32c: map.crc32c,
      createdAtMs: this.identity.createdAtMs,
      kernelRelease: this.identity.kernelRelease,
      machineId: this.identity.machineId,
      encrypted: this.keys !== null,
    };
    const header = this.encodeHeader(fields, map.bytes);
    this.writePage(header, headerPage);
    this.storage.flush();

    this.writePage(markResumePage(this.originalResumePage, headerPage, pageContentCrc(header)), this.resumePage);
    this.storage.flush();

    return {
      streamPages: this.streamPages,
      storedBytes: this.storedBytes,
      storedPages: roundUpToPage(this.storedBytes) / PAGE_SIZE + map.pages + 1,
      extents: this.extents.length,
      headerPage,
    };
  }

  /** One chunk record: LZ4 if that makes it smaller, else the raw bytes; then sealed if encrypting. */
  private emitChunk(raw: Uint8Array): void {
    this.streamCrc = crc32c(raw, this.streamCrc);
    const compressedBytes = this.compress ? lz4Compress(raw, this.payload.subarray(0, raw.length - 1)) : 0;
    let payload = compressedBytes > 0 ? this.payload.subarray(0, compressedBytes) : raw;
    const chunk: ChunkHeader = {
      index: this.chunkIndex++,
      rawBytes: raw.length,
      storedBytes: payload.length,
      codec: compressedBytes > 0 ? CODEC_LZ4 : CODEC_RAW,
      payloadCrc32c: 0,
    };
    if (this.keys) {
      // The tag authenticates the header's first fields, which are final before the payload CRC is.
      encodeChunkHeader(this.recordHeader, 0, chunk);
      const sealed = sealChunk(this.keys.chunkKey, chunk.index, chunkAad(this.recordHeader, this.keys.imageId), payload);
      // The compressed plaintext must not linger once it is sealed (the raw chunk is wiped at the end).
      if (payload.buffer === this.payload.buffer) wipe(payload);
      payload = sealed.ciphertext;
      chunk.tag = sealed.tag;
    }
    chunk.payloadCrc32c = crc32c(payload);
    encodeChunkHeader(this.recordHeader, 0, chunk);
    this.append(this.recordHeader);
    this.append(payload);
  }

  /** The header page; an encrypted one with its security block (which hashes the extent map) and MAC. */
  private encodeHeader(header: ImageHeader, extentMap: Uint8Array): Uint8Array {
    if (!this.keys) return encodeHeader(header);
    const security = {
      keyBlock: this.keys.keyBlock,
      imageId: this.keys.imageId,
      extentMapSha256: createHash('sha256').update(extentMap).digest(),
      originalSignature: signatureAt(this.originalResumePage, SIGNATURE_OFFSET),
      headerMac: new Uint8Array(MAC_BYTES),
      originSignature: this.keys.originSignature,
    };
    const unsealed = encodeHeader(header, security);
    return encodeHeader(header, { ...security, headerMac: headerMac(this.keys.headerKey, headerMacInput(unsealed)) });
  }

  /** Adds bytes to the chunk stream, writing a batch each time the I/O buffer becomes full. */
  private append(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length) {
      const take = Math.min(this.io.length - this.ioFill, bytes.length - at);
      this.io.set(bytes.subarray(at, at + take), this.ioFill);
      this.ioFill += take;
      this.storedBytes += take;
      at += take;
      if (this.ioFill === this.io.length) this.writeStreamBatch(this.io.length / PAGE_SIZE);
    }
  }

  /** Allocates swap pages for the first `pages` pages of the I/O buffer, writes them, records the extents. */
  private writeStreamBatch(pages: number): void {
    const placed = this.allocPages(pages);
    for (const run of this.writeRuns(this.io, placed)) {
      const last = this.extents[this.extents.length - 1];
      if (last && last.startPage + last.pageCount === run.startPage) last.pageCount += run.pageCount;
      else this.extents.push({ ...run });
    }
    this.ioFill = 0;
  }

  /** The extent map pages, chained in order; all are allocated first so each knows its successor. */
  private writeExtentMap(): { firstPage: number; pages: number; crc32c: number; bytes: Uint8Array } {
    const count = Math.ceil(this.extents.length / EXTENTS_PER_MAP_PAGE);
    const placed = this.allocPages(count);
    const map = this.storage.allocAligned(count * PAGE_SIZE);
    let mapCrc = 0;
    for (let i = 0; i < count; i++) {
      const entries = this.extents.slice(i * EXTENTS_PER_MAP_PAGE, (i + 1) * EXTENTS_PER_MAP_PAGE);
      const page = encodeExtentMapPage(i, entries, i + 1 < count ? placed[i + 1] : 0);
      mapCrc = pageContentCrc(page, mapCrc);
      map.set(page, i * PAGE_SIZE);
    }
    this.writeRuns(map, placed);
    return { firstPage: placed[0], pages: count, crc32c: mapCrc, bytes: map };
  }

  /** `count` pages from the allocator, as page indexes, checked to be usable. */
  private allocPages(count: number): number[] {
    const pages: number[] = [];
    const devicePages = Math.floor(this.storage.size / PAGE_SIZE);
    for (let i = 0; i < count; i++) {
      const offset = this.allocator.allocPage();
      if (!Number.isSafeInteger(offset) || offset < 0 || offset % PAGE_SIZE !== 0) {
        throw new HiberkitError('BAD_SWAP_PAGE', `the swap allocator returned ${offset}, not a page offset`);
      }
      const page = offset / PAGE_SIZE;
      if (page === this.resumePage || page >= devicePages) {
        throw new HiberkitError('BAD_SWAP_PAGE', `the swap allocator returned page ${page}, which is the resume page or outside ${this.storage.path}`);
      }
      pages.push(page);
    }
    return pages;
  }

  /**
   * Writes page i of `buf` to page `placed[i]`, one write per run of consecutive page indexes,
   * and returns the runs.
   */
  private writeRuns(buf: Uint8Array, placed: readonly number[]): Extent[] {
    const runs: Extent[] = [];
    let first = 0;
    while (first < placed.length) {
      let end = first + 1;
      while (end < placed.length && placed[end] === placed[end - 1] + 1) end++;
      const run = { startPage: placed[first], pageCount: end - first };
      this.writeAll(buf.subarray(first * PAGE_SIZE, end * PAGE_SIZE), run.startPage);
      runs.push(run);
      first = end;
    }
    return runs;
  }

  private writePage(page: Uint8Array, pageIndex: number): void {
    const aligned = this.storage.allocAligned(PAGE_SIZE);
    aligned.set(page);
    this.writeAll(aligned, pageIndex);
  }

  private writeAll(buf: Uint8Array, pageIndex: number): void {
    const written = this.storage.writeSync(buf, pageIndex * PAGE_SIZE);
    if (written !== buf.length) {
      throw new HiberkitError('SHORT_WRITE', `wrote ${written} of ${buf.length} bytes at page ${pageIndex} of ${this.storage.path}`);
    }
  }
}

function roundUpToPage(bytes: number): number {
  return Math.ceil(bytes / PAGE_SIZE) * PAGE_SIZE;
}
