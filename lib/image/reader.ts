/**
 * Finds, verifies and reads back a hiberkit image (docs/image-format.md §6), and discards
 * it by putting the original swap header page back.
 *
 * openImage checks everything but the chunk stream: the marker, the header, the extent map (for
 * an encrypted image also the header MAC and the map's SHA-256). pages() then reads the chunk
 * stream once, front to back, and checks each chunk (its record, CRC, tag, decompression) before
 * handing out its bytes, and the CRC of the whole uncompressed stream after the last one: resume
 * uploads the image to /dev/snapshot in that same pass, and only restores it once pages() has
 * finished. loadImage is both in one call, for whoever wants a verdict before acting.
 * Every refusal is a HiberkitError with a code saying why:
 *   NO_IMAGE            the resume page is an ordinary swap header
 *   FOREIGN_SIGNATURE   it belongs to another hibernation tool, or is not swap at all
 *   UNSUPPORTED_VERSION a hiberkit image of another format version or with unknown features
 *   IMAGE_CORRUPT       a magic, CRC, count or reserved byte is wrong
 *   IMAGE_TRUNCATED     the image reaches past the end of the device, or a read came back short
 *   IMAGE_TAMPERED      an encrypted image fails a MAC, tag or hash although its CRCs hold
 *   IMAGE_FORGED        an encrypted image lacks this machine's origin signature (when unlock gives a verify key)
 *   KEY_REQUIRED        the image is encrypted and no unlock callback was given
 *   IMAGE_NOT_ENCRYPTED the caller requires encryption and the image has none
 *   WRONG_KERNEL        made by another kernel release
 *   WRONG_MACHINE       made on another machine
 * plus whatever the unlock callback throws (WRONG_PASSPHRASE, WRONG_KEY), passed through as is.
 */
import { createHash } from 'node:crypto';
import { HiberkitError } from '../errors.js';
import { PAGE_SIZE } from '../ioctls.js';
import { crc32c, crc32cCombine, lz4Decompress } from '../codec/index.js';
import { DATA_KEY_BYTES, deriveImageKeys, keyBlockKind, wipe } from '../crypto/keys.js';
import {
  CHUNK_HEADER_BYTES,
  CODEC_LZ4,
  CODEC_RAW,
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
import { originSignatureValid } from '../crypto/origin.js';
import type { BlockDevice } from '../backend.js';

/** Largest single read of the chunk stream: large sequential requests, a bounded buffer. */
const READ_BYTES = 8 << 20;

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
   * 32-byte data key (openImage wipes it once it has derived the image keys: return a copy to
   * keep one). For a wrong passphrase or key it throws WRONG_PASSPHRASE or WRONG_KEY
   * (lib/crypto/keys.ts openDataKey); openImage passes every error of it through unchanged, so
   * the caller can ask again.
   */
  unlock?: (keyBlock: Uint8Array, kind: KeyKind) => Promise<Uint8Array | UnlockedKey>;
  /**
   * Refuse an image without encryption (IMAGE_NOT_ENCRYPTED). A system set up for encrypted
   * images must ask for this: a plain image is not authenticated, so without it whoever can write
   * the disk could put a plain image of their making in place of the encrypted one.
   */
  requireEncryption?: boolean;
}

/**
 * What unlock may return instead of the bare data key: with the verify key that came with the
 * private key (lib/crypto/key-files.ts), the image must carry a valid origin signature
 * (IMAGE_FORGED otherwise).
 */
export interface UnlockedKey {
  dataKey: Uint8Array;
  verifyKey: Uint8Array | null;
}

/** What readHeaderSummary finds: facts from the header, checked for damage but not authenticated. */
export interface HeaderSummary {
  marker: ResumeMarker;
  /** Decoded and CRC-checked; for an encrypted image unverified until openImage checks its MAC. */
  header: ImageHeader;
  /** How an encrypted image's key is sealed; null for an image without encryption. */
  keyKind: KeyKind | null;
}

/**
 * Looks at the resume page only: null for an ordinary swap header (no image), the marked and
 * original pages when hiberkit's signature is there. Throws FOREIGN_SIGNATURE for another tool's
 * image or a page that is not swap at all, UNSUPPORTED_VERSION for another hiberkit marker
 * version, IMAGE_CORRUPT when the original signature cannot be rebuilt. It does not check the
 * marker's CRC: a damaged marker must still be undoable. openImage checks the rest.
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
 * checked against this machine and kernel. Throws like openImage for what it does check.
 */
