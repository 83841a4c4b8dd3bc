/**
 * hiberkit's on-disk image format (docs/image-format.md): the encoders and decoders of its four
 * structures — the marker in the resume page, the image header page, the extent map pages and the
 * chunk record headers.
 *
 * The layout itself (offsets, sizes, magics, flags) is lib/image/layout.ts, which
 * native/image_writer.cc also follows (through the generated native/image_layout.h).
 * Decoders are strict: every reserved byte must be zero and every CRC must match, so a damaged
 * or foreign page is reported as such instead of being half understood.
 */
import { HiberkitError } from '../errors.js';
import { PAGE_SIZE } from '../ioctls.js';
import { crc32c } from '../codec/index.js';
import { SWAP_SIGNATURES } from '../swap-header.js';
import {
  CHUNK as C,
  CHUNK_HEADER_BYTES,
  CHUNK_MAGIC,
  CHUNK_TAG_BYTES,
  CODEC_LZ4,
  CODEC_RAW,
  EXTENT_ENTRY_BYTES,
  EXTENTS_PER_MAP_PAGE,
  EXTENT_MAP as M,
  FLAG_LZ4,
  FLAG_PLATFORM_MODE,
  FLAG_SIGNED,
  FLAGS_SEALED,
  FORMAT_VERSION,
  HEADER as H,
  HEADER_MAGIC,
  IDENTITY_FIELD_BYTES,
  IMAGE_SIGNATURE,
  MAP_MAGIC,
  MARKER,
  MARKER_OFFSET,
  MAX_CHUNK_PAGES,
  ORIGINAL_SIGNATURE_OFFSET,
  PAGE_CRC_OFFSET,
  SECURITY as S,
  SIGNATURE_BYTES,
  SIGNATURE_OFFSET,
  type Field,
} from './layout.js';

// The layout constants other modules use, where they have always been imported from.
export {
  CHUNK_AUTHENTICATED_BYTES,
  CHUNK_HEADER_BYTES,
  CODEC_LZ4,
  CODEC_RAW,
  EXTENTS_PER_MAP_PAGE,
  FLAG_SIGNED,
  FORMAT_VERSION,
  IMAGE_ID_BYTES,
  MAC_BYTES,
  MARKER_OFFSET,
  MAX_CHUNK_PAGES,
  ORIGIN_SIGNATURE_BYTES,
  SECURITY_BLOCK_BYTES,
  SECURITY_BLOCK_OFFSET,
  SIGNATURE_OFFSET,
} from './layout.js';

/** Default size of the writers' disk batches. */
export const DEFAULT_IO_BYTES = 4 << 20;

// ---------------------------------------------------------------------------------------------
// Resume page: signatures and marker

/** Any signature with this prefix is hiberkit's, possibly of another marker version. */
const SIGNATURE_FAMILY = 'HIBERKIT';
/** Signatures of other hibernation tools, which hiberkit must leave alone (docs/snapshot-device.md §6.3). */
const FOREIGN_IMAGE_SIGNATURES: ReadonlyMap<string, string> = new Map([
  ['S1SUSPEND', "the kernel's own hibernation"],
  ['S2SUSPEND', "the kernel's own hibernation (old format)"],
  ['ULSUSPEND', 'uswsusp (s2disk)'],
  ['LINHIB0001', "an old kernel's hibernation (LINHIB0001)"],
]);

export interface ResumeMarker {
  /** Page index of the image header page. */
  headerPage: number;
  /** pageContentCrc of the header page: binds the marker to that header's contents. */
  headerCrc32c: number;
  /** The swap signature the page had before it was marked. */
  originalSignature: string;
}

/** The 10-byte signature field at `offset`, with trailing NULs removed ("S1SUSPEND\0" → "S1SUSPEND"). */
export function signatureAt(page: Uint8Array, offset: number): string {
  let end = offset + SIGNATURE_BYTES;
  while (end > offset && page[end - 1] === 0) end--;
  return Buffer.from(page.buffer, page.byteOffset + offset, end - offset).toString('latin1');
}

