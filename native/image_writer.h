// Writes the snapshot stream to swap in hiberkit's on-disk format (docs/image-format.md).
//
// This runs inside the critical section, with user space frozen: it allocates nothing, takes
// no lock, and touches only the memory of an ImageWriterWorkspace prepared before the freeze.
// The stream source and the swap allocator are interfaces so that the same writer runs on
// /dev/snapshot in the critical section and on memory in host tests.
#pragma once

#include <cstddef>
#include <cstdint>

#include "image_layout.h"

namespace hiberkit {

class ImageCipher;  // image_crypto.h

// Where the snapshot stream comes from (/dev/snapshot, or memory in tests).
class PageSource {
 public:
  // Reads up to `pages` whole pages into `buf` (page aligned). Returns the pages read, 0 at the
  // end of the stream, or -errno.
  virtual long ReadPages(uint8_t* buf, size_t pages) = 0;

 protected:
  ~PageSource() = default;
};

// Hands out free swap pages (SNAPSHOT_ALLOC_SWAP_PAGE, or a list in tests).
class SwapAllocator {
 public:
  // Byte offset on the storage device of one free page, or -errno (-ENOSPC when full).
  virtual int64_t AllocPage() = 0;

 protected:
  ~SwapAllocator() = default;
};

// Told how far the writer is. Must not allocate or lock.
class ProgressSink {
 public:
  virtual void Progress(uint64_t done_pages, uint64_t total_pages) = 0;

 protected:
  ~ProgressSink() = default;
};

struct ImageIdentityFields {
  char kernel_release[kIdentityFieldBytes];  // NUL padded
  char machine_id[kIdentityFieldBytes];      // NUL padded
  uint64_t created_at_ms;
  bool platform_mode;
};

// An encrypted, authenticated image (docs/image-format.md §2.1). The keys arrive derived from the
// data key in JavaScript (lib/image/security.ts imageKeysFor); InitImageWriterWorkspace turns them
// into cipher contexts and wipes them from here, so only those contexts hold them afterwards.
struct ImageEncryptionConfig {
  bool enabled;
  uint8_t chunk_key[32];
  uint8_t header_key[32];
  uint8_t key_block[kKeyBlockBytes];  // the data key sealed by lib/crypto/keys.ts, stored as is
  uint8_t image_id[kImageIdBytes];
  // This machine's Ed25519 signature over the image id and key block, made in JavaScript before
  // the freeze (lib/crypto/origin.ts) and stored as is; signed = false: an unsigned image.
  bool signed_origin;
  uint8_t origin_signature[kOriginSignatureBytes];
};

struct ImageWriterConfig {
  int storage_fd;                        // read-write; may be O_DIRECT: all I/O is page aligned
  uint64_t resume_page;                  // page index of the swap header page on storage
  const uint8_t* original_resume_page;   // 4096 bytes: the swap header page as it was
  ImageIdentityFields identity;
  bool compress;                         // LZ4 chunks (else stored raw)
  uint32_t chunk_pages;                  // uncompressed pages per chunk
  uint64_t max_stored_pages;             // upper bound of swap pages the image may use (sizes the extent table,
                                         // 16 bytes each; a smaller value caps the workspace but fails with
                                         // ENOSPC if the swap pages form more extents than that)
  size_t io_bytes;                       // bytes per disk write batch (a multiple of 4096, e.g. 4 MiB); the
                                         // workspace holds a ring of four, so that writes overlap (write_queue.h)
  ImageEncryptionConfig encryption;      // enabled = false: an image with checksums only
};

// All memory the writer touches, allocated and faulted in before the freeze.
struct ImageWriterWorkspace {
  uint8_t* base;          // page aligned
  size_t bytes;           // at least ImageWriterWorkspaceBytes(config)
  ImageCipher* cipher;    // set by InitImageWriterWorkspace for an encrypted image; null otherwise
};

size_t ImageWriterWorkspaceBytes(const ImageWriterConfig& config);

// Before the freeze (in the parent of the critical-section child, before the fork): the part of
// preparing the writer that may allocate or take locks. For an encrypted image it initialises
// `cipher` with the configured keys (image_crypto.h), points the workspace at it, and wipes the
// keys from `config` whether it succeeds or not. `cipher` must outlive every WriteImage call with
// this workspace. Returns 0 or an errno value.
int InitImageWriterWorkspace(ImageWriterConfig* config, ImageWriterWorkspace* workspace, ImageCipher* cipher);

struct ImageWriteResult {
  int error;            // 0 or an errno value
  const char* stage;    // static string naming the step that failed (or "done")
  uint64_t stream_pages;
  uint64_t stored_bytes;  // bytes of the chunk stream (the header's stored_bytes), without padding
  uint64_t extents;       // extents of the chunk stream
  uint64_t stored_pages;  // swap pages the image uses: chunk stream, extent map and header page
};

// Reads the whole stream from `source` (stream_pages pages, from GET_IMAGE_SIZE), writes chunks,
// the extent map and the image header, flushes, then marks the resume page and flushes again.
// On failure nothing on disk names the partial image (the resume page is written last).
ImageWriteResult WriteImage(const ImageWriterConfig& config, ImageWriterWorkspace workspace,
                            uint64_t stream_pages, PageSource& source, SwapAllocator& allocator,
                            ProgressSink& progress);

}  // namespace hiberkit
