// Generated from lib/image/layout.ts by npm run gen:layout; do not edit.
// The layout of hiberkit's on-disk image format (docs/image-format.md): constants, and the byte
// offset of every field of its structures. Integers are little endian. A constant FOO_BAR of
// layout.ts is kFooBar here; a field fooBar of a structure with prefix H is kHFooBar, its offset.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hiberkit {

// ---- Constants

// The header's version field; a reader refuses any other.
constexpr uint32_t kFormatVersion = 1;
// Every structure is a page or lies in the chunk stream, which fills whole pages.
constexpr size_t kPageSize = 4096;
// Header and extent map pages keep the CRC32C of their bytes 0..4091 here.
constexpr size_t kPageCrcOffset = 4092;
// The most pages one chunk may hold: chunk lengths are u32 and LZ4 blocks stay small.
constexpr uint32_t kMaxChunkPages = 4096;
// The marker occupies bytes 4048..4095 of the resume page; bytes 0..4047 stay the swap header's.
constexpr size_t kMarkerOffset = 4048;
// Where the marker keeps the swap signature the page had.
constexpr size_t kOriginalSignatureOffset = 4076;
// The swap signature, or hiberkit's once the page is marked.
constexpr size_t kSignatureOffset = 4086;
// Length of a signature field (NUL padded).
constexpr size_t kSignatureBytes = 10;
// hiberkit's signature; "01" is the marker layout version.
constexpr char kImageSignature[10] = {'H', 'I', 'B', 'E', 'R', 'K', 'I', 'T', '0', '1'};
// The signature mkswap writes (lib/swap-header.ts).
constexpr char kSwapSignature[10] = {'S', 'W', 'A', 'P', 'S', 'P', 'A', 'C', 'E', '2'};
// The version-0 swap signature, still a swap area (lib/swap-header.ts).
constexpr char kLegacySwapSignature[10] = {'S', 'W', 'A', 'P', '-', 'S', 'P', 'A', 'C', 'E'};
// Bytes 0..7 of the image header page.
constexpr char kHeaderMagic[8] = {'H', 'K', 'I', 'M', 'A', 'G', 'E', '\0'};
// Kernel release and machine id fields: at most 64 bytes of UTF-8, NUL padded.
constexpr size_t kIdentityFieldBytes = 65;
// Header flag: chunks may be LZ4 blocks.
constexpr uint32_t kFlagLz4 = 1;
// Header flag: restore with the platform (ACPI S4) hooks.
constexpr uint32_t kFlagPlatformMode = 2;
// Header flag: chunks are AES-256-GCM ciphertext (always with FLAG_AUTHENTICATED).
constexpr uint32_t kFlagEncrypted = 4;
// Header flag: the header carries a MAC (always with FLAG_ENCRYPTED).
constexpr uint32_t kFlagAuthenticated = 8;
// Header flag: the security block carries an origin signature (only with FLAGS_SEALED).
constexpr uint32_t kFlagSigned = 16;
// FLAG_ENCRYPTED | FLAG_AUTHENTICATED: version 1 offers both or neither.
constexpr uint32_t kFlagsSealed = 12;
// Encryption and authentication fields of the header page; all zero in an image without them.
constexpr size_t kSecurityBlockOffset = 1024;
// Length of the security block; what its fields leave is reserved.
constexpr size_t kSecurityBlockBytes = 2048;
// The data key sealed for a passphrase or a public key (lib/crypto/keys.ts).
constexpr size_t kKeyBlockBytes = 128;
// Random per image; bound into every chunk's associated data.
constexpr size_t kImageIdBytes = 16;
// A SHA-256 digest.
constexpr size_t kSha256Bytes = 32;
// The header MAC (GMAC).
constexpr size_t kMacBytes = 16;
// An Ed25519 signature.
constexpr size_t kOriginSignatureBytes = 64;
// Bytes 0..7 of an extent map page.
constexpr char kMapMagic[8] = {'H', 'K', 'E', 'X', 'T', 'M', 'A', 'P'};
// An extent map entry: u64 start_page, u64 page_count.
constexpr size_t kExtentEntryBytes = 16;
// Entries one extent map page holds before its CRC.
constexpr size_t kExtentsPerMapPage = 254;
// "HKCK" read as a little-endian u32: the start of a chunk record.
constexpr uint32_t kChunkMagic = 0x4b434b48;
// A chunk record's header; its payload follows.
constexpr size_t kChunkHeaderBytes = 48;
// magic, index, raw_bytes, stored_bytes and codec: what an encrypted chunk's tag authenticates.
constexpr size_t kChunkAuthenticatedBytes = 20;
// The AES-GCM tag of an encrypted chunk.
constexpr size_t kChunkTagBytes = 16;
// Chunk codec: the payload is the raw pages.
constexpr uint32_t kCodecRaw = 0;
// Chunk codec: the payload is one LZ4 block.
constexpr uint32_t kCodecLz4 = 1;