/** What a resume page currently holds, judged by its signature alone. */
export type ResumePageKind =
  | { kind: 'swap' }
  | { kind: 'hiberkit' }
  | { kind: 'hiberkit-other-version'; signature: string }
  | { kind: 'foreign-image'; signature: string; owner: string }
  | { kind: 'unknown'; signature: string };

export function classifyResumePage(page: Uint8Array): ResumePageKind {
  assertPage(page, 'resume page');
  const signature = signatureAt(page, SIGNATURE_OFFSET);
  if (SWAP_SIGNATURES.includes(signature)) return { kind: 'swap' };
  if (signature === IMAGE_SIGNATURE) return { kind: 'hiberkit' };
  if (signature.startsWith(SIGNATURE_FAMILY)) return { kind: 'hiberkit-other-version', signature };
  const owner = FOREIGN_IMAGE_SIGNATURES.get(signature);
  if (owner) return { kind: 'foreign-image', signature, owner };
  return { kind: 'unknown', signature };
}

/**
 * Throws unless `page` is a swap header page that can be marked and later rebuilt from the marker
 * alone: a swap signature at 4086 and zeros in 4048..4085 (mkswap leaves them zero).
 * `where` names the page in messages (e.g. the block device).
 */
export function assertMarkable(page: Uint8Array, where = 'the resume page'): void {
  const state = classifyResumePage(page);
  switch (state.kind) {
    case 'swap':
      break;
    case 'hiberkit':
    case 'hiberkit-other-version':
      throw new HiberkitError(
        'IMAGE_PRESENT',
        `${where} already holds a hiberkit image (${state.kind === 'hiberkit' ? IMAGE_SIGNATURE : state.signature}); resume it or discard it before hibernating again`,
      );
    case 'foreign-image':
      throw new HiberkitError(
        'FOREIGN_SIGNATURE',
        `${where} holds an image of ${state.owner} (signature ${JSON.stringify(state.signature)}); hiberkit will not overwrite it`,
      );
    case 'unknown':
      throw new HiberkitError(
        'RESUME_PAGE_NOT_SWAP',
        `${where} is not a swap area: no swap signature at byte ${SIGNATURE_OFFSET} (found ${JSON.stringify(state.signature)}); run mkswap and swapon first`,
      );
  }
  if (!isZero(page, MARKER_OFFSET, SIGNATURE_OFFSET)) {
    throw new HiberkitError(
      'RESUME_PAGE_NOT_SWAP',
      `${where} has data in bytes ${MARKER_OFFSET}..${SIGNATURE_OFFSET - 1}, where a swap header from mkswap has zeros; hiberkit could not put it back exactly, so it refuses to mark it`,
    );
  }
}

/** The resume page marked for an image whose header is `headerPage`, with pageContentCrc `headerCrc32c`. */
export function markResumePage(original: Uint8Array, headerPage: number, headerCrc32c: number): Uint8Array {
  assertMarkable(original);
  const page = new Uint8Array(PAGE_SIZE);
  page.set(original);
  const view = viewOf(page);
  view.setBigUint64(MARKER.headerPage.at, BigInt(headerPage), true);
  view.setUint32(MARKER.headerCrc.at, headerCrc32c, true);
  page.copyWithin(ORIGINAL_SIGNATURE_OFFSET, SIGNATURE_OFFSET, SIGNATURE_OFFSET + SIGNATURE_BYTES);
  page.set(Buffer.from(IMAGE_SIGNATURE, 'latin1'), SIGNATURE_OFFSET);
  view.setUint32(MARKER.crc.at, markerCrc(page), true);
  return page;
}

/** CRC32C of bytes 4048..4095 with the marker CRC field taken as zero. */
function markerCrc(page: Uint8Array): number {
  let crc = crc32c(page.subarray(MARKER_OFFSET, MARKER.crc.at));
  crc = crc32c(new Uint8Array(MARKER.crc.bytes), crc);
  return crc32c(page.subarray(end(MARKER.crc), PAGE_SIZE), crc);
}

