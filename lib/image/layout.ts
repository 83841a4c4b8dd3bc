/**
 * The layout of hiberkit's on-disk image format (docs/image-format.md), defined once: its
 * constants, and the offset, size and meaning of every field of its four structures.
 * lib/image/format.ts encodes and decodes with it; native/image_layout.h, which the C++ writer
 * includes, is generated from it (lib/image/layout-cpp.ts, `npm run gen:layout`), and
 * test/image-layout.test.ts fails while the committed header differs from what this describes.
 * Data only: each `doc` becomes the comment of its declaration in the header.
 */
import { KEY_BLOCK_BYTES } from '../crypto/keys.js';
import { PAGE_SIZE } from '../ioctls.js';
import { LEGACY_SWAP_SIGNATURE, SWAP_SIGNATURE } from '../swap-header.js';

/** A named constant and its C++ type: `u32` (uint32_t), `size` (size_t, a byte count or offset), `chars` (char[], no NUL added). */
export type Constant =
  | { readonly type: 'u32' | 'size'; readonly value: number; readonly doc: string }
  | { readonly type: 'chars'; readonly value: string; readonly doc: string };

/** A field of a structure: its byte offset in the page (or the chunk record), its length and its type. */
export interface Field {
  readonly at: number;
  readonly bytes: number;
  readonly type: 'u32' | 'u64' | 'bytes';
  readonly doc: string;
}

export type Fields = Readonly<Record<string, Field>>;

/**
 * Every constant of the format, in the order the header declares them. The ones other modules
 * define (the page size, the key block, the swap signatures) are listed here for the C++ side.
 */
