/**
 * Finds, verifies and reads back a hiberkit image (docs/image-format.md §6), and discards
 * it by putting the original swap header page back.
 *
 * loadImage checks everything before the caller sends a single byte to /dev/snapshot: the
 * marker, the header, the extent map, every chunk record and the CRC of the whole uncompressed
 * stream; for an encrypted image also the header MAC, the extent map's SHA-256 and every chunk's
 * tag. Every refusal is a HiberkitError with a code saying why:
 *   NO_IMAGE            the resume page is an ordinary swap header
 *   FOREIGN_SIGNATURE   it belongs to another hibernation tool, or is not swap at all
 *   UNSUPPORTED_VERSION a hiberkit image of another format version or with unknown features
 *   IMAGE_CORRUPT       a magic, CRC, count or reserved byte is wrong
 *   IMAGE_TRUNCATED     the image reaches past the end of the device, or a read came back short
 *   IMAGE_TAMPERED      an encrypted image fails a MAC, tag or hash although its CRCs hold
 *   KEY_REQUIRED        the image is encrypted and no unlock callback was given
 *   IMAGE_NOT_ENCRYPTED the caller requires encryption and the image has none
 *   WRONG_KERNEL        made by another kernel release
 *   WRONG_MACHINE       made on another machine
 * plus whatever the unlock callback throws (WRONG_PASSPHRASE, WRONG_KEY), passed through as is.
 */
import { createHash } from 'node:crypto';
import { HiberkitError } from '../errors.js';
import { PAGE_SIZE } from '../ioctls.js';
import { crc32c, lz4Decompress } from '../codec/index.js';
import { DATA_KEY_BYTES, deriveImageKeys, keyBlockKind, wipe } from '../crypto/keys.js';
import {
  CHUNK_HEADER_BYTES,
  CODEC_LZ4,
  assertMarkable,
  checkHeaderPage,
  classifyResumePage,
  decodeChunkHeader,
  decodeExtentMapPage,
  decodeHeader,
  decodeMarker,
  decodeSecurityBlock,
  headerMacInput,
  isZero,
  pageContentCrc,
  restoreOriginalPage,
  type ChunkHeader,
  type Extent,
  type ImageHeader,
  type ResumeMarker,
  type SecurityBlock,
} from './format.js';
import { chunkAad, headerMacMatches, openChunk } from './security.js';
import type { BlockDevice } from '../backend.js';

/** Largest single read of the chunk stream. */
const READ_BYTES = 8 << 20;

/**
 * Memory left free beside the decoded stream and the kernel's copy of it when loadImage decides
 * to keep the decoded stream: the rest of the boot (and node itself) still needs room.
 */
const DECODE_ONCE_MARGIN_BYTES = 64 << 20;

/** A resume page that carries hiberkit's marker. */
export interface FoundMarker {
  /** The resume page as it is on disk. */
  markedPage: Uint8Array;
  /** The swap header page it replaced: write it back to discard the image (see invalidateImage). */
  originalPage: Uint8Array;
}

/** What the image must have been made for; null skips that check (inspection tools). */
export interface ExpectedIdentity {
  kernelRelease: string | null;
  machineId: string | null;
}

/** How an encrypted image's data key is sealed (lib/crypto/keys.ts). */
export type KeyKind = ReturnType<typeof keyBlockKind>;

export interface LoadOptions {
  /**
   * Opens an encrypted image: receives its sealed key block and how it is sealed, returns the
   * 32-byte data key (loadImage wipes it once it has derived the image keys: return a copy to
   * keep one). For a wrong passphrase or key it throws WRONG_PASSPHRASE or WRONG_KEY
   * (lib/crypto/keys.ts openDataKey); loadImage passes every error of it through unchanged, so
   * the caller can ask again.
   */
  unlock?: (keyBlock: Uint8Array, kind: KeyKind) => Promise<Uint8Array>;
  /**
   * Refuse an image without encryption (IMAGE_NOT_ENCRYPTED). A system set up for encrypted
   * images must ask for this: a plain image is not authenticated, so without it whoever can write
   * the disk could put a plain image of their making in place of the encrypted one.
   */
  requireEncryption?: boolean;
  /**
   * Memory the system has available now (MemAvailable). When it holds the stored stream, the
   * decoded stream and the kernel's own copy of the image with room to spare, verification keeps
   * every chunk it decodes and pages() hands out those bytes: each chunk is decompressed once.
   * Without it, or when memory is short, pages() decodes every chunk a second time.
   */
  availableMemoryBytes?: number;
}