/** Decodes and checks the marker of a page carrying IMAGE_SIGNATURE (IMAGE_CORRUPT otherwise). */
export function decodeMarker(page: Uint8Array): ResumeMarker {
  assertPage(page, 'resume page');
  if (signatureAt(page, SIGNATURE_OFFSET) !== IMAGE_SIGNATURE) {
    throw corrupt(`the resume page does not carry the ${IMAGE_SIGNATURE} signature`);
  }
  const view = viewOf(page);
  if (view.getUint32(MARKER.crc.at, true) !== markerCrc(page)) throw corrupt('the resume page marker fails its CRC');
  if (!isZero(page, end(MARKER.crc), ORIGINAL_SIGNATURE_OFFSET)) throw corrupt('the resume page marker has data in its reserved bytes');
  const originalSignature = signatureAt(page, ORIGINAL_SIGNATURE_OFFSET);
  if (!SWAP_SIGNATURES.includes(originalSignature)) {
    throw corrupt(`the resume page marker keeps ${JSON.stringify(originalSignature)}, not a swap signature`);
  }
  return {
    headerPage: safeNumber(view.getBigUint64(MARKER.headerPage.at, true), 'header page'),
    headerCrc32c: view.getUint32(MARKER.headerCrc.at, true),
    originalSignature,
  };
}

/**
 * The swap header page as it was before marking, rebuilt from a marked page: bytes 4048..4085
 * zeroed and the kept signature put back at 4086. Needs only the kept signature to be a swap
 * signature (not the marker CRC), so a damaged marker can still be undone.
 */
export function restoreOriginalPage(marked: Uint8Array): Uint8Array {
  assertPage(marked, 'resume page');
  const state = classifyResumePage(marked);
  if (state.kind === 'hiberkit-other-version') {
    throw new HiberkitError('UNSUPPORTED_VERSION', `the resume page carries ${state.signature}; this hiberkit only knows the ${IMAGE_SIGNATURE} marker`);
  }
  if (state.kind !== 'hiberkit') throw new HiberkitError('NO_IMAGE', 'the resume page is not marked by hiberkit');
  const originalSignature = signatureAt(marked, ORIGINAL_SIGNATURE_OFFSET);
  if (!SWAP_SIGNATURES.includes(originalSignature)) {
    throw corrupt(
      `the resume page keeps ${JSON.stringify(originalSignature)} as its original signature, so the swap header cannot be rebuilt; run mkswap on the area`,
    );
  }
  const page = new Uint8Array(PAGE_SIZE);
  page.set(marked);
  page.copyWithin(SIGNATURE_OFFSET, ORIGINAL_SIGNATURE_OFFSET, ORIGINAL_SIGNATURE_OFFSET + SIGNATURE_BYTES);
  page.fill(0, MARKER_OFFSET, SIGNATURE_OFFSET);
  return page;
}

// ---------------------------------------------------------------------------------------------
// Image header page

/** Every flag bit this version knows; a reader refuses a header with any other. */
const KNOWN_FLAGS = FLAG_LZ4 | FLAG_PLATFORM_MODE | FLAGS_SEALED | FLAG_SIGNED;

export interface ImageHeader {
  version: number;
  /** Chunks may be LZ4 blocks (flag bit 0). */
  compressed: boolean;
  /** Restore must use the platform (ACPI S4) hooks (flag bit 1). */
  platformMode: boolean;
  /** Pages of the kernel's snapshot stream (GET_IMAGE_SIZE / 4096). */
  streamPages: number;
  /** Bytes of the chunk stream (records back to back, without the final page padding). */
  storedBytes: number;
  chunkPages: number;
  chunkCount: number;
  /** CRC32C of the whole uncompressed stream, in order. */
  streamCrc32c: number;
  extentMapPage: number;
  extentMapPages: number;
  extentCount: number;
  /** pageContentCrc of every extent map page, continued from one page to the next in chain order. */
  extentMapCrc32c: number;
  createdAtMs: number;
  kernelRelease: string;
  machineId: string;
  /** Encrypted and authenticated (flag bits 2 and 3); the security block is then filled in. */
  encrypted: boolean;
}

