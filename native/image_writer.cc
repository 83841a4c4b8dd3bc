// The C++ image writer (image_writer.h): the snapshot stream into hiberkit's on-disk format,
// byte for byte what lib/image/writer.ts writes (docs/image-format.md). It runs in the critical
// section, so it allocates nothing and takes no lock: every buffer is a slice of the workspace.
// Host tests drive it through the test addon (test/native/image_writer_entries.cc).
#include "image_writer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "crc32c.h"
#include "image_crypto.h"
#include "image_invalidate.h"
#include "little_endian.h"
#include "lz4.h"
#include "write_queue.h"

namespace hiberkit {
namespace {

// The layout's constants and offsets are native/image_layout.h (generated from lib/image/layout.ts).
// The cipher's tags and MACs land in fields of the layout's sizes.
static_assert(kAeadTagBytes == kChunkTagBytes && kAeadTagBytes == kMacBytes, "a GCM tag fills the chunk tag and header MAC fields");

size_t DivideRoundingUp(size_t n, size_t d) { return (n + d - 1) / d; }
size_t RoundUp(size_t n, size_t multiple) { return DivideRoundingUp(n, multiple) * multiple; }

// ---- Workspace

// The chunk stream's I/O buffer is a ring of this many slots of io_bytes: while the disk writes
// the slots already full (WriteQueue), the writer fills the next one. Two would overlap the
// writer's work with the disk's; four also let the writer run ahead while a slot compresses
// better or worse than the last, at 3 * io_bytes more workspace (which ends up in the image).
constexpr size_t kIoSlots = 4;

// Where each buffer lives in the workspace. The I/O buffers come first and page aligned.
struct Layout {
  size_t io;          // kIoSlots * io_bytes: chunk stream bytes waiting for, or in, their disk writes
  size_t chunk;       // chunk_pages pages: the chunk being read from the source
  size_t payload;     // chunk_pages pages: the compressed payload
  size_t page;        // one page: header and resume page
  size_t placed;      // u64[io_bytes / 4096]: page indexes of one batch
  size_t extents;     // {u64, u64}[max_stored_pages]
  size_t map_placed;  // u64[map pages]: page indexes of the extent map
  size_t table;       // Lz4HashTable
  size_t queue;       // WriteQueue records: at most one write per page of a slot
  size_t total;
};

size_t SlotPages(const ImageWriterConfig& config) { return config.io_bytes / kPageSize; }

size_t MaxMapPages(const ImageWriterConfig& config) {
  return std::max<size_t>(1, DivideRoundingUp(config.max_stored_pages, kExtentsPerMapPage));
}

Layout LayoutFor(const ImageWriterConfig& config) {
  Layout layout{};
  size_t at = 0;
  auto take = [&at](size_t bytes, size_t align) {
    at = RoundUp(at, align);
    const size_t start = at;
    at += bytes;
    return start;
  };
  const size_t chunk_bytes = size_t{config.chunk_pages} * kPageSize;
  layout.io = take(kIoSlots * config.io_bytes, kPageSize);
  layout.chunk = take(chunk_bytes, kPageSize);
  layout.payload = take(chunk_bytes, kPageSize);
  layout.page = take(kPageSize, kPageSize);
  layout.placed = take(SlotPages(config) * sizeof(uint64_t), 64);
  layout.extents = take(config.max_stored_pages * kExtentEntryBytes, 64);
  layout.map_placed = take(MaxMapPages(config) * sizeof(uint64_t), 64);
  layout.table = take(sizeof(Lz4HashTable), 64);
  layout.queue = take(WriteQueue::MemoryBytes(kIoSlots, SlotPages(config)), 64);
  layout.total = RoundUp(at, kPageSize);
  return layout;
}

// ---- The writer

struct Extent {
  uint64_t start_page;
  uint64_t page_count;
};

// One WriteImage call. Methods return 0 or an errno value and set `stage_` on failure.
class Writer {
 public:
  Writer(const ImageWriterConfig& config, ImageWriterWorkspace workspace, uint64_t stream_pages,
         PageSource& source, SwapAllocator& allocator, ProgressSink& progress)
      : config_(config),
        stream_pages_(stream_pages),
        source_(source),
        allocator_(allocator),
        progress_(progress),
        layout_(LayoutFor(config)),
        queue_(config.storage_fd, kIoSlots, SlotPages(config), workspace.base + layout_.queue),
        // Synchronous writes leave the slot free at once: reusing it keeps it warm in the CPU
        // cache (measured on the host: cycling through four cold slots made LZ4 images 8% slower).
        slots_in_use_(queue_.asynchronous() ? kIoSlots : 1) {
    uint8_t* base = workspace.base;
    io_ = base + layout_.io;
    chunk_ = base + layout_.chunk;
    payload_ = base + layout_.payload;
    page_ = base + layout_.page;
    placed_ = reinterpret_cast<uint64_t*>(base + layout_.placed);
    extents_ = reinterpret_cast<Extent*>(base + layout_.extents);
    map_placed_ = reinterpret_cast<uint64_t*>(base + layout_.map_placed);
    table_ = reinterpret_cast<Lz4HashTable*>(base + layout_.table);
    cipher_ = config.encryption.enabled ? workspace.cipher : nullptr;
  }