/** What readHeaderSummary finds: facts from the header, checked for damage but not authenticated. */
export interface HeaderSummary {
  marker: ResumeMarker;
  /** Decoded and CRC-checked; for an encrypted image unverified until loadImage checks its MAC. */
  header: ImageHeader;
  /** How an encrypted image's key is sealed; null for an image without encryption. */
  keyKind: KeyKind | null;
}

/**
 * Looks at the resume page only: null for an ordinary swap header (no image), the marked and
 * original pages when hiberkit's signature is there. Throws FOREIGN_SIGNATURE for another tool's
 * image or a page that is not swap at all, UNSUPPORTED_VERSION for another hiberkit marker
 * version, IMAGE_CORRUPT when the original signature cannot be rebuilt. It does not check the
 * marker's CRC: a damaged marker must still be undoable. loadImage checks the rest.
 */
export function readMarker(storage: BlockDevice, resumePage: number): FoundMarker | null {
  const page = readPageSync(storage, resumePage, 'the resume page');
  const state = classifyResumePage(page);
  switch (state.kind) {
    case 'swap':
      return null;
    case 'hiberkit':
      return { markedPage: page, originalPage: restoreOriginalPage(page) };
    case 'hiberkit-other-version':
      throw new HiberkitError('UNSUPPORTED_VERSION', `the resume page carries ${state.signature}, a hiberkit marker version this hiberkit does not read`);
    case 'foreign-image':
      throw new HiberkitError(
        'FOREIGN_SIGNATURE',
        `the resume page of ${storage.path} holds an image of ${state.owner} (signature ${JSON.stringify(state.signature)}); hiberkit leaves it alone`,
      );
    case 'unknown':
      throw new HiberkitError(
        'FOREIGN_SIGNATURE',
        `page ${resumePage} of ${storage.path} is neither a swap header nor a hiberkit image (signature ${JSON.stringify(state.signature)}); check the resume device and offset`,
      );
  }
}

/**
 * The facts of the image header without reading the rest (for `hiberkit inspect`): the marker and
 * the header page, checked for damage (CRCs, reserved bytes, counts) but neither authenticated nor
 * checked against this machine and kernel. Throws like loadImage for what it does check.
 */
export function readHeaderSummary(storage: BlockDevice, resumePage: number): HeaderSummary {
  const { marker, headerPage } = readMarkedHeader(storage, resumePage);
  const header = decodeHeader(headerPage);
  return { marker, header, keyKind: header.encrypted ? keyBlockKind(decodeSecurityBlock(headerPage).keyBlock) : null };
}

/**
 * Reads and verifies the whole image; the stored chunk stream stays in memory for pages(). For an
 * encrypted image the checks run in this order, so that nothing unauthenticated is acted on:
 * header CRC, key block, unlock, header MAC, then the other header fields, the extent map's
 * SHA-256, and per chunk its CRC, its tag (the payload is decrypted in place), its decompression;
 * last the CRC of the whole stream.
 */
export async function loadImage(storage: BlockDevice, resumePage: number, expect: ExpectedIdentity, options: LoadOptions = {}): Promise<LoadedImage> {
  const { found, marker, headerPage } = readMarkedHeader(storage, resumePage);
  const { encrypted } = checkHeaderPage(headerPage);
  if (!encrypted && options.requireEncryption) {
    throw new HiberkitError('IMAGE_NOT_ENCRYPTED', `the image on ${storage.path} is not encrypted, and this system only resumes encrypted images`);
  }
  const sealed = encrypted ? await authenticateHeader(headerPage, marker, options.unlock) : null;
  try {
    const header = decodeHeader(headerPage);
    checkIdentity(header, expect);
    const { extents, mapPages } = readExtentMap(storage, header, sealed?.security.extentMapSha256 ?? null);
    checkPlacement(header, extents, [resumePage, marker.headerPage, ...mapPages], Math.floor(storage.size / PAGE_SIZE));
    const stream = await readChunkStream(storage, extents);
    if (!isZero(stream, header.storedBytes, stream.length)) throw corrupt('the padding after the last chunk record is not zero');
    const decoded = keepsDecodedStream(header, options.availableMemoryBytes) ? new Uint8Array(header.streamPages * PAGE_SIZE) : null;
    const chunks = verifyStream(stream, header, sealed, decoded);
    return new LoadedImage(marker, header, extents, found, decoded ?? chunks);
  } finally {
    if (sealed) wipe(sealed.chunkKey);
  }
}

