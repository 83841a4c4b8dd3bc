// The port of lib/image/reader.ts and the decoders of lib/image/format.ts (image_reader.h). The
// messages are the TypeScript's, so both implementations explain a refusal the same way.
#include "image_reader.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "../crc32c.h"
#include "../little_endian.h"
#include "../lz4.h"
#include "failure.h"

namespace hiberkit_resume {
namespace {

using namespace hiberkit;  // the layout's constants and offsets (image_layout.h)

// Largest single read of the chunk stream: large sequential requests, a bounded buffer.
constexpr size_t kReadBytes = 8 << 20;
// Number.MAX_SAFE_INTEGER: the TypeScript refuses larger counts as out of range.
constexpr uint64_t kMaxSafeInteger = (uint64_t{1} << 53) - 1;

Failure Corrupt(const std::string& message) { return Failure{"IMAGE_CORRUPT", message}; }
Failure Tampered(const std::string& message) { return Failure{"IMAGE_TAMPERED", message}; }

uint64_t AlignUp(uint64_t bytes) { return (bytes + kPageSize - 1) / kPageSize * kPageSize; }

std::string Quoted(const std::string& text) {
  std::string quoted = "\"";
  for (unsigned char c : text) {
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      char escape[8];
      snprintf(escape, sizeof(escape), "\\u%04x", c);
      quoted += escape;
    } else {
      quoted += static_cast<char>(c);
    }
  }
  return quoted + "\"";
}

// signatureAt: the 10-byte signature field at `offset`, trailing NULs removed.
std::string SignatureAt(const uint8_t* page, size_t offset) {
  size_t end = offset + kSignatureBytes;
  while (end > offset && page[end - 1] == 0) end--;
  return std::string(reinterpret_cast<const char*>(page + offset), end - offset);
}

const std::string kSwapSignatureText(kSwapSignature, kSignatureBytes);
const std::string kLegacySwapSignatureText(kLegacySwapSignature, kSignatureBytes);
const std::string kImageSignatureText(kImageSignature, kSignatureBytes);

bool IsSwapSignature(const std::string& signature) {
  return signature == kSwapSignatureText || signature == kLegacySwapSignatureText;
}

// Signatures of other hibernation tools, which hiberkit must leave alone.
const std::map<std::string, std::string> kForeignImageSignatures = {
    {"S1SUSPEND", "the kernel's own hibernation"},
    {"S2SUSPEND", "the kernel's own hibernation (old format)"},
    {"ULSUSPEND", "uswsusp (s2disk)"},
    {"LINHIB0001", "an old kernel's hibernation (LINHIB0001)"},
};

uint64_t SafeNumber(uint64_t value, const std::string& what) {
  if (value > kMaxSafeInteger) throw Corrupt("the image's " + what + " (" + std::to_string(value) + ") is out of range");
  return value;
}

// readPageSync: one page; IMAGE_TRUNCATED if it lies past the end of the device.
void ReadPage(const Storage& storage, uint64_t pageIndex, const std::string& what, AlignedBuffer& page) {
  if (pageIndex > kMaxSafeInteger || (pageIndex + 1) * kPageSize > storage.size()) {
    throw Failure{"IMAGE_TRUNCATED", what + " is page " + std::to_string(pageIndex) + ", past the end of " + storage.path() +
                                         " (" + std::to_string(storage.size()) + " bytes)"};
  }
  const size_t got = storage.Read(page.data(), kPageSize, pageIndex * kPageSize);
  if (got != kPageSize) {
    throw Failure{"IMAGE_TRUNCATED", "reading " + what + " (page " + std::to_string(pageIndex) + " of " + storage.path() +
                                         ") returned " + std::to_string(got) + " bytes"};
  }
}

// restoreOriginalPage: the swap header page as it was before marking.
void RestoreOriginalPage(const uint8_t* marked, uint8_t* original) {
  const std::string kept = SignatureAt(marked, kOriginalSignatureOffset);
  if (!IsSwapSignature(kept)) {
    throw Corrupt("the resume page keeps " + Quoted(kept) +
                  " as its original signature, so the swap header cannot be rebuilt; run mkswap on the area");
  }
  memcpy(original, marked, kPageSize);
  memmove(original + kSignatureOffset, original + kOriginalSignatureOffset, kSignatureBytes);
  memset(original + kMarkerOffset, 0, kSignatureOffset - kMarkerOffset);
}

// The resume page and, when it carries hiberkit's marker, the original page rebuilt from it.
bool ReadMarkerPages(const Storage& storage, uint64_t resumePage, AlignedBuffer& marked, FoundMarker* found) {
  ReadPage(storage, resumePage, "the resume page", marked);
  const std::string signature = SignatureAt(marked.data(), kSignatureOffset);
  if (IsSwapSignature(signature)) return false;
  if (signature == kImageSignatureText) {
    RestoreOriginalPage(marked.data(), found->original);
    return true;
  }
  if (signature.compare(0, 8, "HIBERKIT") == 0) {
    throw Failure{"UNSUPPORTED_VERSION", "the resume page carries " + signature +
                                             ", a hiberkit marker version this hiberkit does not read"};
  }
  const auto owner = kForeignImageSignatures.find(signature);
  if (owner != kForeignImageSignatures.end()) {
    throw Failure{"FOREIGN_SIGNATURE", "the resume page of " + storage.path() + " holds an image of " + owner->second +
                                           " (signature " + Quoted(signature) + "); hiberkit leaves it alone"};
  }
  throw Failure{"FOREIGN_SIGNATURE", "page " + std::to_string(resumePage) + " of " + storage.path() +
                                         " is neither a swap header nor a hiberkit image (signature " + Quoted(signature) +
                                         "); check the resume device and offset"};
}

struct ResumeMarker {
  uint64_t headerPage;
  uint32_t headerCrc32c;
  std::string originalSignature;
};

// decodeMarker.
ResumeMarker DecodeMarker(const uint8_t* page) {
  uint8_t marker[kPageSize - kMarkerOffset];
  memcpy(marker, page + kMarkerOffset, sizeof(marker));
  PutU32(marker + (kMarkerCrc - kMarkerOffset), 0);
  if (GetU32(page + kMarkerCrc) != Crc32c(marker, sizeof(marker))) throw Corrupt("the resume page marker fails its CRC");
  if (!IsZero(page, kMarkerCrc + 4, kOriginalSignatureOffset)) throw Corrupt("the resume page marker has data in its reserved bytes");
  const std::string original = SignatureAt(page, kOriginalSignatureOffset);
  if (!IsSwapSignature(original)) throw Corrupt("the resume page marker keeps " + Quoted(original) + ", not a swap signature");
  return {SafeNumber(GetU64(page + kMarkerHeaderPage), "header page"), GetU32(page + kMarkerHeaderCrc), original};
}

// pageContentCrc: the CRC32C of a page without its own trailing CRC.
uint32_t PageContentCrc(const uint8_t* page, uint32_t seed = 0) { return Crc32c(page, kPageCrcOffset, seed); }

struct HeaderKind {
  bool encrypted;
  bool signedOrigin;
};

// checkHeaderPage: magic, version, CRC and flags, before anything else in the header is believed.
HeaderKind CheckHeaderPage(const uint8_t* page) {
  if (memcmp(page + kHMagic, kHeaderMagic, sizeof(kHeaderMagic)) != 0) throw Corrupt("the image header page has no HKIMAGE magic");
  const uint32_t version = GetU32(page + kHVersion);
  if (version != kFormatVersion) {
    throw Failure{"UNSUPPORTED_VERSION", "the image has format version " + std::to_string(version) +
                                             "; this hiberkit reads version " + std::to_string(kFormatVersion)};
  }
  if (GetU32(page + kHCrc) != Crc32c(page, kHCrc)) throw Corrupt("the image header fails its CRC");
  const uint32_t flags = GetU32(page + kHFlags);
  const uint32_t known = kFlagLz4 | kFlagPlatformMode | kFlagsSealed | kFlagSigned;
  if ((flags & ~known) != 0) {
    char hex[16];
    snprintf(hex, sizeof(hex), "%x", flags);
    throw Failure{"UNSUPPORTED_VERSION", std::string("the image header has unknown flags 0x") + hex};
  }
  const uint32_t sealed = flags & kFlagsSealed;
  if (sealed != 0 && sealed != kFlagsSealed) {
    throw Failure{"UNSUPPORTED_VERSION",
                  "the image is encrypted without authentication or the other way round, which this version of the format does not define"};
  }
  const bool signedOrigin = (flags & kFlagSigned) != 0;
  if (signedOrigin && sealed == 0) {
    throw Failure{"UNSUPPORTED_VERSION", "the image is signed but not encrypted, which this version of the format does not define"};
  }
  return {sealed == kFlagsSealed, signedOrigin};
}

// What TextDecoder('utf-8', { fatal: true }) accepts: no overlong forms, no surrogates, nothing
// above U+10FFFF.
bool IsUtf8(const uint8_t* bytes, size_t length) {
  for (size_t i = 0; i < length;) {
    const uint8_t c = bytes[i];
    size_t extra;
    uint32_t point;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      extra = 1;
      point = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      extra = 2;
      point = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      extra = 3;
      point = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= length) return false;  // cut short
    for (size_t k = 1; k <= extra; k++) {
      if ((bytes[i + k] & 0xc0) != 0x80) return false;
      point = (point << 6) | (bytes[i + k] & 0x3f);
    }
    const uint32_t least = extra == 1 ? 0x80 : extra == 2 ? 0x800 : 0x10000;
    if (point < least || point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

std::string IdentityField(const uint8_t* page, size_t offset, const std::string& what) {
  const uint8_t* field = page + offset;
  const uint8_t* nul = static_cast<const uint8_t*>(memchr(field, 0, kIdentityFieldBytes));
  const size_t end = nul == nullptr ? kIdentityFieldBytes : static_cast<size_t>(nul - field);
  if (nul == nullptr || !IsZero(field, end, kIdentityFieldBytes)) throw Corrupt("the image header's " + what + " field is not NUL padded");
  if (!IsUtf8(field, end)) throw Corrupt("the image header's " + what + " field is not UTF-8");
  return std::string(reinterpret_cast<const char*>(field), end);
}

// decodeHeader: every field, the reserved bytes, and that the counts agree.
ImageHeader DecodeHeader(const uint8_t* page) {
  const HeaderKind kind = CheckHeaderPage(page);
  const uint32_t flags = GetU32(page + kHFlags);
  const size_t identityEnd = kHMachineId + kIdentityFieldBytes;
  const bool reservedClear =
      kind.encrypted ? IsZero(page, identityEnd, kSKeyBlock) &&
                           IsZero(page, kSOriginalSignature + kSignatureBytes, kSHeaderMac) &&
                           IsZero(page, kind.signedOrigin ? kSOriginSignature + kOriginSignatureBytes : kSOriginSignature, kHCrc)
                     : IsZero(page, identityEnd, kHCrc);
  if (!IsZero(page, kHExtentMapCrc + 4, kHKernelRelease) || !reservedClear) throw Corrupt("the image header has data in reserved bytes");
  if (kind.encrypted && !IsSwapSignature(SignatureAt(page, kSOriginalSignature))) {
    throw Corrupt("the image header keeps no swap signature in its security block");
  }
  ImageHeader h;
  h.compressed = (flags & kFlagLz4) != 0;
  h.platformMode = (flags & kFlagPlatformMode) != 0;
  h.encrypted = kind.encrypted;
  h.streamPages = SafeNumber(GetU64(page + kHStreamPages), "stream pages");
  h.storedBytes = SafeNumber(GetU64(page + kHStoredBytes), "stored bytes");
  h.chunkCount = SafeNumber(GetU64(page + kHChunkCount), "chunk count");
  h.chunkPages = GetU32(page + kHChunkPages);
  h.streamCrc32c = GetU32(page + kHStreamCrc);
  h.extentMapPage = SafeNumber(GetU64(page + kHExtentMapPage), "extent map page");
  h.extentMapPages = SafeNumber(GetU64(page + kHExtentMapPages), "extent map pages");
  h.extentCount = SafeNumber(GetU64(page + kHExtentCount), "extent count");
  h.createdAtMs = SafeNumber(GetU64(page + kHCreatedAtMs), "creation time");
  h.extentMapCrc32c = GetU32(page + kHExtentMapCrc);
  h.kernelRelease = IdentityField(page, kHKernelRelease, "kernel release");
  h.machineId = IdentityField(page, kHMachineId, "machine id");
  // checkHeaderCounts: the counts a valid writer produces always agree with each other.
  if (h.chunkPages < 1 || h.chunkPages > kMaxChunkPages) {
    throw Corrupt("the image header gives " + std::to_string(h.chunkPages) + " pages per chunk");
  }
  if (h.streamPages < 1) throw Corrupt("the image header gives an empty stream");
  if (h.chunkCount != (h.streamPages + h.chunkPages - 1) / h.chunkPages) {
    throw Corrupt("the image header gives " + std::to_string(h.chunkCount) + " chunks for " + std::to_string(h.streamPages) +
                  " pages of " + std::to_string(h.chunkPages));
  }
  if (h.storedBytes < h.chunkCount * (kChunkHeaderBytes + 1)) {
    throw Corrupt("the image header gives only " + std::to_string(h.storedBytes) + " stored bytes");
  }
  if (h.extentCount < 1 || h.extentMapPages != (h.extentCount + kExtentsPerMapPage - 1) / kExtentsPerMapPage) {
    throw Corrupt("the image header gives " + std::to_string(h.extentCount) + " extents in " +
                  std::to_string(h.extentMapPages) + " map pages");
  }
  return h;
}

// Wipes secret key bytes when it goes, whichever way.
class KeyGuard {
 public:
  KeyGuard(void* bytes, size_t length) : bytes_(bytes), length_(length) {}
  ~KeyGuard() { Wipe(bytes_, length_); }
  KeyGuard(const KeyGuard&) = delete;
  KeyGuard& operator=(const KeyGuard&) = delete;

 private:
  void* bytes_;
  size_t length_;
};

// authenticateHeader: unlocks an encrypted image and verifies its origin, header MAC and the
// marker's copy of the original signature; until it returns, nothing in the header but its CRC
// and key block is believed. Leaves the chunk key in `chunkKey`.
void AuthenticateHeader(const uint8_t* page, const ResumeMarker& marker, bool signedOrigin, const OpenOptions& options,
                        uint8_t* chunkKey) {
  const uint8_t* keyBlock = page + kSKeyBlock;
  const KeyKind kind = KeyBlockKind(keyBlock);
  UnlockedKey unlocked = UnlockDataKey(keyBlock, kind, options.keys, options.progress);
  KeyGuard unlockedGuard(&unlocked, sizeof(unlocked));
  ImageKeys keys = DeriveImageKeys(unlocked.dataKey);
  KeyGuard keysGuard(&keys, sizeof(keys));
  if (unlocked.hasVerifyKey) {
    // checkOrigin: the data key sealed in the block is one this machine's hibernate chose.
    if (!signedOrigin) {
      throw Failure{"IMAGE_FORGED",
                    "the image carries no origin signature, and this machine's images are signed: it was not made by this machine's hibernate"};
    }
    if (!OriginSignatureValid(unlocked.verifyKey, page + kSImageId, keyBlock, page + kSOriginSignature)) {
      throw Failure{"IMAGE_FORGED",
                    "the image's origin signature does not verify with this machine's key: it was not made by this machine's hibernate"};
    }
  }
  uint8_t macInput[kPageSize];
  memcpy(macInput, page, kPageSize);
  memset(macInput + kSHeaderMac, 0, kMacBytes);
  memset(macInput + kHCrc, 0, kPageSize - kHCrc);
  if (!HeaderMacMatches(keys.headerKey, macInput, kPageSize, page + kSHeaderMac)) {
    throw Tampered("the image header fails its MAC: it was altered after it was written");
  }
  const std::string headerCopy = SignatureAt(page, kSOriginalSignature);
  if (headerCopy != marker.originalSignature) {
    throw Tampered("the marker keeps " + Quoted(marker.originalSignature) + " as the original signature, the header " +
                   Quoted(headerCopy));
  }
  memcpy(chunkKey, keys.chunkKey, sizeof(keys.chunkKey));
}

// SHA-256 of the extent map pages, in chain order (an encrypted image's header holds it).
class Sha256 {
 public:
  Sha256() : context_(EVP_MD_CTX_new()) {
    if (context_ == nullptr || EVP_DigestInit_ex(context_, EVP_sha256(), nullptr) != 1) Fail();
  }
  ~Sha256() { EVP_MD_CTX_free(context_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const uint8_t* bytes, size_t length) {
    if (EVP_DigestUpdate(context_, bytes, length) != 1) Fail();
  }
  void Finish(uint8_t* digest) {
    if (EVP_DigestFinal_ex(context_, digest, nullptr) != 1) Fail();
  }

 private:
  [[noreturn]] static void Fail() { throw Failure{"RESUME_FAILED", "libcrypto could not compute a SHA-256"}; }
  EVP_MD_CTX* context_;
};

// decodeExtentMapPage.
uint64_t DecodeExtentMapPage(const uint8_t* page, uint64_t sequence, std::vector<Extent>& extents) {
  const std::string where = "extent map page " + std::to_string(sequence);
  if (memcmp(page + kMMagic, kMapMagic, sizeof(kMapMagic)) != 0) throw Corrupt(where + " has no HKEXTMAP magic");
  if (GetU32(page + kMCrc) != Crc32c(page, kMCrc)) throw Corrupt(where + " fails its CRC");
  if (GetU32(page + kMSequence) != sequence) throw Corrupt(where + " says it is map page " + std::to_string(GetU32(page + kMSequence)));
  const uint32_t count = GetU32(page + kMCount);
  if (count < 1 || count > kExtentsPerMapPage) throw Corrupt(where + " claims " + std::to_string(count) + " extents");
  if (!IsZero(page, kMEntries + count * kExtentEntryBytes, kMCrc)) throw Corrupt(where + " has data after its last extent");
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t* entry = page + kMEntries + i * kExtentEntryBytes;
    extents.push_back({SafeNumber(GetU64(entry), where + " extent start"), SafeNumber(GetU64(entry + 8), where + " extent length")});
  }
  return SafeNumber(GetU64(page + kMNextPage), where + " next page");
}

// readExtentMap: follows the chain and checks it against the header (and an encrypted image's SHA-256).
std::vector<Extent> ReadExtentMap(const Storage& storage, const ImageHeader& header, const uint8_t* expectedSha256,
                                  std::vector<uint64_t>& mapPages) {
  std::vector<Extent> extents;
  AlignedBuffer page(kPageSize);
  std::unique_ptr<Sha256> digest = expectedSha256 != nullptr ? std::make_unique<Sha256>() : nullptr;
  uint32_t mapCrc = 0;
  uint64_t next = header.extentMapPage;
  for (uint64_t sequence = 0; sequence < header.extentMapPages; sequence++) {
    if (next == 0) {
      throw Corrupt("the extent map ends after " + std::to_string(sequence) + " of " + std::to_string(header.extentMapPages) + " pages");
    }
    ReadPage(storage, next, "extent map page " + std::to_string(sequence), page);
    mapCrc = PageContentCrc(page.data(), mapCrc);
    if (digest) digest->Update(page.data(), kPageSize);
    mapPages.push_back(next);
    next = DecodeExtentMapPage(page.data(), sequence, extents);
  }
  if (next != 0) throw Corrupt("the extent map goes on after its " + std::to_string(header.extentMapPages) + " pages");
  if (mapCrc != header.extentMapCrc32c) throw Corrupt("the extent map is not the one the header was written with");
  if (digest) {
    uint8_t actual[kSha256Bytes];
    digest->Finish(actual);
    if (memcmp(actual, expectedSha256, kSha256Bytes) != 0) throw Tampered("the extent map fails its SHA-256: it was altered after it was written");
  }
  if (extents.size() != header.extentCount) {
    throw Corrupt("the extent map holds " + std::to_string(extents.size()) + " extents, the header says " +
                  std::to_string(header.extentCount));
  }
  return extents;
}

// checkPlacement: every page the image uses lies on the device, no two uses overlap, and the
// extents hold exactly the stored bytes.
void CheckPlacement(const ImageHeader& header, const std::vector<Extent>& extents, const std::vector<uint64_t>& singlePages,
                    uint64_t devicePages) {
  std::vector<Extent> used = extents;
  for (uint64_t page : singlePages) used.push_back({page, 1});
  uint64_t total = 0;
  for (const Extent& extent : extents) {
    if (extent.pageCount < 1) throw Corrupt("the extent map holds an empty extent");
    total += extent.pageCount;
  }
  for (const Extent& extent : used) {
    if (extent.startPage + extent.pageCount > devicePages) {
      throw Failure{"IMAGE_TRUNCATED", "the image uses pages up to " + std::to_string(extent.startPage + extent.pageCount - 1) +
                                           ", but the device has " + std::to_string(devicePages) + " pages"};
    }
  }
  std::stable_sort(used.begin(), used.end(), [](const Extent& a, const Extent& b) { return a.startPage < b.startPage; });
  for (size_t i = 1; i < used.size(); i++) {
    if (used[i - 1].startPage + used[i - 1].pageCount > used[i].startPage) {
      throw Corrupt("the image uses page " + std::to_string(used[i].startPage) + " twice");
    }
  }
  const uint64_t needed = AlignUp(header.storedBytes) / kPageSize;
  if (total != needed) {
    throw Corrupt("the extents hold " + std::to_string(total) + " pages, but " + std::to_string(header.storedBytes) +
                  " stored bytes need " + std::to_string(needed));
  }
}

// One record of the chunk stream: its header fields, and where its header and payload are.
struct ChunkRecord {
  uint32_t index;
  uint32_t rawBytes;
  uint32_t storedBytes;
  uint32_t codec;
  const uint8_t* header;
  uint8_t* payload;
};

// ChunkRecordReader: the chunk stream from its extents, front to back, in large page-aligned reads
// through one window buffer, one record at a time, each checked on its own.
class ChunkRecordReader {
 public:
  ChunkRecordReader(const Storage& storage, const std::vector<Extent>& extents, const ImageHeader& header)
      : storage_(storage),
        extents_(extents),
        header_(header),
        window_(kReadBytes + AlignUp(kChunkHeaderBytes + uint64_t{header.chunkPages} * kPageSize)) {}

  ChunkRecord Next(uint32_t index) {
    const uint64_t at = streamAt_;
    const std::string where = "chunk " + std::to_string(index) + " (stream byte " + std::to_string(at) + ")";
    if (at + kChunkHeaderBytes > header_.storedBytes) throw Corrupt("the chunk stream ends inside the record header of " + where);
    Have(kChunkHeaderBytes);
    uint8_t* record = window_.data() + start_;
    const std::string byte = std::to_string(at);
    if (GetU32(record + kCMagic) != kChunkMagic) throw Corrupt("no chunk record at stream byte " + byte);
    if (GetU32(record + kCCrc) != Crc32c(record, kCCrc)) throw Corrupt("the chunk record header at stream byte " + byte + " fails its CRC");
    if (!IsZero(record, kCTag + kChunkTagBytes, kCCrc)) throw Corrupt("the chunk record at stream byte " + byte + " has data in its reserved bytes");
    if (!header_.encrypted && !IsZero(record, kCTag, kCTag + kChunkTagBytes)) {
      throw Corrupt("the chunk record at stream byte " + byte + " has a tag in an image without encryption");
    }
    const ChunkRecord chunk{GetU32(record + kCIndex), GetU32(record + kCRawBytes), GetU32(record + kCStoredBytes),
                            GetU32(record + kCCodec), nullptr, nullptr};
    if (chunk.codec != kCodecRaw && chunk.codec != kCodecLz4) {
      throw Corrupt("the chunk record at stream byte " + byte + " names unknown codec " + std::to_string(chunk.codec));
    }
    if (chunk.index != index) throw Corrupt(where + " is numbered " + std::to_string(chunk.index));
    const uint64_t expectedRaw =
        std::min<uint64_t>(header_.chunkPages, header_.streamPages - uint64_t{index} * header_.chunkPages) * kPageSize;
    if (chunk.rawBytes != expectedRaw) {
      throw Corrupt(where + " holds " + std::to_string(chunk.rawBytes) + " bytes, expected " + std::to_string(expectedRaw));
    }
    if (chunk.codec == kCodecLz4) {
      if (!header_.compressed) throw Corrupt(where + " is compressed in an image without compression");
      if (chunk.storedBytes < 1 || chunk.storedBytes >= chunk.rawBytes) {
        throw Corrupt(where + " is an LZ4 block of " + std::to_string(chunk.storedBytes) + " bytes");
      }
    } else if (chunk.storedBytes != chunk.rawBytes) {
      throw Corrupt(where + " is stored raw in " + std::to_string(chunk.storedBytes) + " bytes instead of " +
                    std::to_string(chunk.rawBytes));
    }
    const uint64_t recordBytes = kChunkHeaderBytes + uint64_t{chunk.storedBytes};
    if (at + recordBytes > header_.storedBytes) throw Corrupt(where + " reaches past the end of the chunk stream");
    Have(recordBytes);
    record = window_.data() + start_;
    uint8_t* payload = record + kChunkHeaderBytes;
    if (Crc32c(payload, chunk.storedBytes) != GetU32(record + kCPayloadCrc)) throw Corrupt(where + " fails its payload CRC");
    start_ += recordBytes;
    streamAt_ += recordBytes;
    return {chunk.index, chunk.rawBytes, chunk.storedBytes, chunk.codec, record, payload};
  }

  // After the last record: the records end where the header says, and the rest of the last page is zero.
  void Finish() {
    if (streamAt_ != header_.storedBytes) {
      throw Corrupt("the chunk records end at byte " + std::to_string(streamAt_) + ", the header says " +
                    std::to_string(header_.storedBytes));
    }
    const uint64_t padding = AlignUp(header_.storedBytes) - header_.storedBytes;
    Have(padding);
    if (!IsZero(window_.data(), start_, start_ + padding)) throw Corrupt("the padding after the last chunk record is not zero");
  }

 private:
  // Reads until the window holds at least `bytes` bytes from start_.
  void Have(uint64_t bytes) {
    while (end_ - start_ < bytes) {
      if (start_ >= kPageSize) Compact();
      if (extent_ >= extents_.size()) throw Corrupt("the chunk stream ends before its last record");
      const Extent& extent = extents_[extent_];
      const uint64_t position = (extent.startPage + extentPagesRead_) * kPageSize;
      const uint64_t want = std::min<uint64_t>({window_.size() - end_, kReadBytes, (extent.pageCount - extentPagesRead_) * kPageSize});
      const size_t got = want == 0 ? 0 : storage_.Read(window_.data() + end_, want, position);
      if (got == 0 || got % kPageSize != 0) {
        throw Failure{"IMAGE_TRUNCATED", "reading " + storage_.path() + " at byte " + std::to_string(position) + " returned " +
                                             std::to_string(got) + " bytes: the image is cut short"};
      }
      end_ += got;
      extentPagesRead_ += got / kPageSize;
      if (extentPagesRead_ == extent.pageCount) {
        extent_++;
        extentPagesRead_ = 0;
      }
    }
  }

  // Moves the bytes not handed out yet to the front, ending on a page boundary so the next read lands aligned.
  void Compact() {
    const uint64_t pending = end_ - start_;
    const uint64_t to = AlignUp(pending) - pending;
    memmove(window_.data() + to, window_.data() + start_, pending);
    start_ = to;
    end_ = to + pending;
  }

  const Storage& storage_;
  const std::vector<Extent>& extents_;
  const ImageHeader& header_;
  AlignedBuffer window_;  // decrypted records are left in it: wiped when it goes
  uint64_t start_ = 0;    // window index of the next stream byte not handed out yet
  uint64_t end_ = 0;      // one past the last byte read
  uint64_t streamAt_ = 0;  // stream offset of start_
  size_t extent_ = 0;
  uint64_t extentPagesRead_ = 0;
};

}  // namespace

bool HasKnownSignature(const uint8_t* page) {
  const std::string signature = SignatureAt(page, kSignatureOffset);
  return IsSwapSignature(signature) || signature.compare(0, 8, "HIBERKIT") == 0 ||
         kForeignImageSignatures.count(signature) != 0;
}

std::optional<FoundMarker> ReadMarker(const Storage& storage, uint64_t resumePage) {
  AlignedBuffer marked(kPageSize);
  FoundMarker found;
  if (!ReadMarkerPages(storage, resumePage, marked, &found)) return std::nullopt;
  return found;
}

OpenedImage::OpenedImage(const Storage& storage, ImageHeader header, std::vector<Extent> extents)
    : storage_(storage), header_(std::move(header)), extents_(std::move(extents)) {}

OpenedImage::~OpenedImage() { Wipe(chunkKey_, sizeof(chunkKey_)); }

void OpenedImage::Seal(const uint8_t* chunkKey, const uint8_t* imageId) {
  sealed_ = true;
  memcpy(chunkKey_, chunkKey, sizeof(chunkKey_));
  memcpy(imageId_, imageId, sizeof(imageId_));
}

void OpenedImage::ReadStream(const std::function<void(const uint8_t*, size_t)>& sink) {
  ChunkRecordReader records(storage_, extents_, header_);
  AlignedBuffer scratch(size_t{header_.chunkPages} * kPageSize);  // wiped when it goes: it holds plaintext
  uint32_t crc = 0;
  for (uint64_t index = 0; index < header_.chunkCount; index++) {
    const ChunkRecord record = records.Next(static_cast<uint32_t>(index));
    if (sealed_) {
      uint8_t aad[kChunkAuthenticatedBytes + kImageIdBytes];
      memcpy(aad, record.header, kChunkAuthenticatedBytes);
      memcpy(aad + kChunkAuthenticatedBytes, imageId_, kImageIdBytes);
      if (!OpenChunk(chunkKey_, record.index, aad, sizeof(aad), record.payload, record.storedBytes, record.header + kCTag)) {
        throw Tampered("chunk " + std::to_string(record.index) + " fails its authentication tag: it was altered after it was written");
      }
    }
    const uint8_t* raw = record.payload;
    if (record.codec == kCodecLz4) {
      if (Lz4Decompress(record.payload, record.storedBytes, scratch.data(), record.rawBytes) != static_cast<ptrdiff_t>(record.rawBytes)) {
        throw Corrupt("chunk " + std::to_string(record.index) + " is not a valid LZ4 block of " + std::to_string(record.rawBytes) + " bytes");
      }
      raw = scratch.data();
    }
    // A plain raw chunk's payload CRC is the CRC of its raw bytes, checked as it was read: fold it
    // in instead of reading them again (as lib/image/reader.ts does). An encrypted chunk's payload
    // CRC covers the ciphertext, so its plaintext is summed here.
    crc = !sealed_ && record.codec == kCodecRaw ? Crc32cCombine(crc, GetU32(record.header + kCPayloadCrc), record.rawBytes)
                                                : Crc32c(raw, record.rawBytes, crc);
    sink(raw, record.rawBytes);
  }
  records.Finish();
  if (crc != header_.streamCrc32c) throw Corrupt("the uncompressed stream fails its CRC");
}

std::unique_ptr<OpenedImage> OpenImage(const Storage& storage, uint64_t resumePage, const OpenOptions& options) {
  // readMarkedHeader: the marker and the header page it names, checked against the marker's CRC.
  AlignedBuffer marked(kPageSize);
  FoundMarker found;
  if (!ReadMarkerPages(storage, resumePage, marked, &found)) {
    throw Failure{"NO_IMAGE", storage.path() + " holds no hiberkit image (page " + std::to_string(resumePage) + " is a plain swap header)"};
  }
  const ResumeMarker marker = DecodeMarker(marked.data());
  if (marker.headerPage == resumePage) throw Corrupt("the marker names the resume page itself as the image header");
  AlignedBuffer headerPage(kPageSize);
  ReadPage(storage, marker.headerPage, "the image header", headerPage);
  if (PageContentCrc(headerPage.data()) != marker.headerCrc32c) throw Corrupt("the image header page is not the one the marker was written for");

  const uint8_t* page = headerPage.data();
  const HeaderKind kind = CheckHeaderPage(page);
  if (!kind.encrypted && options.requireEncryption) {
    throw Failure{"IMAGE_NOT_ENCRYPTED", "the image on " + storage.path() + " is not encrypted, and this system only resumes encrypted images"};
  }
  uint8_t chunkKey[32] = {};
  KeyGuard chunkKeyGuard(chunkKey, sizeof(chunkKey));
  if (kind.encrypted) AuthenticateHeader(page, marker, kind.signedOrigin, options, chunkKey);
  ImageHeader header = DecodeHeader(page);
  // checkIdentity: facts only; whether booting that kernel can still resume it is the caller's call.
  if (header.machineId != options.machineId) {
    throw Failure{"WRONG_MACHINE", "the image was made on machine " + Quoted(header.machineId) + ", this is " + Quoted(options.machineId)};
  }
  if (header.kernelRelease != options.kernelRelease) {
    throw Failure{"WRONG_KERNEL", "the image was made by kernel " + header.kernelRelease + ", this is " + options.kernelRelease};
  }
  std::vector<uint64_t> mapPages;
  std::vector<Extent> extents = ReadExtentMap(storage, header, kind.encrypted ? page + kSExtentMapSha256 : nullptr, mapPages);
  std::vector<uint64_t> singlePages = {resumePage, marker.headerPage};
  singlePages.insert(singlePages.end(), mapPages.begin(), mapPages.end());
  CheckPlacement(header, extents, singlePages, storage.size() / kPageSize);
  auto image = std::make_unique<OpenedImage>(storage, std::move(header), std::move(extents));
  if (kind.encrypted) image->Seal(chunkKey, page + kSImageId);
  return image;
}

}  // namespace hiberkit_resume