/** The security block of an encrypted image (docs/image-format.md §2.1). */
export interface SecurityBlock {
  /** The image's data key, sealed for a passphrase or a public key (lib/crypto/keys.ts). */
  keyBlock: Uint8Array;
  /** Random per image; bound into every chunk's associated data. */
  imageId: Uint8Array;
  /** SHA-256 of all extent map pages (whole pages, chain order). */
  extentMapSha256: Uint8Array;
  /** The swap signature the resume page had: the marker's copy is checked against this one. */
  originalSignature: string;
  /** GMAC of the header page (see headerMacInput). */
  headerMac: Uint8Array;
  /** Ed25519 signature of this machine's hibernate over the image id and key block (FLAG_SIGNED); null if unsigned. */
  originSignature: Uint8Array | null;
}

/**
 * The header page. `security` must be given exactly for an encrypted header; its MAC is written
 * as given (the writer encodes once with a zero MAC to compute it, see headerMacInput).
 */
export function encodeHeader(header: ImageHeader, security: SecurityBlock | null = null): Uint8Array {
  if (header.encrypted !== (security !== null)) throw new RangeError('an encrypted header needs its security block, and only it has one');
  const page = new Uint8Array(PAGE_SIZE);
  const view = viewOf(page);
  page.set(Buffer.from(HEADER_MAGIC, 'latin1'), H.magic.at);
  view.setUint32(H.version.at, header.version, true);
  view.setUint32(
    H.flags.at,
    (header.compressed ? FLAG_LZ4 : 0) |
      (header.platformMode ? FLAG_PLATFORM_MODE : 0) |
      (header.encrypted ? FLAGS_SEALED : 0) |
      (security?.originSignature ? FLAG_SIGNED : 0),
    true,
  );
  view.setBigUint64(H.streamPages.at, BigInt(header.streamPages), true);
  view.setBigUint64(H.storedBytes.at, BigInt(header.storedBytes), true);
  view.setBigUint64(H.chunkCount.at, BigInt(header.chunkCount), true);
  view.setUint32(H.chunkPages.at, header.chunkPages, true);
  view.setUint32(H.streamCrc.at, header.streamCrc32c, true);
  view.setBigUint64(H.extentMapPage.at, BigInt(header.extentMapPage), true);
  view.setBigUint64(H.extentMapPages.at, BigInt(header.extentMapPages), true);
  view.setBigUint64(H.extentCount.at, BigInt(header.extentCount), true);
  view.setBigUint64(H.createdAtMs.at, BigInt(header.createdAtMs), true);
  view.setUint32(H.extentMapCrc.at, header.extentMapCrc32c, true);
  page.set(encodeIdentityField(header.kernelRelease, 'kernel release'), H.kernelRelease.at);
  page.set(encodeIdentityField(header.machineId, 'machine id'), H.machineId.at);
  if (security) encodeSecurityBlock(page, security);
  view.setUint32(H.crc.at, crc32c(page.subarray(0, H.crc.at)), true);
  return page;
}

function encodeSecurityBlock(page: Uint8Array, security: SecurityBlock): void {
  const fields: [Uint8Array, Field, string][] = [
    [security.keyBlock, S.keyBlock, 'key block'],
    [security.imageId, S.imageId, 'image id'],
    [security.extentMapSha256, S.extentMapSha256, 'extent map SHA-256'],
    [security.headerMac, S.headerMac, 'header MAC'],
    ...(security.originSignature ? [[security.originSignature, S.originSignature, 'origin signature'] as [Uint8Array, Field, string]] : []),
  ];
  for (const [bytes, field, what] of fields) {
    if (bytes.length !== field.bytes) throw new RangeError(`the ${what} is ${field.bytes} bytes, got ${bytes.length}`);
    page.set(bytes, field.at);
  }
  if (!SWAP_SIGNATURES.includes(security.originalSignature)) {
    throw new RangeError(`the original signature must be a swap signature, got ${JSON.stringify(security.originalSignature)}`);
  }
  page.set(Buffer.from(security.originalSignature, 'latin1'), S.originalSignature.at);
}