export class LoadedImage {
  /** @internal built by loadImage only, after verification. */
  constructor(
    readonly marker: ResumeMarker,
    readonly header: ImageHeader,
    /** The chunk stream's extents on the device, in stream order. */
    readonly extents: readonly Extent[],
    private readonly found: FoundMarker,
    /**
     * The whole uncompressed stream, decoded during verification; or, when there was no room for
     * it, every chunk, verified (and decrypted in place), as views of the chunk stream read from disk.
     */
    private readonly content: Uint8Array | readonly ChunkRecord[],
  ) {}

  /** Whether the uncompressed stream was kept from verification, so pages() decodes nothing again. */
  get decodedOnce(): boolean {
    return this.content instanceof Uint8Array;
  }

  /** The swap header page to write back to discard the image. */
  get originalPage(): Uint8Array {
    return this.found.originalPage;
  }

  /**
   * The uncompressed snapshot stream, in batches of at most `batchPages` pages (the last one may be
   * shorter). Each batch is a view of a buffer that may be refilled for the next batch: use it
   * (write it to /dev/snapshot) before asking for the next one.
   */
  async *pages(batchPages = 256): AsyncGenerator<Uint8Array, void, undefined> {
    if (!Number.isInteger(batchPages) || batchPages < 1) throw new RangeError(`batchPages must be a positive integer, got ${batchPages}`);
    if (this.content instanceof Uint8Array) {
      const step = batchPages * PAGE_SIZE;
      for (let at = 0; at < this.content.length; at += step) yield this.content.subarray(at, at + step);
      return;
    }
    const batch = new Uint8Array(batchPages * PAGE_SIZE);
    const scratch = new Uint8Array(this.header.chunkPages * PAGE_SIZE);
    let fill = 0;
    for (const chunk of this.content) {
      const raw = decodeChunk(chunk, scratch);
      let at = 0;
      while (at < raw.length) {
        const take = Math.min(batch.length - fill, raw.length - at);
        batch.set(raw.subarray(at, at + take), fill);
        fill += take;
        at += take;
        if (fill === batch.length) {
          yield batch;
          fill = 0;
        }
      }
    }
    if (fill > 0) yield batch.subarray(0, fill);
  }
}

/**
 * Discards the image: writes the original swap header page back at `resumePage` and flushes, so
 * the area is ordinary swap again. Takes either the original page or the marked one (the
 * original is rebuilt from the marker). Synchronous: it also runs with user space frozen.
 */
export function invalidateImage(storage: BlockDevice, resumePage: number, originalOrMarkedPage: Uint8Array): void {
  const original = classifyResumePage(originalOrMarkedPage).kind === 'hiberkit' ? restoreOriginalPage(originalOrMarkedPage) : originalOrMarkedPage;
  assertMarkable(original, 'the page to put back');
  const aligned = storage.allocAligned(PAGE_SIZE);
  aligned.set(original);
  const written = storage.writeSync(aligned, resumePage * PAGE_SIZE);
  if (written !== PAGE_SIZE) throw new HiberkitError('SHORT_WRITE', `wrote ${written} of ${PAGE_SIZE} bytes of the resume page of ${storage.path}`);
  storage.flush();
}

function checkIdentity(header: ImageHeader, expect: ExpectedIdentity): void {
  if (expect.machineId !== null && header.machineId !== expect.machineId) {
    throw new HiberkitError('WRONG_MACHINE', `the image was made on machine ${JSON.stringify(header.machineId)}, this is ${JSON.stringify(expect.machineId)}`);
  }
  if (expect.kernelRelease !== null && header.kernelRelease !== expect.kernelRelease) {
    // Facts only: whether booting that kernel can still resume it depends on the caller (resume discards it).
    throw new HiberkitError('WRONG_KERNEL', `the image was made by kernel ${header.kernelRelease}, this is ${expect.kernelRelease}`);
  }
}