  ImageWriteResult Run() {
    const int error = WriteEverything();
    return {error, error == 0 ? "done" : stage_, stream_pages_, stored_bytes_, extent_count_, allocated_pages_};
  }

 private:
  int WriteEverything() {
    int error = WriteChunks();
    if (error != 0) return error;
    if (io_fill_ > 0) {
      const size_t padded = RoundUp(io_fill_, kPageSize);
      memset(Slot() + io_fill_, 0, padded - io_fill_);
      if ((error = SubmitSlot(padded / kPageSize)) != 0) return error;
    }
    // Everything below writes synchronously, and the extent map reuses the first slot.
    if ((error = queue_.WaitAll()) != 0) return Fail("write chunks", error);
    if ((error = Flush(config_.storage_fd)) != 0) return Fail("flush chunks", error);

    uint64_t map_first_page = 0, map_pages = 0;
    uint32_t map_crc = 0;
    if ((error = WriteExtentMap(&map_first_page, &map_pages, &map_crc)) != 0) return error;

    uint64_t header_page = 0;
    if ((error = AllocPages(1, &header_page)) != 0) return error;
    if (!BuildHeader(map_first_page, map_pages, map_crc)) return Fail("authenticate header", EIO);
    // The header's own CRC (bytes 0..4091), not the whole page's: see WriteExtentMap.
    const uint32_t header_crc = Crc32c(page_, kHCrc);
    if ((error = WriteAll(config_.storage_fd, page_, kPageSize, header_page * kPageSize)) != 0) return Fail("write header", error);
    if ((error = Flush(config_.storage_fd)) != 0) return Fail("flush header", error);

    BuildMarkedResumePage(header_page, header_crc);
    if ((error = WriteAll(config_.storage_fd, page_, kPageSize, config_.resume_page * kPageSize)) != 0) {
      return Fail("write resume page", error);
    }
    if ((error = Flush(config_.storage_fd)) != 0) return Fail("flush resume page", error);
    return 0;
  }

  int Fail(const char* stage, int error) {
    stage_ = stage;
    return error;
  }

  // Reads the stream chunk by chunk and appends a record for each.
  int WriteChunks() {
    uint64_t received = 0;
    while (received < stream_pages_) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(config_.chunk_pages, stream_pages_ - received));
      size_t got = 0;
      while (got < want) {
        const long n = source_.ReadPages(chunk_ + got * kPageSize, want - got);
        if (n < 0) return Fail("read snapshot", static_cast<int>(-n));
        if (n == 0) return Fail("read snapshot", ENODATA);  // the stream ended early
        if (static_cast<size_t>(n) > want - got) return Fail("read snapshot", EIO);
        got += static_cast<size_t>(n);
      }
      received += got;
      const int error = EmitChunk(chunk_, got * kPageSize);
      if (error != 0) return error;
      progress_.Progress(received, stream_pages_);
    }
    return 0;
  }