export const CONSTANTS = {
  FORMAT_VERSION: { type: 'u32', value: 1, doc: 'The header\'s version field; a reader refuses any other.' },
  PAGE_SIZE: { type: 'size', value: PAGE_SIZE, doc: 'Every structure is a page or lies in the chunk stream, which fills whole pages.' },
  PAGE_CRC_OFFSET: { type: 'size', value: 4092, doc: 'Header and extent map pages keep the CRC32C of their bytes 0..4091 here.' },
  MAX_CHUNK_PAGES: { type: 'u32', value: 4096, doc: 'The most pages one chunk may hold: chunk lengths are u32 and LZ4 blocks stay small.' },

  MARKER_OFFSET: { type: 'size', value: 4048, doc: 'The marker occupies bytes 4048..4095 of the resume page; bytes 0..4047 stay the swap header\'s.' },
  ORIGINAL_SIGNATURE_OFFSET: { type: 'size', value: 4076, doc: 'Where the marker keeps the swap signature the page had.' },
  SIGNATURE_OFFSET: { type: 'size', value: 4086, doc: 'The swap signature, or hiberkit\'s once the page is marked.' },
  SIGNATURE_BYTES: { type: 'size', value: 10, doc: 'Length of a signature field (NUL padded).' },
  IMAGE_SIGNATURE: { type: 'chars', value: 'HIBERKIT01', doc: 'hiberkit\'s signature; "01" is the marker layout version.' },
  SWAP_SIGNATURE: { type: 'chars', value: SWAP_SIGNATURE, doc: 'The signature mkswap writes (lib/swap-header.ts).' },
  LEGACY_SWAP_SIGNATURE: { type: 'chars', value: LEGACY_SWAP_SIGNATURE, doc: 'The version-0 swap signature, still a swap area (lib/swap-header.ts).' },

  HEADER_MAGIC: { type: 'chars', value: 'HKIMAGE\0', doc: 'Bytes 0..7 of the image header page.' },
  IDENTITY_FIELD_BYTES: { type: 'size', value: 65, doc: 'Kernel release and machine id fields: at most 64 bytes of UTF-8, NUL padded.' },
  FLAG_LZ4: { type: 'u32', value: 1 << 0, doc: 'Header flag: chunks may be LZ4 blocks.' },
  FLAG_PLATFORM_MODE: { type: 'u32', value: 1 << 1, doc: 'Header flag: restore with the platform (ACPI S4) hooks.' },
  FLAG_ENCRYPTED: { type: 'u32', value: 1 << 2, doc: 'Header flag: chunks are AES-256-GCM ciphertext (always with FLAG_AUTHENTICATED).' },
  FLAG_AUTHENTICATED: { type: 'u32', value: 1 << 3, doc: 'Header flag: the header carries a MAC (always with FLAG_ENCRYPTED).' },
  FLAG_SIGNED: { type: 'u32', value: 1 << 4, doc: 'Header flag: the security block carries an origin signature (only with FLAGS_SEALED).' },
  FLAGS_SEALED: { type: 'u32', value: (1 << 2) | (1 << 3), doc: 'FLAG_ENCRYPTED | FLAG_AUTHENTICATED: version 1 offers both or neither.' },

  SECURITY_BLOCK_OFFSET: { type: 'size', value: 1024, doc: 'Encryption and authentication fields of the header page; all zero in an image without them.' },
  SECURITY_BLOCK_BYTES: { type: 'size', value: 2048, doc: 'Length of the security block; what its fields leave is reserved.' },
  KEY_BLOCK_BYTES: { type: 'size', value: KEY_BLOCK_BYTES, doc: 'The data key sealed for a passphrase or a public key (lib/crypto/keys.ts).' },
  IMAGE_ID_BYTES: { type: 'size', value: 16, doc: 'Random per image; bound into every chunk\'s associated data.' },
  SHA256_BYTES: { type: 'size', value: 32, doc: 'A SHA-256 digest.' },
  MAC_BYTES: { type: 'size', value: 16, doc: 'The header MAC (GMAC).' },
  ORIGIN_SIGNATURE_BYTES: { type: 'size', value: 64, doc: 'An Ed25519 signature.' },

  MAP_MAGIC: { type: 'chars', value: 'HKEXTMAP', doc: 'Bytes 0..7 of an extent map page.' },
  EXTENT_ENTRY_BYTES: { type: 'size', value: 16, doc: 'An extent map entry: u64 start_page, u64 page_count.' },
  EXTENTS_PER_MAP_PAGE: { type: 'size', value: 254, doc: 'Entries one extent map page holds before its CRC.' },

  CHUNK_MAGIC: { type: 'u32', value: 0x4b434b48, doc: '"HKCK" read as a little-endian u32: the start of a chunk record.' },
  CHUNK_HEADER_BYTES: { type: 'size', value: 48, doc: 'A chunk record\'s header; its payload follows.' },
  CHUNK_AUTHENTICATED_BYTES: { type: 'size', value: 20, doc: 'magic, index, raw_bytes, stored_bytes and codec: what an encrypted chunk\'s tag authenticates.' },
  CHUNK_TAG_BYTES: { type: 'size', value: 16, doc: 'The AES-GCM tag of an encrypted chunk.' },
  CODEC_RAW: { type: 'u32', value: 0, doc: 'Chunk codec: the payload is the raw pages.' },
  CODEC_LZ4: { type: 'u32', value: 1, doc: 'Chunk codec: the payload is one LZ4 block.' },
} as const satisfies Readonly<Record<string, Constant>>;

export const {
  FORMAT_VERSION,
  PAGE_CRC_OFFSET,
  MAX_CHUNK_PAGES,
  MARKER_OFFSET,
  ORIGINAL_SIGNATURE_OFFSET,
  SIGNATURE_OFFSET,
  SIGNATURE_BYTES,
  IMAGE_SIGNATURE,
  HEADER_MAGIC,
  IDENTITY_FIELD_BYTES,
  FLAG_LZ4,
  FLAG_PLATFORM_MODE,
  FLAG_ENCRYPTED,
  FLAG_AUTHENTICATED,
  FLAG_SIGNED,
  FLAGS_SEALED,
  SECURITY_BLOCK_OFFSET,
  SECURITY_BLOCK_BYTES,
  IMAGE_ID_BYTES,
  SHA256_BYTES,
  MAC_BYTES,
  ORIGIN_SIGNATURE_BYTES,
  MAP_MAGIC,
  EXTENT_ENTRY_BYTES,
  EXTENTS_PER_MAP_PAGE,
  CHUNK_MAGIC,
  CHUNK_HEADER_BYTES,
  CHUNK_AUTHENTICATED_BYTES,
  CHUNK_TAG_BYTES,
  CODEC_RAW,
  CODEC_LZ4,
} = valuesOf(CONSTANTS);