/** The marker and the header page it names, the page checked against the marker's CRC. */
function readMarkedHeader(storage: BlockDevice, resumePage: number): { found: FoundMarker; marker: ResumeMarker; headerPage: Uint8Array } {
  const found = readMarker(storage, resumePage);
  if (!found) throw new HiberkitError('NO_IMAGE', `${storage.path} holds no hiberkit image (page ${resumePage} is a plain swap header)`);
  const marker = decodeMarker(found.markedPage);
  if (marker.headerPage === resumePage) throw corrupt('the marker names the resume page itself as the image header');
  const headerPage = readPageSync(storage, marker.headerPage, 'the image header');
  if (pageContentCrc(headerPage) !== marker.headerCrc32c) throw corrupt('the image header page is not the one the marker was written for');
  return { found, marker, headerPage };
}

/** What an authenticated encrypted header yields for reading the rest. */
interface SealedImage {
  security: SecurityBlock;
  chunkKey: Buffer;
}

/**
 * Unlocks an encrypted image and verifies its header MAC and the marker's copy of the original
 * signature. Until this returns, nothing in the header but its CRC and key block is believed.
 */
async function authenticateHeader(page: Uint8Array, marker: ResumeMarker, unlock: LoadOptions['unlock']): Promise<SealedImage> {
  const security = decodeSecurityBlock(page);
  const kind = keyBlockKind(security.keyBlock);
  if (!unlock) throw new HiberkitError('KEY_REQUIRED', `the image is encrypted (sealed with a ${kind}); give the ${kind === 'passphrase' ? 'passphrase' : 'private key'} to open it`);
  const dataKey = await unlock(Uint8Array.from(security.keyBlock), kind);
  if (dataKey.length !== DATA_KEY_BYTES) {
    wipe(dataKey);
    throw new RangeError(`unlock must return the ${DATA_KEY_BYTES}-byte data key, got ${dataKey.length} bytes`);
  }
  const { chunkKey, headerKey } = deriveImageKeys(dataKey);
  wipe(dataKey);
  try {
    if (!headerMacMatches(headerKey, headerMacInput(page), security.headerMac)) {
      throw tampered('the image header fails its MAC: it was altered after it was written');
    }
    if (security.originalSignature !== marker.originalSignature) {
      throw tampered(`the marker keeps ${JSON.stringify(marker.originalSignature)} as the original signature, the header ${JSON.stringify(security.originalSignature)}`);
    }
  } catch (err) {
    wipe(chunkKey);
    throw err;
  } finally {
    wipe(headerKey);
  }
  return { security, chunkKey };
}

/**
 * Follows the chain of extent map pages and checks it against the header; for an encrypted image
 * also against the SHA-256 in its authenticated security block.
 */
function readExtentMap(storage: BlockDevice, header: ImageHeader, expectedSha256: Uint8Array | null): { extents: Extent[]; mapPages: number[] } {
  const extents: Extent[] = [];
  const mapPages: number[] = [];
  const digest = createHash('sha256');
  let mapCrc = 0;
  let next = header.extentMapPage;
  for (let sequence = 0; sequence < header.extentMapPages; sequence++) {
    if (next === 0) throw corrupt(`the extent map ends after ${sequence} of ${header.extentMapPages} pages`);
    const page = readPageSync(storage, next, `extent map page ${sequence}`);
    mapCrc = pageContentCrc(page, mapCrc);
    digest.update(page);
    const decoded = decodeExtentMapPage(page, sequence);
    mapPages.push(next);
    extents.push(...decoded.extents);
    next = decoded.nextPage;
  }
  if (next !== 0) throw corrupt(`the extent map goes on after its ${header.extentMapPages} pages`);
  if (mapCrc !== header.extentMapCrc32c) throw corrupt('the extent map is not the one the header was written with');
  if (expectedSha256 && !digest.digest().equals(expectedSha256)) throw tampered('the extent map fails its SHA-256: it was altered after it was written');
  if (extents.length !== header.extentCount) throw corrupt(`the extent map holds ${extents.length} extents, the header says ${header.extentCount}`);
  return { extents, mapPages };
}