  // One chunk record: LZ4 if that makes it smaller, else the raw bytes; then, for an encrypted
  // image, sealed in place (`raw` is the workspace's chunk buffer, already counted in the CRC).
  int EmitChunk(uint8_t* raw, size_t raw_bytes) {
    // The raw bytes are checksummed once: folded into the stream CRC here, and reused as the
    // payload CRC when the payload is those very bytes (stored raw and not sealed).
    const uint32_t raw_crc = Crc32c(raw, raw_bytes);
    stream_crc_ = Crc32cCombine(stream_crc_, raw_crc, raw_bytes);
    const size_t compressed = config_.compress ? Lz4Compress(raw, raw_bytes, payload_, raw_bytes - 1, *table_) : 0;
    uint8_t* payload = compressed > 0 ? payload_ : raw;
    const size_t payload_bytes = compressed > 0 ? compressed : raw_bytes;
    const uint32_t index = chunk_index_++;

    uint8_t header[kChunkHeaderBytes] = {};
    PutU32(header + kCMagic, kChunkMagic);
    PutU32(header + kCIndex, index);
    PutU32(header + kCRawBytes, static_cast<uint32_t>(raw_bytes));
    PutU32(header + kCStoredBytes, static_cast<uint32_t>(payload_bytes));
    PutU32(header + kCCodec, compressed > 0 ? kCodecLz4 : kCodecRaw);
    if (cipher_ != nullptr) {
      uint8_t aad[kChunkAuthenticatedBytes + kImageIdBytes];
      memcpy(aad, header, kChunkAuthenticatedBytes);
      memcpy(aad + kChunkAuthenticatedBytes, config_.encryption.image_id, kImageIdBytes);
      if (!cipher_->SealChunk(index, aad, sizeof(aad), payload, payload_bytes, header + kCTag)) {
        return Fail("encrypt chunk", EIO);
      }
    }
    const bool payload_is_raw = compressed == 0 && cipher_ == nullptr;
    PutU32(header + kCPayloadCrc, payload_is_raw ? raw_crc : Crc32c(payload, payload_bytes));
    PutU32(header + kCCrc, Crc32c(header, kCCrc));
    const int error = Append(header, sizeof(header));
    return error != 0 ? error : Append(payload, payload_bytes);
  }

  // The ring slot being filled.
  uint8_t* Slot() const { return io_ + slot_ * config_.io_bytes; }

  // Adds bytes to the chunk stream, submitting the slot's writes each time it becomes full.
  int Append(const uint8_t* bytes, size_t length) {
    while (length > 0) {
      const size_t take = std::min(config_.io_bytes - io_fill_, length);
      memcpy(Slot() + io_fill_, bytes, take);
      io_fill_ += take;
      stored_bytes_ += take;
      bytes += take;
      length -= take;
      if (io_fill_ == config_.io_bytes) {
        const int error = SubmitSlot(SlotPages(config_));
        if (error != 0) return error;
      }
    }
    return 0;
  }

  // Allocates swap pages for the first `pages` pages of the current slot, queues their writes
  // (one per run of consecutive pages), extends the extent list, and moves on to the next slot
  // once the writes it held earlier are done.
  int SubmitSlot(size_t pages) {
    int error = AllocPages(pages, placed_);
    if (error != 0) return error;
    for (size_t first = 0; first < pages;) {
      const size_t end = RunEnd(placed_, first, pages);
      const uint64_t start_page = placed_[first];
      const uint64_t count = end - first;
      if ((error = queue_.Write(slot_, Slot() + first * kPageSize, count * kPageSize, start_page * kPageSize)) != 0) {
        return Fail("write chunks", error);
      }
      if (extent_count_ > 0 && extents_[extent_count_ - 1].start_page + extents_[extent_count_ - 1].page_count == start_page) {
        extents_[extent_count_ - 1].page_count += count;
      } else if (extent_count_ == config_.max_stored_pages) {
        return Fail("record extent (more swap pages than max_stored_pages)", ENOSPC);
      } else {
        extents_[extent_count_++] = {start_page, count};
      }
      first = end;
    }
    io_fill_ = 0;
    slot_ = (slot_ + 1) % slots_in_use_;
    if ((error = queue_.WaitGroup(slot_)) != 0) return Fail("write chunks", error);
    return 0;
  }

  // The extent map pages, chained in order: all are allocated first so each knows its successor,
  // then built in the I/O buffer and written a batch at a time.
  int WriteExtentMap(uint64_t* first_page, uint64_t* pages, uint32_t* crc) {
    const size_t count = DivideRoundingUp(extent_count_, kExtentsPerMapPage);
    int error = AllocPages(count, map_placed_);
    if (error != 0) return error;
    const size_t batch_pages = config_.io_bytes / kPageSize;
    uint32_t map_crc = 0;
    for (size_t batch_start = 0; batch_start < count; batch_start += batch_pages) {
      const size_t batch_end = std::min(count, batch_start + batch_pages);
      for (size_t i = batch_start; i < batch_end; i++) {
        uint8_t* page = io_ + (i - batch_start) * kPageSize;
        BuildMapPage(page, i, i + 1 < count ? map_placed_[i + 1] : 0);
        // Bytes 0..4091 only: a page ending with its own CRC32C has the same CRC32C whatever it
        // holds (the residue 0x48674BC7), so whole pages would bind nothing.
        map_crc = Crc32c(page, kMCrc, map_crc);
        if (cipher_ != nullptr && !cipher_->HashExtentMap(page, kPageSize)) return Fail("hash extent map", EINVAL);
      }
      for (size_t first = batch_start; first < batch_end;) {
        const size_t end = RunEnd(map_placed_, first, batch_end);
        error = WriteAll(config_.storage_fd, io_ + (first - batch_start) * kPageSize, (end - first) * kPageSize,
                         map_placed_[first] * kPageSize);
        if (error != 0) return Fail("write extent map", error);
        first = end;
      }
    }
    if (cipher_ != nullptr && !cipher_->FinishExtentMapHash(extent_map_sha256_)) return Fail("hash extent map", EINVAL);
    *first_page = map_placed_[0];
    *pages = count;
    *crc = map_crc;
    return 0;
  }