/**
 * What the header MAC covers: the whole header page with the MAC field and header_crc32c zeroed
 * (the CRC is computed after the MAC, over it).
 */
export function headerMacInput(page: Uint8Array): Uint8Array {
  assertPage(page, 'header page');
  const input = Uint8Array.from(page);
  input.fill(0, S.headerMac.at, end(S.headerMac));
  input.fill(0, H.crc.at, PAGE_SIZE);
  return input;
}

/** A string as a NUL-padded 65-byte field: at most 64 bytes of UTF-8, no NUL inside. */
export function encodeIdentityField(value: string, what: string): Uint8Array {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length >= IDENTITY_FIELD_BYTES || bytes.includes(0)) {
    throw new RangeError(`the ${what} must be at most ${IDENTITY_FIELD_BYTES - 1} bytes of UTF-8 without NUL: ${JSON.stringify(value)}`);
  }
  const field = new Uint8Array(IDENTITY_FIELD_BYTES);
  field.set(bytes);
  return field;
}

/**
 * The checks made before anything else in a header page is believed: magic, version, CRC and
 * flags (UNSUPPORTED_VERSION for another format version, unknown flags, or encryption without
 * authentication). Says whether the header is encrypted: an encrypted one is then believed only
 * once its MAC verifies (lib/image/reader.ts).
 */
export function checkHeaderPage(page: Uint8Array): { encrypted: boolean; signed: boolean } {
  assertPage(page, 'header page');
  const view = viewOf(page);
  if (Buffer.from(page.buffer, page.byteOffset, HEADER_MAGIC.length).toString('latin1') !== HEADER_MAGIC) {
    throw corrupt('the image header page has no HKIMAGE magic');
  }
  const version = view.getUint32(H.version.at, true);
  if (version !== FORMAT_VERSION) {
    throw new HiberkitError('UNSUPPORTED_VERSION', `the image has format version ${version}; this hiberkit reads version ${FORMAT_VERSION}`);
  }
  if (view.getUint32(H.crc.at, true) !== crc32c(page.subarray(0, H.crc.at))) throw corrupt('the image header fails its CRC');
  const flags = view.getUint32(H.flags.at, true);
  if (flags & ~KNOWN_FLAGS) throw new HiberkitError('UNSUPPORTED_VERSION', `the image header has unknown flags 0x${flags.toString(16)}`);
  const sealed = flags & FLAGS_SEALED;
  if (sealed !== 0 && sealed !== FLAGS_SEALED) {
    throw new HiberkitError('UNSUPPORTED_VERSION', 'the image is encrypted without authentication or the other way round, which this version of the format does not define');
  }
  const signed = (flags & FLAG_SIGNED) !== 0;
  if (signed && sealed === 0) throw new HiberkitError('UNSUPPORTED_VERSION', 'the image is signed but not encrypted, which this version of the format does not define');
  return { encrypted: sealed === FLAGS_SEALED, signed };
}

/** The security block of a header page that checkHeaderPage found encrypted, as stored (unverified). */
export function decodeSecurityBlock(page: Uint8Array): SecurityBlock {
  assertPage(page, 'header page');
  const copy = (field: Field) => copyOf(page, field.at, end(field));
  const signed = (viewOf(page).getUint32(H.flags.at, true) & FLAG_SIGNED) !== 0;
  return {
    keyBlock: copy(S.keyBlock),
    imageId: copy(S.imageId),
    extentMapSha256: copy(S.extentMapSha256),
    originalSignature: signatureAt(page, S.originalSignature.at),
    headerMac: copy(S.headerMac),
    originSignature: signed ? copy(S.originSignature) : null,
  };
}

/**
 * Decodes a header page: checkHeaderPage, then every field, the reserved bytes and that the counts
 * agree (IMAGE_CORRUPT). For an encrypted header, call it only after its MAC has been verified.
 */