/**
 * Every page the image uses lies on the device, and no two uses overlap: the extents, the
 * resume page, the header page and the map pages. The extents hold exactly the stored bytes.
 */
function checkPlacement(header: ImageHeader, extents: Extent[], singlePages: number[], devicePages: number): void {
  const used: Extent[] = [...extents, ...singlePages.map((page) => ({ startPage: page, pageCount: 1 }))];
  let total = 0;
  for (const extent of extents) {
    if (extent.pageCount < 1) throw corrupt('the extent map holds an empty extent');
    total += extent.pageCount;
  }
  for (const extent of used) {
    if (extent.startPage + extent.pageCount > devicePages) {
      throw new HiberkitError(
        'IMAGE_TRUNCATED',
        `the image uses pages up to ${extent.startPage + extent.pageCount - 1}, but the device has ${devicePages} pages`,
      );
    }
  }
  used.sort((a, b) => a.startPage - b.startPage);
  for (let i = 1; i < used.length; i++) {
    if (used[i - 1].startPage + used[i - 1].pageCount > used[i].startPage) throw corrupt(`the image uses page ${used[i].startPage} twice`);
  }
  if (total !== Math.ceil(header.storedBytes / PAGE_SIZE)) {
    throw corrupt(`the extents hold ${total} pages, but ${header.storedBytes} stored bytes need ${Math.ceil(header.storedBytes / PAGE_SIZE)}`);
  }
}

/** Reads the extents in order, in large reads, into one buffer. */
async function readChunkStream(storage: BlockDevice, extents: readonly Extent[]): Promise<Uint8Array> {
  const totalPages = extents.reduce((sum, e) => sum + e.pageCount, 0);
  const stream = storage.allocAligned(totalPages * PAGE_SIZE);
  let at = 0;
  for (const extent of extents) {
    const end = at + extent.pageCount * PAGE_SIZE;
    let position = extent.startPage * PAGE_SIZE;
    while (at < end) {
      const piece = stream.subarray(at, Math.min(end, at + READ_BYTES));
      const n = await storage.read(piece, position);
      if (n <= 0 || n % PAGE_SIZE !== 0) {
        throw new HiberkitError('IMAGE_TRUNCATED', `reading ${storage.path} at byte ${position} returned ${n} bytes: the image is cut short`);
      }
      at += n;
      position += n;
    }
  }
  return stream;
}

/** One record of the chunk stream: its decoded header, and views of its header and payload bytes. */
interface ChunkRecord {
  chunk: ChunkHeader;
  recordHeader: Uint8Array;
  payload: Uint8Array;
}

/**
 * Whether there is room to keep the decoded stream: the stored stream is already in memory, and
 * the kernel allocates about the decoded size again while the image is uploaded.
 */
function keepsDecodedStream(header: ImageHeader, availableMemoryBytes: number | undefined): boolean {
  if (availableMemoryBytes === undefined) return false;
  const decodedBytes = header.streamPages * PAGE_SIZE;
  return availableMemoryBytes >= header.storedBytes + 2 * decodedBytes + DECODE_ONCE_MARGIN_BYTES;
}

/**
 * Checks every chunk record, opens each encrypted payload in place, decodes every chunk and checks
 * the CRC of the whole uncompressed stream. With `decoded`, each chunk is decoded into its place
 * there (chunk i starts at page i × chunkPages), so the caller has the stream without decoding again.
 */
function verifyStream(stream: Uint8Array, header: ImageHeader, sealed: SealedImage | null, decoded: Uint8Array | null): ChunkRecord[] {
  const chunkBytes = header.chunkPages * PAGE_SIZE;
  const scratch = decoded ? null : new Uint8Array(chunkBytes);
  const chunks: ChunkRecord[] = [];
  let crc = 0;
  for (const record of chunkRecords(stream, header)) {
    if (sealed) openInPlace(record, sealed);
    const target = scratch ?? decoded!.subarray(record.chunk.index * chunkBytes);
    const raw = decodeChunk(record, target);
    if (decoded && record.chunk.codec !== CODEC_LZ4) target.set(raw);
    crc = crc32c(raw, crc);
    chunks.push(record);
  }
  if (crc !== header.streamCrc32c) throw corrupt('the uncompressed stream fails its CRC');
  return chunks;
}