export function readHeaderSummary(storage: BlockDevice, resumePage: number): HeaderSummary {
  const { marker, headerPage } = readMarkedHeader(storage, resumePage);
  const header = decodeHeader(headerPage);
  return { marker, header, keyKind: header.encrypted ? keyBlockKind(decodeSecurityBlock(headerPage).keyBlock) : null };
}

/**
 * Opens an image: checks everything but the chunk stream, which pages() checks as it reads it.
 * For an encrypted image the checks run in this order, so that nothing unauthenticated is acted
 * on: header CRC, key block, unlock, header MAC, then the other header fields and the extent map's
 * SHA-256. The image keeps the chunk key until close().
 */
export async function openImage(storage: BlockDevice, resumePage: number, expect: ExpectedIdentity, options: LoadOptions = {}): Promise<OpenedImage> {
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
    return new OpenedImage(storage, marker, header, extents, found, sealed);
  } catch (err) {
    if (sealed) wipe(sealed.chunkKey);
    throw err;
  }
}

/**
 * Opens the image and reads all of it once to verify it (openImage, then pages() to the end).
 * pages() of the result reads and checks the image again.
 */
export async function loadImage(storage: BlockDevice, resumePage: number, expect: ExpectedIdentity, options: LoadOptions = {}): Promise<OpenedImage> {
  const image = await openImage(storage, resumePage, expect, options);
  try {
    for await (const batch of image.pages(1024)) void batch;
  } catch (err) {
    image.close();
    throw err;
  }
  return image;
}

export class OpenedImage {
  #closed = false;

  /** @internal built by openImage only, after the header and extent map passed their checks. */
  constructor(
    private readonly storage: BlockDevice,
    readonly marker: ResumeMarker,
    readonly header: ImageHeader,
    /** The chunk stream's extents on the device, in stream order. */
    readonly extents: readonly Extent[],
    private readonly found: FoundMarker,
    private readonly sealed: SealedImage | null,
  ) {}

  /** The swap header page to write back to discard the image. */
  get originalPage(): Uint8Array {
    return this.found.originalPage;
  }

  /** Wipes the chunk key of an encrypted image; pages() refuses to run afterwards. */
  close(): void {
    this.#closed = true;
    if (this.sealed) wipe(this.sealed.chunkKey);
  }