export function decodeHeader(page: Uint8Array): ImageHeader {
  const { encrypted, signed } = checkHeaderPage(page);
  const view = viewOf(page);
  const flags = view.getUint32(H.flags.at, true);
  const reservedClear = encrypted
    ? isZero(page, end(H.machineId), S.keyBlock.at) &&
      isZero(page, end(S.originalSignature), S.headerMac.at) &&
      isZero(page, signed ? end(S.originSignature) : S.originSignature.at, H.crc.at)
    : isZero(page, end(H.machineId), H.crc.at);
  if (!isZero(page, end(H.extentMapCrc), H.kernelRelease.at) || !reservedClear) {
    throw corrupt('the image header has data in reserved bytes');
  }
  if (encrypted && !SWAP_SIGNATURES.includes(signatureAt(page, S.originalSignature.at))) {
    throw corrupt('the image header keeps no swap signature in its security block');
  }
  const header: ImageHeader = {
    version: FORMAT_VERSION,
    compressed: (flags & FLAG_LZ4) !== 0,
    platformMode: (flags & FLAG_PLATFORM_MODE) !== 0,
    streamPages: safeNumber(view.getBigUint64(H.streamPages.at, true), 'stream pages'),
    storedBytes: safeNumber(view.getBigUint64(H.storedBytes.at, true), 'stored bytes'),
    chunkCount: safeNumber(view.getBigUint64(H.chunkCount.at, true), 'chunk count'),
    chunkPages: view.getUint32(H.chunkPages.at, true),
    streamCrc32c: view.getUint32(H.streamCrc.at, true),
    extentMapPage: safeNumber(view.getBigUint64(H.extentMapPage.at, true), 'extent map page'),
    extentMapPages: safeNumber(view.getBigUint64(H.extentMapPages.at, true), 'extent map pages'),
    extentCount: safeNumber(view.getBigUint64(H.extentCount.at, true), 'extent count'),
    createdAtMs: safeNumber(view.getBigUint64(H.createdAtMs.at, true), 'creation time'),
    extentMapCrc32c: view.getUint32(H.extentMapCrc.at, true),
    kernelRelease: decodeIdentityField(page, H.kernelRelease.at, 'kernel release'),
    machineId: decodeIdentityField(page, H.machineId.at, 'machine id'),
    encrypted,
  };
  checkHeaderCounts(header);
  return header;
}

/** The counts a valid writer produces always agree with each other. */
function checkHeaderCounts(h: ImageHeader): void {
  if (h.chunkPages < 1 || h.chunkPages > MAX_CHUNK_PAGES) throw corrupt(`the image header gives ${h.chunkPages} pages per chunk`);
  if (h.streamPages < 1) throw corrupt('the image header gives an empty stream');
  if (h.chunkCount !== Math.ceil(h.streamPages / h.chunkPages)) {
    throw corrupt(`the image header gives ${h.chunkCount} chunks for ${h.streamPages} pages of ${h.chunkPages}`);
  }
  if (h.storedBytes < h.chunkCount * (CHUNK_HEADER_BYTES + 1)) throw corrupt(`the image header gives only ${h.storedBytes} stored bytes`);
  if (h.extentCount < 1 || h.extentMapPages !== Math.ceil(h.extentCount / EXTENTS_PER_MAP_PAGE)) {
    throw corrupt(`the image header gives ${h.extentCount} extents in ${h.extentMapPages} map pages`);
  }
}

/** Refuses malformed UTF-8 instead of replacing it, so that a decoded field encodes back to the same bytes. */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

function decodeIdentityField(page: Uint8Array, offset: number, what: string): string {
  const field = page.subarray(offset, offset + IDENTITY_FIELD_BYTES);
  const end = field.indexOf(0);
  if (end < 0 || !isZero(field, end, IDENTITY_FIELD_BYTES)) throw corrupt(`the image header's ${what} field is not NUL padded`);
  try {
    return STRICT_UTF8.decode(field.subarray(0, end));
  } catch {
    throw corrupt(`the image header's ${what} field is not UTF-8`);
  }
}

// ---------------------------------------------------------------------------------------------
// Extent map pages

/** A run of consecutive pages on the storage device, in page units. */
export interface Extent {
  startPage: number;
  pageCount: number;
}