  void BuildMapPage(uint8_t* page, size_t sequence, uint64_t next_page) {
    const size_t first = sequence * kExtentsPerMapPage;
    const size_t entries = std::min(kExtentsPerMapPage, extent_count_ - first);
    memset(page, 0, kPageSize);
    memcpy(page + kMMagic, kMapMagic, sizeof(kMapMagic));
    PutU32(page + kMSequence, static_cast<uint32_t>(sequence));
    PutU32(page + kMCount, static_cast<uint32_t>(entries));
    PutU64(page + kMNextPage, next_page);
    for (size_t i = 0; i < entries; i++) {
      PutU64(page + kMEntries + i * kExtentEntryBytes, extents_[first + i].start_page);
      PutU64(page + kMEntries + i * kExtentEntryBytes + 8, extents_[first + i].page_count);
    }
    PutU32(page + kMCrc, Crc32c(page, kMCrc));
  }

  // The header page, in page_; false if the MAC of an encrypted one could not be computed.
  bool BuildHeader(uint64_t map_first_page, uint64_t map_pages, uint32_t map_crc) {
    uint8_t* page = page_;
    memset(page, 0, kPageSize);
    memcpy(page + kHMagic, kHeaderMagic, sizeof(kHeaderMagic));
    PutU32(page + kHVersion, kFormatVersion);
    PutU32(page + kHFlags, (config_.compress ? kFlagLz4 : 0) | (config_.identity.platform_mode ? kFlagPlatformMode : 0) |
                               (cipher_ != nullptr ? kFlagsSealed : 0) |
                               (cipher_ != nullptr && config_.encryption.signed_origin ? kFlagSigned : 0));
    PutU64(page + kHStreamPages, stream_pages_);
    PutU64(page + kHStoredBytes, stored_bytes_);
    PutU64(page + kHChunkCount, chunk_index_);
    PutU32(page + kHChunkPages, config_.chunk_pages);
    PutU32(page + kHStreamCrc, stream_crc_);
    PutU64(page + kHExtentMapPage, map_first_page);
    PutU64(page + kHExtentMapPages, map_pages);
    PutU64(page + kHExtentCount, extent_count_);
    PutU64(page + kHCreatedAtMs, config_.identity.created_at_ms);
    PutU32(page + kHExtentMapCrc, map_crc);
    // Up to the first NUL, zero after it: the same bytes whatever the caller left behind it.
    const char* release = config_.identity.kernel_release;
    const char* machine = config_.identity.machine_id;
    memcpy(page + kHKernelRelease, release, strnlen(release, kIdentityFieldBytes - 1));
    memcpy(page + kHMachineId, machine, strnlen(machine, kIdentityFieldBytes - 1));
    if (cipher_ != nullptr) {
      memcpy(page + kSKeyBlock, config_.encryption.key_block, kKeyBlockBytes);
      memcpy(page + kSImageId, config_.encryption.image_id, kImageIdBytes);
      memcpy(page + kSExtentMapSha256, extent_map_sha256_, kSha256Bytes);
      memcpy(page + kSOriginalSignature, config_.original_resume_page + kSignatureOffset, kSignatureBytes);
      if (config_.encryption.signed_origin) {
        memcpy(page + kSOriginSignature, config_.encryption.origin_signature, kOriginSignatureBytes);
      }
      // The MAC covers the whole page with itself and the CRC still zero; the CRC then covers it.
      if (!cipher_->MacHeader(page, kPageSize, page + kSHeaderMac)) return false;
    }
    PutU32(page + kHCrc, Crc32c(page, kHCrc));
    return true;
  }

  void BuildMarkedResumePage(uint64_t header_page, uint32_t header_crc) {
    uint8_t* page = page_;
    memcpy(page, config_.original_resume_page, kPageSize);
    PutU64(page + kMarkerHeaderPage, header_page);
    PutU32(page + kMarkerHeaderCrc, header_crc);
    memcpy(page + kOriginalSignatureOffset, page + kSignatureOffset, kSignatureBytes);
    memcpy(page + kSignatureOffset, kImageSignature, kSignatureBytes);
    PutU32(page + kMarkerCrc, 0);
    PutU32(page + kMarkerCrc, Crc32c(page + kMarkerOffset, kPageSize - kMarkerOffset));
  }