  /**
   * The uncompressed snapshot stream, read from the device and checked chunk by chunk, in batches
   * of at most `batchPages` pages. Each batch is a view of a buffer that is reused for the next
   * one: use it (write it to /dev/snapshot) before asking for the next. Every chunk is checked
   * before any of its bytes are handed out; the CRC of the whole stream only after the last one,
   * when the generator finishes: a refusal is thrown from the iteration, so act on the stream only
   * once it has run to its end.
   */
  async *pages(batchPages = 256): AsyncGenerator<Uint8Array, void, undefined> {
    if (!Number.isInteger(batchPages) || batchPages < 1) throw new RangeError(`batchPages must be a positive integer, got ${batchPages}`);
    if (this.#closed) throw new Error('the image was closed: open it again to read it');
    const { header, sealed } = this;
    const records = new ChunkRecordReader(this.storage, this.extents, header);
    const scratch = new Uint8Array(header.chunkPages * PAGE_SIZE);
    const step = batchPages * PAGE_SIZE;
    let crc = 0;
    try {
      for (let index = 0; index < header.chunkCount; index++) {
        const record = await records.next(index);
        if (sealed) openInPlace(record, sealed);
        const raw = decodeChunk(record, scratch);
        // A plain raw chunk's payload CRC is the CRC of its raw bytes: fold it in instead of reading them again.
        crc = !sealed && record.chunk.codec === CODEC_RAW ? crc32cCombine(crc, record.chunk.payloadCrc32c, raw.length) : crc32c(raw, crc);
        for (let at = 0; at < raw.length; at += step) yield raw.subarray(at, at + step);
      }
      await records.finish();
    } finally {
      // The decrypted memory image must not outlive the pass in this process's heap.
      if (sealed) wipe(scratch, records.window);
    }
    if (crc !== header.streamCrc32c) throw corrupt('the uncompressed stream fails its CRC');
  }
}

/**
 * Discards the image: zeroes its header page (when the on-disk marker still names an intact one)
 * and flushes, then writes the original swap header page back at `resumePage` and flushes, so
 * the area is ordinary swap again and the image cannot be revived by re-marking the page (its key
 * block is gone with the header). Takes either the original page or the marked one (the original
 * is rebuilt from the marker). Synchronous: it also runs with user space frozen.
 * native/image_writer.cc InvalidateImage does the same.
 */
export function invalidateImage(storage: BlockDevice, resumePage: number, originalOrMarkedPage: Uint8Array): void {
  const original = classifyResumePage(originalOrMarkedPage).kind === 'hiberkit' ? restoreOriginalPage(originalOrMarkedPage) : originalOrMarkedPage;
  assertMarkable(original, 'the page to put back');
  // The header first, flushed: a crash between the two writes leaves a marker naming no header.
  const headerPage = intactHeaderPage(storage, resumePage);
  if (headerPage !== null) writePageSync(storage, headerPage, new Uint8Array(PAGE_SIZE), 'the image header');
  writePageSync(storage, resumePage, original, 'the resume page');
}

/** The page of the header the on-disk marker names, if the marker is intact and the page still holds that header. */
function intactHeaderPage(storage: BlockDevice, resumePage: number): number | null {
  try {
    const marker = decodeMarker(readPageSync(storage, resumePage, 'the resume page'));
    if (marker.headerPage === resumePage) return null;
    return pageContentCrc(readPageSync(storage, marker.headerPage, 'the image header')) === marker.headerCrc32c ? marker.headerPage : null;
  } catch (err) {
    // No marker, a damaged one, or a header page past the end: no header of this image to destroy.
    if (err instanceof HiberkitError) return null;
    throw err;
  }
}

function writePageSync(storage: BlockDevice, pageIndex: number, page: Uint8Array, what: string): void {
  const aligned = storage.allocAligned(PAGE_SIZE);
  aligned.set(page);
  const written = storage.writeSync(aligned, pageIndex * PAGE_SIZE);
  if (written !== PAGE_SIZE) throw new HiberkitError('SHORT_WRITE', `wrote ${written} of ${PAGE_SIZE} bytes of ${what} of ${storage.path}`);
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
  const unlocked = await unlock(Uint8Array.from(security.keyBlock), kind);
  const { dataKey, verifyKey } = unlocked instanceof Uint8Array ? { dataKey: unlocked, verifyKey: null } : unlocked;
  if (dataKey.length !== DATA_KEY_BYTES) {
    wipe(dataKey);
    throw new RangeError(`unlock must return the ${DATA_KEY_BYTES}-byte data key, got ${dataKey.length} bytes`);
  }
  const { chunkKey, headerKey } = deriveImageKeys(dataKey);
  wipe(dataKey);
  try {
    if (verifyKey) checkOrigin(security, verifyKey);
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
 * The image must carry this machine's origin signature over its id and key block: the data key
 * sealed in that block is then one this machine's hibernate chose, and the header MAC and chunk
 * tags made from it prove that the rest came from there too. Without the check, anyone who knows
 * the public key could seal an image of their own.
 */
function checkOrigin(security: SecurityBlock, verifyKey: Uint8Array): void {
  if (!security.originSignature) {
    throw new HiberkitError('IMAGE_FORGED', 'the image carries no origin signature, and this machine\'s images are signed: it was not made by this machine\'s hibernate');
  }
  if (!originSignatureValid(verifyKey, security.imageId, security.keyBlock, security.originSignature)) {
    throw new HiberkitError('IMAGE_FORGED', 'the image\'s origin signature does not verify with this machine\'s key: it was not made by this machine\'s hibernate');
  }
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

/** One record of the chunk stream: its decoded header, and views of its header and payload bytes. */
interface ChunkRecord {
  chunk: ChunkHeader;
  recordHeader: Uint8Array;
  payload: Uint8Array;
}

/** Replaces a sealed payload with its plaintext once the tag has verified it. */
function openInPlace(record: ChunkRecord, sealed: SealedImage): void {
  const aad = chunkAad(record.recordHeader, sealed.security.imageId);
  const plaintext = openChunk(sealed.chunkKey, record.chunk.index, aad, record.payload, record.chunk.tag!);
  if (!plaintext) throw tampered(`chunk ${record.chunk.index} fails its authentication tag: it was altered after it was written`);
  record.payload.set(plaintext);
  wipe(plaintext);
}

/**
 * Reads the chunk stream from its extents, front to back, in large page-aligned reads through one
 * window buffer (so it works with O_DIRECT and holds one read and one record, never the image), and
 * hands out one record at a time, each checked on its own: magic, CRCs, index, lengths, codec.
 */
class ChunkRecordReader {
  readonly #window: Uint8Array;

  /** The read buffer: decrypted records are left in it, for the caller to wipe. */
  get window(): Uint8Array {
    return this.#window;
  }
  /** Window index of the next stream byte not handed out yet, and one past the last byte read. */
  #start = 0;
  #end = 0;
  /** Stream offset of the window's #start. */
  #streamAt = 0;
  #extent = 0;
  /** Pages of extent #extent already read. */
  #extentPagesRead = 0;

  constructor(
    private readonly storage: BlockDevice,
    private readonly extents: readonly Extent[],
    private readonly header: ImageHeader,
  ) {
    const largestRecord = CHUNK_HEADER_BYTES + header.chunkPages * PAGE_SIZE;
    this.#window = storage.allocAligned(READ_BYTES + alignUp(largestRecord));
  }

  /** The record of chunk `index`; its views hold until the next call. */
  async next(index: number): Promise<ChunkRecord> {
    const { header } = this;
    const at = this.#streamAt;
    const where = `chunk ${index} (stream byte ${at})`;
    if (at + CHUNK_HEADER_BYTES > header.storedBytes) throw corrupt(`the chunk stream ends inside the record header of ${where}`);
    await this.#have(CHUNK_HEADER_BYTES);
    const chunk = decodeChunkHeader(this.#window, this.#start, header.encrypted, at);
    if (chunk.index !== index) throw corrupt(`${where} is numbered ${chunk.index}`);
    const expectedRaw = Math.min(header.chunkPages, header.streamPages - index * header.chunkPages) * PAGE_SIZE;
    if (chunk.rawBytes !== expectedRaw) throw corrupt(`${where} holds ${chunk.rawBytes} bytes, expected ${expectedRaw}`);
    if (chunk.codec === CODEC_LZ4) {
      if (!header.compressed) throw corrupt(`${where} is compressed in an image without compression`);
      if (chunk.storedBytes < 1 || chunk.storedBytes >= chunk.rawBytes) throw corrupt(`${where} is an LZ4 block of ${chunk.storedBytes} bytes`);
    } else if (chunk.storedBytes !== chunk.rawBytes) {
      throw corrupt(`${where} is stored raw in ${chunk.storedBytes} bytes instead of ${chunk.rawBytes}`);
    }
    const recordBytes = CHUNK_HEADER_BYTES + chunk.storedBytes;
    if (at + recordBytes > header.storedBytes) throw corrupt(`${where} reaches past the end of the chunk stream`);
    await this.#have(recordBytes);
    const record = this.#window.subarray(this.#start, this.#start + recordBytes);
    const payload = record.subarray(CHUNK_HEADER_BYTES);
    if (crc32c(payload) !== chunk.payloadCrc32c) throw corrupt(`${where} fails its payload CRC`);
    this.#start += recordBytes;
    this.#streamAt += recordBytes;
    return { chunk, recordHeader: record.subarray(0, CHUNK_HEADER_BYTES), payload };
  }

  /** After the last record: the records end where the header says, and the rest of the last page is zero. */
  async finish(): Promise<void> {
    if (this.#streamAt !== this.header.storedBytes) throw corrupt(`the chunk records end at byte ${this.#streamAt}, the header says ${this.header.storedBytes}`);
    const padding = alignUp(this.header.storedBytes) - this.header.storedBytes;
    await this.#have(padding);
    if (!isZero(this.#window, this.#start, this.#start + padding)) throw corrupt('the padding after the last chunk record is not zero');
  }

  /** Reads until the window holds at least `bytes` bytes from #start. */
  async #have(bytes: number): Promise<void> {
    while (this.#end - this.#start < bytes) {
      if (this.#start >= PAGE_SIZE) this.#compact();
      const extent = this.extents[this.#extent];
      if (!extent) throw corrupt('the chunk stream ends before its last record');
      const position = (extent.startPage + this.#extentPagesRead) * PAGE_SIZE;
      const want = Math.min(this.#window.length - this.#end, READ_BYTES, (extent.pageCount - this.#extentPagesRead) * PAGE_SIZE);
      const n = await this.storage.read(this.#window.subarray(this.#end, this.#end + want), position);
      if (n <= 0 || n % PAGE_SIZE !== 0) {
        throw new HiberkitError('IMAGE_TRUNCATED', `reading ${this.storage.path} at byte ${position} returned ${n} bytes: the image is cut short`);
      }
      this.#end += n;
      this.#extentPagesRead += n / PAGE_SIZE;
      if (this.#extentPagesRead === extent.pageCount) {
        this.#extent++;
        this.#extentPagesRead = 0;
      }
    }
  }

  /** Moves the bytes not handed out yet to the front, ending on a page boundary so the next read lands aligned. */
  #compact(): void {
    const pending = this.#end - this.#start;
    const to = alignUp(pending) - pending;
    this.#window.copyWithin(to, this.#start, this.#end);
    this.#start = to;
    this.#end = to + pending;
  }
}

function alignUp(bytes: number): number {
  return Math.ceil(bytes / PAGE_SIZE) * PAGE_SIZE;
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