/** Map page number `sequence` of the chain, holding `extents` (at most EXTENTS_PER_MAP_PAGE). */
export function encodeExtentMapPage(sequence: number, extents: readonly Extent[], nextPage: number): Uint8Array {
  if (extents.length < 1 || extents.length > EXTENTS_PER_MAP_PAGE) throw new RangeError(`a map page holds 1..${EXTENTS_PER_MAP_PAGE} extents`);
  const page = new Uint8Array(PAGE_SIZE);
  const view = viewOf(page);
  page.set(Buffer.from(MAP_MAGIC, 'latin1'), M.magic.at);
  view.setUint32(M.sequence.at, sequence, true);
  view.setUint32(M.count.at, extents.length, true);
  view.setBigUint64(M.nextPage.at, BigInt(nextPage), true);
  extents.forEach((extent, i) => {
    view.setBigUint64(M.entries.at + i * EXTENT_ENTRY_BYTES, BigInt(extent.startPage), true);
    view.setBigUint64(M.entries.at + i * EXTENT_ENTRY_BYTES + 8, BigInt(extent.pageCount), true);
  });
  view.setUint32(M.crc.at, crc32c(page.subarray(0, M.crc.at)), true);
  return page;
}

/** Decodes map page number `sequence` of the chain (IMAGE_CORRUPT if it is not exactly that). */
export function decodeExtentMapPage(page: Uint8Array, sequence: number): { extents: Extent[]; nextPage: number } {
  assertPage(page, 'extent map page');
  const view = viewOf(page);
  const where = `extent map page ${sequence}`;
  if (Buffer.from(page.buffer, page.byteOffset, MAP_MAGIC.length).toString('latin1') !== MAP_MAGIC) throw corrupt(`${where} has no HKEXTMAP magic`);
  if (view.getUint32(M.crc.at, true) !== crc32c(page.subarray(0, M.crc.at))) throw corrupt(`${where} fails its CRC`);
  if (view.getUint32(M.sequence.at, true) !== sequence) throw corrupt(`${where} says it is map page ${view.getUint32(M.sequence.at, true)}`);
  const count = view.getUint32(M.count.at, true);
  if (count < 1 || count > EXTENTS_PER_MAP_PAGE) throw corrupt(`${where} claims ${count} extents`);
  if (!isZero(page, M.entries.at + count * EXTENT_ENTRY_BYTES, M.crc.at)) throw corrupt(`${where} has data after its last extent`);
  const extents: Extent[] = [];
  for (let i = 0; i < count; i++) {
    const at = M.entries.at + i * EXTENT_ENTRY_BYTES;
    extents.push({
      startPage: safeNumber(view.getBigUint64(at, true), `${where} extent start`),
      pageCount: safeNumber(view.getBigUint64(at + 8, true), `${where} extent length`),
    });
  }
  return { extents, nextPage: safeNumber(view.getBigUint64(M.nextPage.at, true), `${where} next page`) };
}

// ---------------------------------------------------------------------------------------------
// Chunk records

export interface ChunkHeader {
  index: number;
  /** Uncompressed length. */
  rawBytes: number;
  /** Payload length on disk. */
  storedBytes: number;
  codec: typeof CODEC_RAW | typeof CODEC_LZ4;
  /** CRC32C of the stored payload (the ciphertext of an encrypted chunk). */
  payloadCrc32c: number;
  /** The AES-GCM tag of an encrypted chunk; absent (zero on disk) otherwise. */
  tag?: Uint8Array;
}