// ---- Resume page marker (docs/image-format.md §1): byte offsets of its fields

constexpr size_t kMarkerHeaderPage = 4048;  // u64: Page index of the image header page.
constexpr size_t kMarkerHeaderCrc = 4056;  // u32: Content CRC of the header page (bytes 0..4091): binds the marker to that header.
constexpr size_t kMarkerCrc = 4060;  // u32: CRC32C of bytes 4048..4095 with this field taken as zero; 4064..4075 reserved.

// ---- Image header page (§2): byte offsets of its fields

constexpr size_t kHMagic = 0;  // 8 bytes: HEADER_MAGIC.
constexpr size_t kHVersion = 8;  // u32: FORMAT_VERSION.
constexpr size_t kHFlags = 12;  // u32: FLAG_* bits; a reader refuses unknown ones.
constexpr size_t kHStreamPages = 16;  // u64: Pages of the kernel's snapshot stream.
constexpr size_t kHStoredBytes = 24;  // u64: Bytes of the chunk stream (records back to back, without the final padding).
constexpr size_t kHChunkCount = 32;  // u64: Chunk records: stream pages / chunk pages, rounded up.
constexpr size_t kHChunkPages = 40;  // u32: Uncompressed pages per chunk, 1..MAX_CHUNK_PAGES.
constexpr size_t kHStreamCrc = 44;  // u32: CRC32C of the whole uncompressed stream, in order.
constexpr size_t kHExtentMapPage = 48;  // u64: Page index of extent map page 0.
constexpr size_t kHExtentMapPages = 56;  // u64: Extent map pages: extent count / EXTENTS_PER_MAP_PAGE, rounded up.
constexpr size_t kHExtentCount = 64;  // u64: Extents of the chunk stream.
constexpr size_t kHCreatedAtMs = 72;  // u64: When the image was planned, in ms since 1970 (UTC).
constexpr size_t kHExtentMapCrc = 80;  // u32: Content CRC of every extent map page, continued from page to page in chain order.
constexpr size_t kHKernelRelease = 88;  // 65 bytes: uname -r of the kernel that made the image, NUL padded.
constexpr size_t kHMachineId = 153;  // 65 bytes: The identity of the machine that made the image, NUL padded.
constexpr size_t kHCrc = 4092;  // u32: CRC32C of bytes 0..4091.

// ---- Security block of an encrypted image's header page (§2.1): byte offsets of its fields

constexpr size_t kSKeyBlock = 1024;  // 128 bytes: The image's data key, sealed (lib/crypto/keys.ts).
constexpr size_t kSImageId = 1152;  // 16 bytes: Random per image.
constexpr size_t kSExtentMapSha256 = 1168;  // 32 bytes: SHA-256 of all extent map pages (whole pages, chain order).
constexpr size_t kSOriginalSignature = 1200;  // 10 bytes: The swap signature the resume page had: the marker's copy is checked against it.
constexpr size_t kSHeaderMac = 1216;  // 16 bytes: GMAC of the header page with this field and the page CRC zero.
constexpr size_t kSOriginSignature = 1232;  // 64 bytes: Ed25519 signature over the image id and key block (FLAG_SIGNED only; zero otherwise).

// ---- Extent map page (§3): byte offsets of its fields

constexpr size_t kMMagic = 0;  // 8 bytes: MAP_MAGIC.
constexpr size_t kMSequence = 8;  // u32: Position of this page in the chain, from 0.
constexpr size_t kMCount = 12;  // u32: Entries used, 1..EXTENTS_PER_MAP_PAGE; the rest are zero.
constexpr size_t kMNextPage = 16;  // u64: Page index of the next map page; 0 ends the chain.
constexpr size_t kMEntries = 24;  // 4064 bytes: The extents: {u64 start_page, u64 page_count} each.
constexpr size_t kMCrc = 4092;  // u32: CRC32C of bytes 0..4091.

// ---- Chunk record header (§4): byte offsets of its fields

constexpr size_t kCMagic = 0;  // u32: CHUNK_MAGIC.
constexpr size_t kCIndex = 4;  // u32: The chunk's position in the stream, from 0.
constexpr size_t kCRawBytes = 8;  // u32: Uncompressed length.
constexpr size_t kCStoredBytes = 12;  // u32: Payload length on disk.
constexpr size_t kCCodec = 16;  // u32: CODEC_RAW or CODEC_LZ4.
constexpr size_t kCPayloadCrc = 20;  // u32: CRC32C of the stored payload (the ciphertext of an encrypted chunk).
constexpr size_t kCTag = 24;  // 16 bytes: AES-GCM tag of an encrypted chunk, zero otherwise; 40..43 reserved.
constexpr size_t kCCrc = 44;  // u32: CRC32C of bytes 0..43.

}  // namespace hiberkit