/** The marker's own fields in the resume page (the signatures are at the offsets above). */
export const MARKER = {
  headerPage: { at: 4048, bytes: 8, type: 'u64', doc: 'Page index of the image header page.' },
  headerCrc: { at: 4056, bytes: 4, type: 'u32', doc: 'Content CRC of the header page (bytes 0..4091): binds the marker to that header.' },
  crc: { at: 4060, bytes: 4, type: 'u32', doc: 'CRC32C of bytes 4048..4095 with this field taken as zero; 4064..4075 reserved.' },
} as const satisfies Fields;

/** The image header page; what no field covers is reserved (zero). */
export const HEADER = {
  magic: { at: 0, bytes: 8, type: 'bytes', doc: 'HEADER_MAGIC.' },
  version: { at: 8, bytes: 4, type: 'u32', doc: 'FORMAT_VERSION.' },
  flags: { at: 12, bytes: 4, type: 'u32', doc: 'FLAG_* bits; a reader refuses unknown ones.' },
  streamPages: { at: 16, bytes: 8, type: 'u64', doc: 'Pages of the kernel\'s snapshot stream.' },
  storedBytes: { at: 24, bytes: 8, type: 'u64', doc: 'Bytes of the chunk stream (records back to back, without the final padding).' },
  chunkCount: { at: 32, bytes: 8, type: 'u64', doc: 'Chunk records: stream pages / chunk pages, rounded up.' },
  chunkPages: { at: 40, bytes: 4, type: 'u32', doc: 'Uncompressed pages per chunk, 1..MAX_CHUNK_PAGES.' },
  streamCrc: { at: 44, bytes: 4, type: 'u32', doc: 'CRC32C of the whole uncompressed stream, in order.' },
  extentMapPage: { at: 48, bytes: 8, type: 'u64', doc: 'Page index of extent map page 0.' },
  extentMapPages: { at: 56, bytes: 8, type: 'u64', doc: 'Extent map pages: extent count / EXTENTS_PER_MAP_PAGE, rounded up.' },
  extentCount: { at: 64, bytes: 8, type: 'u64', doc: 'Extents of the chunk stream.' },
  createdAtMs: { at: 72, bytes: 8, type: 'u64', doc: 'When the image was planned, in ms since 1970 (UTC).' },
  extentMapCrc: { at: 80, bytes: 4, type: 'u32', doc: 'Content CRC of every extent map page, continued from page to page in chain order.' },
  kernelRelease: { at: 88, bytes: IDENTITY_FIELD_BYTES, type: 'bytes', doc: 'uname -r of the kernel that made the image, NUL padded.' },
  machineId: { at: 153, bytes: IDENTITY_FIELD_BYTES, type: 'bytes', doc: 'The identity of the machine that made the image, NUL padded.' },
  crc: { at: PAGE_CRC_OFFSET, bytes: 4, type: 'u32', doc: 'CRC32C of bytes 0..4091.' },
} as const satisfies Fields;