/** Replaces a sealed payload with its plaintext once the tag has verified it. */
function openInPlace(record: ChunkRecord, sealed: SealedImage): void {
  const aad = chunkAad(record.recordHeader, sealed.security.imageId);
  const plaintext = openChunk(sealed.chunkKey, record.chunk.index, aad, record.payload, record.chunk.tag!);
  if (!plaintext) throw tampered(`chunk ${record.chunk.index} fails its authentication tag: it was altered after it was written`);
  record.payload.set(plaintext);
}

/**
 * The records of the chunk stream, each checked on its own (magic, CRCs, index, lengths, codec);
 * after the last, that they cover the stream exactly. The caller must iterate to the end for the
 * final checks to run.
 */
function* chunkRecords(stream: Uint8Array, header: ImageHeader): Generator<ChunkRecord> {
  let at = 0;
  for (let index = 0; index < header.chunkCount; index++) {
    const chunk = decodeChunkHeader(stream.subarray(0, header.storedBytes), at, header.encrypted);
    const where = `chunk ${index} (stream byte ${at})`;
    if (chunk.index !== index) throw corrupt(`${where} is numbered ${chunk.index}`);
    const expectedRaw = Math.min(header.chunkPages, header.streamPages - index * header.chunkPages) * PAGE_SIZE;
    if (chunk.rawBytes !== expectedRaw) throw corrupt(`${where} holds ${chunk.rawBytes} bytes, expected ${expectedRaw}`);
    if (chunk.codec === CODEC_LZ4) {
      if (!header.compressed) throw corrupt(`${where} is compressed in an image without compression`);
      if (chunk.storedBytes < 1 || chunk.storedBytes >= chunk.rawBytes) throw corrupt(`${where} is an LZ4 block of ${chunk.storedBytes} bytes`);
    } else if (chunk.storedBytes !== chunk.rawBytes) {
      throw corrupt(`${where} is stored raw in ${chunk.storedBytes} bytes instead of ${chunk.rawBytes}`);
    }
    const payloadStart = at + CHUNK_HEADER_BYTES;
    const payloadEnd = payloadStart + chunk.storedBytes;
    if (payloadEnd > header.storedBytes) throw corrupt(`${where} reaches past the end of the chunk stream`);
    const payload = stream.subarray(payloadStart, payloadEnd);
    if (crc32c(payload) !== chunk.payloadCrc32c) throw corrupt(`${where} fails its payload CRC`);
    yield { chunk, recordHeader: stream.subarray(at, payloadStart), payload };
    at = payloadEnd;
  }
  if (at !== header.storedBytes) throw corrupt(`the chunk records end at byte ${at}, the header says ${header.storedBytes}`);
}

/** The uncompressed bytes of a chunk: the payload itself, or decompressed into `scratch`. */
function decodeChunk(record: ChunkRecord, scratch: Uint8Array): Uint8Array {
  if (record.chunk.codec !== CODEC_LZ4) return record.payload;
  const raw = scratch.subarray(0, record.chunk.rawBytes);
  if (lz4Decompress(record.payload, raw) !== raw.length) throw corrupt(`chunk ${record.chunk.index} is not a valid LZ4 block of ${raw.length} bytes`);
  return raw;
}

/** One page, synchronously; IMAGE_TRUNCATED if it lies past the end of the device. */
function readPageSync(storage: BlockDevice, pageIndex: number, what: string): Uint8Array {
  if ((pageIndex + 1) * PAGE_SIZE > storage.size) {
    throw new HiberkitError('IMAGE_TRUNCATED', `${what} is page ${pageIndex}, past the end of ${storage.path} (${storage.size} bytes)`);
  }
  const page = storage.allocAligned(PAGE_SIZE);
  const n = storage.readSync(page, pageIndex * PAGE_SIZE);
  if (n !== PAGE_SIZE) throw new HiberkitError('IMAGE_TRUNCATED', `reading ${what} (page ${pageIndex} of ${storage.path}) returned ${n} bytes`);
  return page;
}

function corrupt(message: string): HiberkitError {
  return new HiberkitError('IMAGE_CORRUPT', message);
}

function tampered(message: string): HiberkitError {
  return new HiberkitError('IMAGE_TAMPERED', message);
}