  // `count` pages from the allocator, as page indexes, checked to be usable.
  int AllocPages(size_t count, uint64_t* out) {
    for (size_t i = 0; i < count; i++) {
      const int64_t offset = allocator_.AllocPage();
      if (offset < 0) return Fail("allocate swap page", static_cast<int>(-offset));
      if (offset % static_cast<int64_t>(kPageSize) != 0) return Fail("allocate swap page (not page aligned)", EINVAL);
      const uint64_t page = static_cast<uint64_t>(offset) / kPageSize;
      if (page == config_.resume_page) return Fail("allocate swap page (got the resume page)", EINVAL);
      out[i] = page;
      allocated_pages_++;
    }
    return 0;
  }

  // End (exclusive) of the run of consecutive page indexes that starts at `first`.
  static size_t RunEnd(const uint64_t* pages, size_t first, size_t limit) {
    size_t end = first + 1;
    while (end < limit && pages[end] == pages[end - 1] + 1) end++;
    return end;
  }

  const ImageWriterConfig& config_;
  const uint64_t stream_pages_;
  PageSource& source_;
  SwapAllocator& allocator_;
  ProgressSink& progress_;
  const Layout layout_;
  WriteQueue queue_;  // after layout_: it lives in the workspace slice layout_ names
  const size_t slots_in_use_;

  uint8_t* io_;
  uint8_t* chunk_;
  uint8_t* payload_;
  uint8_t* page_;
  uint64_t* placed_;
  Extent* extents_;
  uint64_t* map_placed_;
  Lz4HashTable* table_;
  ImageCipher* cipher_;  // null: an image without encryption
  uint8_t extent_map_sha256_[kSha256Bytes] = {};

  const char* stage_ = "";
  size_t slot_ = 0;     // the ring slot being filled
  size_t io_fill_ = 0;  // bytes in it
  uint64_t stored_bytes_ = 0;
  uint64_t allocated_pages_ = 0;
  size_t extent_count_ = 0;
  uint32_t chunk_index_ = 0;
  uint32_t stream_crc_ = 0;
};

const char* CheckConfig(const ImageWriterConfig& config, const ImageWriterWorkspace& workspace, uint64_t stream_pages) {
  if (config.chunk_pages < 1 || config.chunk_pages > kMaxChunkPages) return "check configuration (chunk_pages)";
  if (config.io_bytes < kPageSize || config.io_bytes % kPageSize != 0) return "check configuration (io_bytes)";
  if (config.max_stored_pages < 1) return "check configuration (max_stored_pages)";
  if (stream_pages < 1) return "check configuration (empty stream)";
  if (config.original_resume_page == nullptr || !IsMarkableSwapHeader(config.original_resume_page)) {
    return "check resume page (no swap signature, or data where the marker goes)";
  }
  if (workspace.base == nullptr || reinterpret_cast<uintptr_t>(workspace.base) % kPageSize != 0 ||
      workspace.bytes < ImageWriterWorkspaceBytes(config)) {
    return "check workspace";
  }
  if (config.encryption.enabled && (workspace.cipher == nullptr || !workspace.cipher->ready())) {
    return "check workspace (no cipher: InitImageWriterWorkspace was not called)";
  }
  return nullptr;
}

}  // namespace

size_t ImageWriterWorkspaceBytes(const ImageWriterConfig& config) { return LayoutFor(config).total; }

int InitImageWriterWorkspace(ImageWriterConfig* config, ImageWriterWorkspace* workspace, ImageCipher* cipher) {
  workspace->cipher = nullptr;
  if (!config->encryption.enabled) return 0;
  const int error = cipher->Init(config->encryption.chunk_key, config->encryption.header_key);
  WipeSecret(config->encryption.chunk_key, sizeof(config->encryption.chunk_key));
  WipeSecret(config->encryption.header_key, sizeof(config->encryption.header_key));
  if (error == 0) workspace->cipher = cipher;
  return error;
}

ImageWriteResult WriteImage(const ImageWriterConfig& config, ImageWriterWorkspace workspace, uint64_t stream_pages,
                            PageSource& source, SwapAllocator& allocator, ProgressSink& progress) {
  if (const char* problem = CheckConfig(config, workspace, stream_pages)) return {EINVAL, problem, stream_pages, 0, 0, 0};
  return Writer(config, workspace, stream_pages, source, allocator, progress).Run();
}

}  // namespace hiberkit