/** Writes the 48-byte record header at `dst[at]`. */
export function encodeChunkHeader(dst: Uint8Array, at: number, chunk: ChunkHeader): void {
  const header = dst.subarray(at, at + CHUNK_HEADER_BYTES);
  header.fill(0);
  const view = viewOf(header);
  view.setUint32(C.magic.at, CHUNK_MAGIC, true);
  view.setUint32(C.index.at, chunk.index, true);
  view.setUint32(C.rawBytes.at, chunk.rawBytes, true);
  view.setUint32(C.storedBytes.at, chunk.storedBytes, true);
  view.setUint32(C.codec.at, chunk.codec, true);
  view.setUint32(C.payloadCrc.at, chunk.payloadCrc32c, true);
  if (chunk.tag) {
    if (chunk.tag.length !== CHUNK_TAG_BYTES) throw new RangeError(`a chunk tag is ${CHUNK_TAG_BYTES} bytes, got ${chunk.tag.length}`);
    header.set(chunk.tag, C.tag.at);
  }
  view.setUint32(C.crc.at, crc32c(header.subarray(0, C.crc.at)), true);
}

/**
 * Reads the record header at `src[at]`: IMAGE_CORRUPT for a wrong magic, CRC, codec or reserved
 * byte, or a tag that does not fit the image (one in a plain image; an encrypted image's tag is
 * returned and checked by the cipher). `streamByte` is where the record lies in the chunk stream,
 * for the messages, when `src` is only a window of it.
 */
export function decodeChunkHeader(src: Uint8Array, at: number, encrypted: boolean, streamByte = at): ChunkHeader {
  if (at + CHUNK_HEADER_BYTES > src.length) throw corrupt(`the chunk stream ends inside a record header at byte ${streamByte}`);
  const header = src.subarray(at, at + CHUNK_HEADER_BYTES);
  const view = viewOf(header);
  if (view.getUint32(C.magic.at, true) !== CHUNK_MAGIC) throw corrupt(`no chunk record at stream byte ${streamByte}`);
  if (view.getUint32(C.crc.at, true) !== crc32c(header.subarray(0, C.crc.at))) throw corrupt(`the chunk record header at stream byte ${streamByte} fails its CRC`);
  if (!isZero(header, end(C.tag), C.crc.at)) throw corrupt(`the chunk record at stream byte ${streamByte} has data in its reserved bytes`);
  if (!encrypted && !isZero(header, C.tag.at, end(C.tag))) throw corrupt(`the chunk record at stream byte ${streamByte} has a tag in an image without encryption`);
  const codec = view.getUint32(C.codec.at, true);
  if (codec !== CODEC_RAW && codec !== CODEC_LZ4) throw corrupt(`the chunk record at stream byte ${streamByte} names unknown codec ${codec}`);
  return {
    index: view.getUint32(C.index.at, true),
    rawBytes: view.getUint32(C.rawBytes.at, true),
    storedBytes: view.getUint32(C.storedBytes.at, true),
    codec,
    payloadCrc32c: view.getUint32(C.payloadCrc.at, true),
    ...(encrypted ? { tag: copyOf(header, C.tag.at, end(C.tag)) } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers

/**
 * The CRC by which one structure names another page (the marker its header, the header its extent
 * map): the CRC32C of the page without its own trailing CRC, continued from `seed`. Not of the
 * whole page: a page that ends with its own CRC32C (little endian) has the same CRC32C whatever it
 * holds (0x48674BC7, the CRC's residue), so that would tell no two valid pages apart.
 */
export function pageContentCrc(page: Uint8Array, seed = 0): number {
  assertPage(page, 'page');
  return crc32c(page.subarray(0, PAGE_CRC_OFFSET), seed);
}

/**
 * A copy of bytes[from, to). Not `bytes.slice()`: on a Buffer (what the native backend's
 * allocAligned returns) that is a view, which changes when a reader reuses its buffer.
 */
function copyOf(bytes: Uint8Array, from: number, to: number): Uint8Array {
  return new Uint8Array(bytes.subarray(from, to));
}

/** The offset just past `field`. */
function end(field: Field): number {
  return field.at + field.bytes;
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function isZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

function assertPage(page: Uint8Array, what: string): void {
  if (page.length !== PAGE_SIZE) throw new RangeError(`a ${what} is ${PAGE_SIZE} bytes, got ${page.length}`);
}

function safeNumber(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(`the image's ${what} (${value}) is out of range`);
  return Number(value);
}

function corrupt(message: string): HiberkitError {
  return new HiberkitError('IMAGE_CORRUPT', message);
}