/** The security block's fields, at their offsets in the header page (filled in only in an encrypted image). */
export const SECURITY = {
  keyBlock: { at: 1024, bytes: KEY_BLOCK_BYTES, type: 'bytes', doc: 'The image\'s data key, sealed (lib/crypto/keys.ts).' },
  imageId: { at: 1152, bytes: IMAGE_ID_BYTES, type: 'bytes', doc: 'Random per image.' },
  extentMapSha256: { at: 1168, bytes: SHA256_BYTES, type: 'bytes', doc: 'SHA-256 of all extent map pages (whole pages, chain order).' },
  originalSignature: { at: 1200, bytes: SIGNATURE_BYTES, type: 'bytes', doc: 'The swap signature the resume page had: the marker\'s copy is checked against it.' },
  headerMac: { at: 1216, bytes: MAC_BYTES, type: 'bytes', doc: 'GMAC of the header page with this field and the page CRC zero.' },
  originSignature: { at: 1232, bytes: ORIGIN_SIGNATURE_BYTES, type: 'bytes', doc: 'Ed25519 signature over the image id and key block (FLAG_SIGNED only; zero otherwise).' },
} as const satisfies Fields;

/** An extent map page; the pages form a chain in chunk-stream order. */
export const EXTENT_MAP = {
  magic: { at: 0, bytes: 8, type: 'bytes', doc: 'MAP_MAGIC.' },
  sequence: { at: 8, bytes: 4, type: 'u32', doc: 'Position of this page in the chain, from 0.' },
  count: { at: 12, bytes: 4, type: 'u32', doc: 'Entries used, 1..EXTENTS_PER_MAP_PAGE; the rest are zero.' },
  nextPage: { at: 16, bytes: 8, type: 'u64', doc: 'Page index of the next map page; 0 ends the chain.' },
  entries: { at: 24, bytes: EXTENTS_PER_MAP_PAGE * EXTENT_ENTRY_BYTES, type: 'bytes', doc: 'The extents: {u64 start_page, u64 page_count} each.' },
  crc: { at: PAGE_CRC_OFFSET, bytes: 4, type: 'u32', doc: 'CRC32C of bytes 0..4091.' },
} as const satisfies Fields;

/** A chunk record's header, at the start of each record of the chunk stream. */
export const CHUNK = {
  magic: { at: 0, bytes: 4, type: 'u32', doc: 'CHUNK_MAGIC.' },
  index: { at: 4, bytes: 4, type: 'u32', doc: 'The chunk\'s position in the stream, from 0.' },
  rawBytes: { at: 8, bytes: 4, type: 'u32', doc: 'Uncompressed length.' },
  storedBytes: { at: 12, bytes: 4, type: 'u32', doc: 'Payload length on disk.' },
  codec: { at: 16, bytes: 4, type: 'u32', doc: 'CODEC_RAW or CODEC_LZ4.' },
  payloadCrc: { at: 20, bytes: 4, type: 'u32', doc: 'CRC32C of the stored payload (the ciphertext of an encrypted chunk).' },
  tag: { at: 24, bytes: CHUNK_TAG_BYTES, type: 'bytes', doc: 'AES-GCM tag of an encrypted chunk, zero otherwise; 40..43 reserved.' },
  crc: { at: 44, bytes: 4, type: 'u32', doc: 'CRC32C of bytes 0..43.' },
} as const satisfies Fields;

/** The structures, in the order the header declares them, with the prefix of their C++ names (kH + Version = kHVersion). */
export const STRUCTURES: readonly { readonly title: string; readonly prefix: string; readonly fields: Fields }[] = [
  { title: 'Resume page marker (docs/image-format.md §1)', prefix: 'Marker', fields: MARKER },
  { title: 'Image header page (§2)', prefix: 'H', fields: HEADER },
  { title: 'Security block of an encrypted image\'s header page (§2.1)', prefix: 'S', fields: SECURITY },
  { title: 'Extent map page (§3)', prefix: 'M', fields: EXTENT_MAP },
  { title: 'Chunk record header (§4)', prefix: 'C', fields: CHUNK },
];

function valuesOf<T extends Readonly<Record<string, Constant>>>(constants: T): { readonly [K in keyof T]: T[K]['value'] } {
  return Object.fromEntries(Object.entries(constants).map(([name, constant]) => [name, constant.value])) as {
    readonly [K in keyof T]: T[K]['value'];
  };
}
