// Finds, verifies and reads back a hiberkit image for hiberkit-resume: the port of
// lib/image/reader.ts (and of the decoders of lib/image/format.ts it uses), with the same checks in
// the same order and the same refusal codes, thrown as Failure:
//   ReadMarker   the resume page: no image, another tool's, or hiberkit's marker
//   OpenImage    marker, header (for an encrypted image: key, origin, MAC), identity, extent map,
//                placement: everything but the chunk stream
//   ReadStream   the chunk stream once, front to back, each chunk checked (record, CRC, tag,
//                decompression) before its bytes go on, the whole stream's CRC at the end
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../image_layout.h"
#include "image_keys.h"
#include "storage.h"

namespace hiberkit_resume {

// A resume page that carries hiberkit's marker, and the swap header page it replaced.
struct FoundMarker {
  uint8_t original[hiberkit::kPageSize];
};

// readMarker: nothing for a plain swap header; the original page for hiberkit's marker. Throws
// FOREIGN_SIGNATURE (another tool's image, or no swap at all), UNSUPPORTED_VERSION (another
// marker version) or IMAGE_CORRUPT (the original signature cannot be rebuilt).
std::optional<FoundMarker> ReadMarker(const Storage& storage, uint64_t resumePage);

// classifyResumePage(page).kind !== 'unknown': a swap header, marked by an image or not. A resume
// offset on a device whose first page is one points into the middle of a swap partition.
bool HasKnownSignature(const uint8_t* page);

struct ImageHeader {
  bool compressed;
  bool platformMode;
  bool encrypted;
  uint64_t streamPages;
  uint64_t storedBytes;
  uint64_t chunkCount;
  uint32_t chunkPages;
  uint32_t streamCrc32c;
  uint64_t extentMapPage;
  uint64_t extentMapPages;
  uint64_t extentCount;
  uint32_t extentMapCrc32c;
  uint64_t createdAtMs;
  std::string kernelRelease;
  std::string machineId;
};

struct Extent {
  uint64_t startPage;
  uint64_t pageCount;
};

// What the image must have been made for, and how an encrypted one is opened.
struct OpenOptions {
  std::string kernelRelease;
  std::string machineId;
  bool requireEncryption = false;  // IMAGE_NOT_ENCRYPTED for a plain image
  KeySettings keys;
  void (*progress)(const char* line) = nullptr;
};

class OpenedImage {
 public:
  OpenedImage(const Storage& storage, ImageHeader header, std::vector<Extent> extents);
  ~OpenedImage();  // wipes the chunk key
  OpenedImage(const OpenedImage&) = delete;
  OpenedImage& operator=(const OpenedImage&) = delete;

  const ImageHeader& header() const { return header_; }

  // Reads the chunk stream and hands each chunk's uncompressed bytes to `sink` once they passed
  // every check of their own; throws the refusal that stops it (the stream CRC after the last
  // chunk: act on the stream only once this has returned).
  void ReadStream(const std::function<void(const uint8_t* bytes, size_t length)>& sink);

  // For an encrypted image: the keys that open its chunks (OpenImage sets them).
  void Seal(const uint8_t* chunkKey, const uint8_t* imageId);

 private:
  const Storage& storage_;
  const ImageHeader header_;
  const std::vector<Extent> extents_;
  bool sealed_ = false;
  uint8_t chunkKey_[32] = {};
  uint8_t imageId_[hiberkit::kImageIdBytes] = {};
};

// openImage. Throws the refusal of the first check that fails.
std::unique_ptr<OpenedImage> OpenImage(const Storage& storage, uint64_t resumePage, const OpenOptions& options);

}  // namespace hiberkit_resume
