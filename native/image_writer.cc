// The C++ image writer (image_writer.h): the snapshot stream into hiberkit's on-disk format,
// byte for byte what lib/image/writer.ts writes (docs/image-format.md). It runs in the critical
// section, so it allocates nothing and takes no lock: every buffer is a slice of the workspace.
//
// Also RegisterImageWriter: test entries that run WriteImage and InvalidateImage on memory and a
// file, so host tests can compare this writer's output with the TypeScript one, that tell which
// write path (write_queue.h) a descriptor gets, and that run the image cipher (image_crypto.h) on
// its own.
#include "image_writer.h"

#include <mcheck.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "addon.h"
#include "crc32c.h"
#include "fd_util.h"
#include "image_crypto.h"
#include "lz4.h"
#include "write_queue.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the format is little endian and so are the stores below");

namespace hiberkit {
namespace {

// ---- Layout (docs/image-format.md; the same constants as lib/image/format.ts)

constexpr uint32_t kFormatVersion = 1;
constexpr uint32_t kMaxChunkPages = 4096;

// Resume page marker.
constexpr size_t kMarkerOffset = 4048;
constexpr size_t kMarkerHeaderPage = 4048;  // u64
constexpr size_t kMarkerHeaderCrc = 4056;   // u32
constexpr size_t kMarkerCrc = 4060;         // u32
constexpr size_t kOriginalSignatureOffset = 4076;
constexpr size_t kSignatureOffset = 4086;
constexpr size_t kSignatureBytes = 10;
constexpr char kImageSignature[] = "HIBERKIT01";
constexpr char kSwapSignature[] = "SWAPSPACE2";
constexpr char kLegacySwapSignature[] = "SWAP-SPACE";

// Image header page.
constexpr char kHeaderMagic[8] = {'H', 'K', 'I', 'M', 'A', 'G', 'E', '\0'};
constexpr size_t kHVersion = 8;
constexpr size_t kHFlags = 12;
constexpr size_t kHStreamPages = 16;
constexpr size_t kHStoredBytes = 24;
constexpr size_t kHChunkCount = 32;
constexpr size_t kHChunkPages = 40;
constexpr size_t kHStreamCrc = 44;
constexpr size_t kHExtentMapPage = 48;
constexpr size_t kHExtentMapPages = 56;
constexpr size_t kHExtentCount = 64;
constexpr size_t kHCreatedAtMs = 72;
constexpr size_t kHExtentMapCrc = 80;
constexpr size_t kHKernelRelease = 88;
constexpr size_t kHMachineId = 153;
constexpr size_t kIdentityFieldBytes = 65;
constexpr size_t kHCrc = 4092;
constexpr uint32_t kFlagLz4 = 1u << 0;
constexpr uint32_t kFlagPlatformMode = 1u << 1;
constexpr uint32_t kFlagsSealed = (1u << 2) | (1u << 3);  // encrypted and authenticated, always both
constexpr uint32_t kFlagSigned = 1u << 4;                   // the security block carries an origin signature

// Security block of an encrypted image's header page.
constexpr size_t kSKeyBlock = 1024;
constexpr size_t kSImageId = 1152;
constexpr size_t kSExtentMapSha256 = 1168;
constexpr size_t kSOriginalSignature = 1200;
constexpr size_t kSHeaderMac = 1216;
constexpr size_t kSOriginSignature = 1232;

// Extent map pages.
constexpr char kMapMagic[8] = {'H', 'K', 'E', 'X', 'T', 'M', 'A', 'P'};
constexpr size_t kMSequence = 8;
constexpr size_t kMCount = 12;
constexpr size_t kMNextPage = 16;
constexpr size_t kMEntries = 24;
constexpr size_t kExtentEntryBytes = 16;
constexpr size_t kExtentsPerMapPage = 254;
constexpr size_t kMCrc = 4092;

// Chunk records.
constexpr uint32_t kChunkMagic = 0x4b434b48;  // "HKCK" as a little-endian u32
constexpr size_t kChunkHeaderBytes = 48;
constexpr size_t kCIndex = 4;
constexpr size_t kCRawBytes = 8;
constexpr size_t kCStoredBytes = 12;
constexpr size_t kCCodec = 16;
constexpr size_t kCPayloadCrc = 20;
constexpr size_t kCAuthenticatedBytes = 20;  // magic..codec: what an encrypted chunk's tag covers
constexpr size_t kCTag = 24;
constexpr size_t kCCrc = 44;
constexpr uint32_t kCodecRaw = 0;
constexpr uint32_t kCodecLz4 = 1;

void PutU32(uint8_t* at, uint32_t value) { memcpy(at, &value, sizeof(value)); }
void PutU64(uint8_t* at, uint64_t value) { memcpy(at, &value, sizeof(value)); }

size_t DivideRoundingUp(size_t n, size_t d) { return (n + d - 1) / d; }
size_t RoundUp(size_t n, size_t multiple) { return DivideRoundingUp(n, multiple) * multiple; }

bool IsZero(const uint8_t* bytes, size_t from, size_t to) {
  for (size_t i = from; i < to; i++) {
    if (bytes[i] != 0) return false;
  }
  return true;
}

// A swap header page that can be marked and rebuilt from the marker alone (format.ts
// assertMarkable): a swap signature at 4086 and zeros in 4048..4085.
bool IsMarkable(const uint8_t* page) {
  const uint8_t* signature = page + kSignatureOffset;
  const bool swap = memcmp(signature, kSwapSignature, kSignatureBytes) == 0 ||
                    memcmp(signature, kLegacySwapSignature, kSignatureBytes) == 0;
  return swap && IsZero(page, kMarkerOffset, kSignatureOffset);
}

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

// ---- I/O (page-aligned buffers, offsets and lengths: O_DIRECT works; writes: write_queue.h)

int Flush(int fd) { return RetryOnEintr([fd] { return fdatasync(fd); }) == 0 ? 0 : errno; }

// One whole page at `offset`; false on an error or a short read.
bool ReadPage(int fd, uint8_t* page, uint64_t offset) {
  return RetryOnEintr([&] { return pread(fd, page, kPageSize, static_cast<off_t>(offset)); }) ==
         static_cast<ssize_t>(kPageSize);
}

uint32_t GetU32(const uint8_t* at) {
  uint32_t value;
  memcpy(&value, at, sizeof(value));
  return value;
}

uint64_t GetU64(const uint8_t* at) {
  uint64_t value;
  memcpy(&value, at, sizeof(value));
  return value;
}

// Zeroes the image header page that the marker on the resume page names, and flushes: once the
// image is invalidated its key block is gone, so re-marking the page (the marker's CRCs are easy
// to recompute) cannot bring the image back (docs/image-format.md §6). Only a page that still
// holds exactly that header is touched: an intact marker, and the named page's content CRC equal
// to the marker's. Nothing to do (0) when the page is not marked or the header is not there.
int WipeMarkedHeader(int storage_fd, uint64_t resume_page, uint8_t* scratch) {
  if (!ReadPage(storage_fd, scratch, resume_page * kPageSize)) return 0;
  if (memcmp(scratch + kSignatureOffset, kImageSignature, kSignatureBytes) != 0) return 0;
  const uint32_t marker_crc = GetU32(scratch + kMarkerCrc);
  PutU32(scratch + kMarkerCrc, 0);
  if (Crc32c(scratch + kMarkerOffset, kPageSize - kMarkerOffset) != marker_crc) return 0;
  const uint64_t header_page = GetU64(scratch + kMarkerHeaderPage);
  const uint32_t header_crc = GetU32(scratch + kMarkerHeaderCrc);
  if (header_page == resume_page || header_page > UINT64_MAX / kPageSize / 2) return 0;
  if (!ReadPage(storage_fd, scratch, header_page * kPageSize) || Crc32c(scratch, kHCrc) != header_crc) return 0;
  memset(scratch, 0, kPageSize);
  const int error = WriteAll(storage_fd, scratch, kPageSize, header_page * kPageSize);
  return error != 0 ? error : Flush(storage_fd);
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
    PutU32(header, kChunkMagic);
    PutU32(header + kCIndex, index);
    PutU32(header + kCRawBytes, static_cast<uint32_t>(raw_bytes));
    PutU32(header + kCStoredBytes, static_cast<uint32_t>(payload_bytes));
    PutU32(header + kCCodec, compressed > 0 ? kCodecLz4 : kCodecRaw);
    if (cipher_ != nullptr) {
      uint8_t aad[kCAuthenticatedBytes + kImageIdBytes];
      memcpy(aad, header, kCAuthenticatedBytes);
      memcpy(aad + kCAuthenticatedBytes, config_.encryption.image_id, kImageIdBytes);
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
    memcpy(page, kMapMagic, sizeof(kMapMagic));
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
    memcpy(page, kHeaderMagic, sizeof(kHeaderMagic));
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
  if (config.original_resume_page == nullptr || !IsMarkable(config.original_resume_page)) {
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

int InvalidateImage(int storage_fd, uint64_t resume_page, const uint8_t* original_page, uint8_t* scratch,
                    HeaderWipe header) {
  if (!IsMarkable(original_page)) return EINVAL;
  // The header first, flushed: a crash between the two writes leaves a marker naming no header
  // (refused and put back at the next boot), never a swap signature over a header that still opens.
  const int wipe_error = header == HeaderWipe::kWipe ? WipeMarkedHeader(storage_fd, resume_page, scratch) : 0;
  memcpy(scratch, original_page, kPageSize);
  int error = WriteAll(storage_fd, scratch, kPageSize, resume_page * kPageSize);
  if (error == 0) error = Flush(storage_fd);
  return error != 0 ? error : wipe_error;
}

// ---- Test entries (host only: they allocate, which the critical section never does)

namespace {

class MemoryPageSource final : public PageSource {
 public:
  MemoryPageSource(const uint8_t* data, size_t pages, size_t max_per_read)
      : data_(data), pages_(pages), max_per_read_(max_per_read) {}
  long ReadPages(uint8_t* buf, size_t pages) override {
    const size_t n = std::min({pages, pages_ - next_, max_per_read_});
    memcpy(buf, data_ + next_ * kPageSize, n * kPageSize);
    next_ += n;
    return static_cast<long>(n);
  }

 private:
  const uint8_t* data_;
  size_t pages_;
  size_t max_per_read_;
  size_t next_ = 0;
};

class ListAllocator final : public SwapAllocator {
 public:
  explicit ListAllocator(std::vector<int64_t> offsets) : offsets_(std::move(offsets)) {}
  int64_t AllocPage() override { return next_ < offsets_.size() ? offsets_[next_++] : -ENOSPC; }

 private:
  std::vector<int64_t> offsets_;
  size_t next_ = 0;
};

class NoProgress final : public ProgressSink {
 public:
  void Progress(uint64_t, uint64_t) override {}
};

// Page-aligned zeroed memory, freed on scope exit.
class AlignedBuffer {
 public:
  explicit AlignedBuffer(size_t bytes) {
    if (posix_memalign(&memory_, kPageSize, bytes) != 0) memory_ = nullptr;
    if (memory_ != nullptr) memset(memory_, 0, bytes);
  }
  ~AlignedBuffer() { free(memory_); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  uint8_t* get() const { return static_cast<uint8_t*>(memory_); }

 private:
  void* memory_ = nullptr;
};

// A non-negative safe integer property of the params object.
bool GetCountProperty(Napi::Env env, Napi::Object object, const char* name, double* out) {
  Napi::Value value = object.Get(name);
  const double number = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : -1;
  if (!(number >= 0 && number <= 9007199254740991.0) || number != static_cast<double>(static_cast<int64_t>(number))) {
    const std::string what = std::string("expected a non-negative integer ") + name;
    return ArgError(env, "writeImageFromBuffer", what.c_str());
  }
  *out = number;
  return true;
}

// Copies the Uint8Array property `name` of `object`, which must be exactly `length` bytes.
bool GetFixedBytes(Napi::Env env, const char* fn, Napi::Object object, const char* name, uint8_t* out, size_t length) {
  Napi::Value value = object.Get(name);
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      value.As<Napi::Uint8Array>().ElementLength() != length) {
    return ArgError(env, fn, (std::string(name) + " must be a Uint8Array of " + std::to_string(length) + " bytes").c_str());
  }
  memcpy(out, value.As<Napi::Uint8Array>().Data(), length);
  return true;
}

// keys.originSignature: absent or null for an unsigned image, else 64 bytes.
bool GetOriginSignature(Napi::Env env, const char* fn, Napi::Object keys, ImageEncryptionConfig* out) {
  Napi::Value value = keys.Get("originSignature");
  out->signed_origin = !value.IsUndefined() && !value.IsNull();
  return !out->signed_origin ||
         GetFixedBytes(env, fn, keys, "originSignature", out->origin_signature, sizeof(out->origin_signature));
}

// params.encryption, when present: {chunkKey, headerKey, keyBlock, imageId, originSignature?} (lib/native/binding.ts).
bool GetEncryption(Napi::Env env, Napi::Object params, ImageEncryptionConfig* out) {
  const char* fn = "writeImageFromBuffer";
  Napi::Value value = params.Get("encryption");
  out->enabled = !value.IsUndefined();
  if (!out->enabled) return true;
  if (!value.IsObject()) return ArgError(env, fn, "encryption must be an object");
  Napi::Object keys = value.As<Napi::Object>();
  return GetFixedBytes(env, fn, keys, "chunkKey", out->chunk_key, sizeof(out->chunk_key)) &&
         GetFixedBytes(env, fn, keys, "headerKey", out->header_key, sizeof(out->header_key)) &&
         GetFixedBytes(env, fn, keys, "keyBlock", out->key_block, sizeof(out->key_block)) &&
         GetFixedBytes(env, fn, keys, "imageId", out->image_id, sizeof(out->image_id)) &&
         GetOriginSignature(env, fn, keys, out);
}

bool GetIdentityString(Napi::Env env, Napi::Object identity, const char* name, char (&field)[kIdentityFieldBytes]) {
  Napi::Value value = identity.Get(name);
  if (!value.IsString()) return ArgError(env, "writeImageFromBuffer", (std::string("expected a string ") + name).c_str());
  const std::string text = value.As<Napi::String>().Utf8Value();
  if (text.size() >= kIdentityFieldBytes) return ArgError(env, "writeImageFromBuffer", "identity string too long", true);
  memset(field, 0, kIdentityFieldBytes);
  memcpy(field, text.data(), text.size());
  return true;
}

// writeImageFromBuffer(storageFd, params, stream, allocOffsets): see lib/native/binding.ts.
Napi::Value WriteImageFromBufferJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "writeImageFromBuffer";
  int fd = -1;
  uint8_t* stream;
  size_t stream_length;
  if (!GetFd(info, 0, fn, &fd)) return env.Undefined();
  if (info.Length() < 4 || !info[1].IsObject() || !info[3].IsArray()) {
    ArgError(env, fn, "expected (storageFd, params, stream, allocOffsets)");
    return env.Undefined();
  }
  if (!GetBytes(info, 2, fn, &stream, &stream_length)) return env.Undefined();
  if (stream_length % kPageSize != 0) {
    ArgError(env, fn, "the stream must be whole pages", true);
    return env.Undefined();
  }
  Napi::Object params = info[1].As<Napi::Object>();
  Napi::Value original_value = params.Get("originalResumePage");
  if (!original_value.IsTypedArray() || original_value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      original_value.As<Napi::Uint8Array>().ElementLength() != kPageSize) {
    ArgError(env, fn, "originalResumePage must be a 4096-byte Uint8Array");
    return env.Undefined();
  }
  const uint8_t* original = original_value.As<Napi::Uint8Array>().Data();

  ImageWriterConfig config{};
  double resume_page, chunk_pages, io_bytes, max_stored_pages, created_at_ms, per_read = 0;
  if (!params.Get("identity").IsObject()) {
    ArgError(env, fn, "expected an identity object");
    return env.Undefined();
  }
  Napi::Object identity = params.Get("identity").As<Napi::Object>();
  if (!GetCountProperty(env, params, "resumePage", &resume_page) || !GetCountProperty(env, params, "chunkPages", &chunk_pages) ||
      !GetCountProperty(env, params, "ioBytes", &io_bytes) ||
      !GetCountProperty(env, params, "maxStoredPages", &max_stored_pages) ||
      !GetCountProperty(env, identity, "createdAtMs", &created_at_ms) ||
      !GetIdentityString(env, identity, "kernelRelease", config.identity.kernel_release) ||
      !GetIdentityString(env, identity, "machineId", config.identity.machine_id) ||
      !GetEncryption(env, params, &config.encryption)) {
    WipeSecret(&config.encryption, sizeof(config.encryption));
    return env.Undefined();
  }
  if (params.Has("sourcePagesPerRead") && !params.Get("sourcePagesPerRead").IsUndefined() &&
      !GetCountProperty(env, params, "sourcePagesPerRead", &per_read)) {
    return env.Undefined();
  }
  config.storage_fd = fd;
  config.resume_page = static_cast<uint64_t>(resume_page);
  config.original_resume_page = original;
  config.identity.created_at_ms = static_cast<uint64_t>(created_at_ms);
  config.identity.platform_mode = identity.Get("platformMode").ToBoolean();
  config.compress = params.Get("compression").ToString().Utf8Value() == "lz4";
  config.chunk_pages = static_cast<uint32_t>(chunk_pages);
  config.max_stored_pages = static_cast<uint64_t>(max_stored_pages);
  config.io_bytes = static_cast<size_t>(io_bytes);

  Napi::Array offsets_array = info[3].As<Napi::Array>();
  std::vector<int64_t> offsets(offsets_array.Length());
  for (uint32_t i = 0; i < offsets_array.Length(); i++) {
    Napi::Value offset = offsets_array.Get(i);
    if (!offset.IsNumber()) {
      ArgError(env, fn, "allocOffsets must be numbers");
      return env.Undefined();
    }
    offsets[i] = offset.As<Napi::Number>().Int64Value();
  }

  const size_t stream_pages = stream_length / kPageSize;
  MemoryPageSource source(stream, stream_pages, per_read >= 1 ? static_cast<size_t>(per_read) : stream_pages);
  ListAllocator allocator(std::move(offsets));
  NoProgress progress;
  // The workspace checks need a sane configuration before they size anything.
  const bool sized = config.chunk_pages >= 1 && config.chunk_pages <= kMaxChunkPages && config.io_bytes >= kPageSize;
  const size_t workspace_bytes = sized ? ImageWriterWorkspaceBytes(config) : kPageSize;
  AlignedBuffer workspace(workspace_bytes);
  ImageWriterWorkspace prepared{workspace.get(), workspace_bytes, nullptr};
  ImageCipher cipher;
  const int init_error = InitImageWriterWorkspace(&config, &prepared, &cipher);
  if (init_error != 0) {
    ThrowSnapshotError(env, init_error, "EVP_EncryptInit_ex", nullptr, nullptr, "the image cipher could not be initialised");
    return env.Undefined();
  }
  if (workspace.get() == nullptr) {
    ThrowSnapshotError(env, ENOMEM, "posix_memalign", nullptr, nullptr, "no memory for the image writer's workspace");
    return env.Undefined();
  }
  const ImageWriteResult result = WriteImage(config, prepared, stream_pages, source, allocator, progress);

  Napi::Object out = Napi::Object::New(env);
  out.Set("error", Napi::Number::New(env, result.error));
  out.Set("stage", Napi::String::New(env, result.stage));
  out.Set("streamPages", Napi::Number::New(env, static_cast<double>(result.stream_pages)));
  out.Set("storedBytes", Napi::Number::New(env, static_cast<double>(result.stored_bytes)));
  out.Set("extents", Napi::Number::New(env, static_cast<double>(result.extents)));
  out.Set("storedPages", Napi::Number::New(env, static_cast<double>(result.stored_pages)));
  return out;
}

// imageWriterIoMode(storageFd): "aio" when WriteImage's chunk writes on this descriptor would
// overlap (it is O_DIRECT and the kernel gives an AIO context), else "synchronous". The same
// WriteQueue constructor WriteImage runs decides, so tests can tell which path they exercise.
Napi::Value ImageWriterIoModeJs(const Napi::CallbackInfo& info) {
  int fd = -1;
  if (!GetFd(info, 0, "imageWriterIoMode", &fd)) return info.Env().Undefined();
  AlignedBuffer memory(WriteQueue::MemoryBytes(1, 1));
  if (memory.get() == nullptr) {
    ThrowSnapshotError(info.Env(), ENOMEM, "posix_memalign", nullptr, nullptr);
    return info.Env().Undefined();
  }
  const WriteQueue queue(fd, 1, 1, memory.get());
  return Napi::String::New(info.Env(), queue.asynchronous() ? "aio" : "synchronous");
}

// invalidateImageFd(storageFd, resumePage, originalPage): 0 or an errno value.
Napi::Value InvalidateImageFdJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "invalidateImageFd";
  int fd = -1;
  int64_t resume_page = 0;
  uint8_t* original;
  size_t original_length;
  if (!GetFd(info, 0, fn, &fd) || !GetNonNegative(info, 1, fn, &resume_page) || !GetBytes(info, 2, fn, &original, &original_length)) {
    return env.Undefined();
  }
  if (original_length != kPageSize) {
    ArgError(env, fn, "the original page is 4096 bytes", true);
    return env.Undefined();
  }
  AlignedBuffer scratch(kPageSize);
  if (scratch.get() == nullptr) {
    ThrowSnapshotError(env, ENOMEM, "posix_memalign", nullptr, nullptr);
    return env.Undefined();
  }
  return Napi::Number::New(env, InvalidateImage(fd, static_cast<uint64_t>(resume_page), original, scratch.get()));
}

// An ImageCipher initialised with the keys given (either may be null: a zero key then).
bool InitTestCipher(Napi::Env env, const char* fn, const uint8_t* chunk_key, const uint8_t* header_key,
                    ImageCipher* cipher) {
  const uint8_t zero[kImageKeyBytes] = {};
  const int error = cipher->Init(chunk_key != nullptr ? chunk_key : zero, header_key != nullptr ? header_key : zero);
  if (error != 0) ThrowSnapshotError(env, error, fn, nullptr, nullptr, "the image cipher could not be initialised");
  return error == 0;
}

// Reads a key argument: a Uint8Array of kImageKeyBytes.
bool GetKey(const Napi::CallbackInfo& info, size_t index, const char* fn, uint8_t** key) {
  size_t length = 0;
  if (!GetBytes(info, index, fn, key, &length)) return false;
  return length == kImageKeyBytes || ArgError(info.Env(), fn, "a key is 32 bytes", true);
}

// Seals `data` in place as consecutive chunks of `chunkBytes` (the last may be shorter), chunk i
// with index firstIndex + i and associated data `aad`; returns their tags, 16 bytes each.
bool SealChunks(ImageCipher& cipher, uint64_t first_index, const uint8_t* aad, size_t aad_bytes, uint8_t* data,
                size_t bytes, size_t chunk_bytes, uint8_t* tags) {
  for (size_t at = 0, i = 0; at < bytes; at += chunk_bytes, i++) {
    if (!cipher.SealChunk(first_index + i, aad, aad_bytes, data + at, std::min(chunk_bytes, bytes - at),
                          tags + i * kAeadTagBytes)) {
      return false;
    }
  }
  return true;
}

// imageCipherSealChunks(chunkKey, firstIndex, aad, data, chunkBytes): Buffer of tags.
Napi::Value ImageCipherSealChunksJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "imageCipherSealChunks";
  uint8_t *key, *aad, *data;
  size_t aad_bytes, bytes;
  int64_t first_index = 0, chunk_bytes = 0;
  if (!GetKey(info, 0, fn, &key) || !GetNonNegative(info, 1, fn, &first_index) || !GetBytes(info, 2, fn, &aad, &aad_bytes) ||
      !GetBytes(info, 3, fn, &data, &bytes) || !GetNonNegative(info, 4, fn, &chunk_bytes)) {
    return env.Undefined();
  }
  if (chunk_bytes < 1 || bytes < 1) {
    ArgError(env, fn, "data and chunkBytes must not be empty", true);
    return env.Undefined();
  }
  ImageCipher cipher;
  if (!InitTestCipher(env, fn, key, nullptr, &cipher)) return env.Undefined();
  const size_t chunks = DivideRoundingUp(bytes, static_cast<size_t>(chunk_bytes));
  Napi::Buffer<uint8_t> tags = Napi::Buffer<uint8_t>::New(env, chunks * kAeadTagBytes);
  if (!SealChunks(cipher, static_cast<uint64_t>(first_index), aad, aad_bytes, data, bytes, static_cast<size_t>(chunk_bytes),
                  tags.Data())) {
    ThrowSnapshotError(env, EIO, fn, nullptr, nullptr, "sealing failed");
    return env.Undefined();
  }
  return tags;
}

// imageCipherMacHeader(headerKey, data): the 16-byte MAC.
Napi::Value ImageCipherMacHeaderJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "imageCipherMacHeader";
  uint8_t *key, *data;
  size_t bytes;
  if (!GetKey(info, 0, fn, &key) || !GetBytes(info, 1, fn, &data, &bytes)) return env.Undefined();
  ImageCipher cipher;
  if (!InitTestCipher(env, fn, nullptr, key, &cipher)) return env.Undefined();
  Napi::Buffer<uint8_t> mac = Napi::Buffer<uint8_t>::New(env, kAeadTagBytes);
  if (!cipher.MacHeader(data, bytes, mac.Data())) {
    ThrowSnapshotError(env, EIO, fn, nullptr, nullptr, "the MAC failed");
    return env.Undefined();
  }
  return mac;
}

// imageCipherTraceChild(data, chunkBytes, initInChild): what the critical section does, observed.
// Initialises a cipher here, forks, and in the single-threaded child runs, between mtrace() and
// muntrace(), exactly the calls the writer makes after the freeze (seal every chunk of `data`,
// hash it, MAC a page) — preceded, if `initInChild`, by the initialisation the writer must never
// do there. Run under LD_PRELOAD=libc_malloc_debug.so.0 with MALLOC_TRACE=FILE, the file then lists
// every allocation made in between. Returns the child's exit status: 0 when every call succeeded.
Napi::Value ImageCipherTraceChildJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "imageCipherTraceChild";
  uint8_t* data;
  size_t bytes;
  int64_t chunk_bytes = 0;
  if (!GetBytes(info, 0, fn, &data, &bytes) || !GetNonNegative(info, 1, fn, &chunk_bytes)) return env.Undefined();
  if (chunk_bytes < 1 || info.Length() < 3 || !info[2].IsBoolean()) {
    ArgError(env, fn, "expected (data, chunkBytes > 0, initInChild: boolean)");
    return env.Undefined();
  }
  const bool init_in_child = info[2].As<Napi::Boolean>().Value();
  const uint8_t chunk_key[kImageKeyBytes] = {1};
  const uint8_t header_key[kImageKeyBytes] = {2};
  ImageCipher prepared;
  if (!InitTestCipher(env, fn, chunk_key, header_key, &prepared)) return env.Undefined();
  const size_t chunks = DivideRoundingUp(bytes, static_cast<size_t>(chunk_bytes));
  // Prepared before the fork, like the workspace: the child allocates nothing of its own.
  std::vector<uint8_t> tags((chunks + 1) * kAeadTagBytes);
  uint8_t aad[36] = {};
  uint8_t digest[kSha256Bytes];
  const pid_t pid = fork();
  if (pid == 0) {
    mtrace();
    ImageCipher late;  // its destructor never runs: the child leaves with _exit
    ImageCipher& cipher = init_in_child && late.Init(chunk_key, header_key) == 0 ? late : prepared;
    bool ok = SealChunks(cipher, 0, aad, sizeof(aad), data, bytes, static_cast<size_t>(chunk_bytes), tags.data());
    ok = ok && cipher.HashExtentMap(data, bytes) && cipher.FinishExtentMapHash(digest);
    ok = ok && cipher.MacHeader(data, std::min(bytes, kPageSize), tags.data() + chunks * kAeadTagBytes);
    muntrace();
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  if (pid < 0 || RetryOnEintr([&] { return waitpid(pid, &status, 0); }) < 0) {
    ThrowSnapshotError(env, errno, pid < 0 ? "fork" : "waitpid", nullptr, nullptr);
    return env.Undefined();
  }
  return Napi::Number::New(env, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

}  // namespace

void RegisterImageWriter(Napi::Env env, Napi::Object exports) {
  exports.Set("writeImageFromBuffer", Napi::Function::New(env, WriteImageFromBufferJs, "writeImageFromBuffer"));
  exports.Set("invalidateImageFd", Napi::Function::New(env, InvalidateImageFdJs, "invalidateImageFd"));
  exports.Set("imageWriterIoMode", Napi::Function::New(env, ImageWriterIoModeJs, "imageWriterIoMode"));
  exports.Set("imageCipherSealChunks", Napi::Function::New(env, ImageCipherSealChunksJs, "imageCipherSealChunks"));
  exports.Set("imageCipherMacHeader", Napi::Function::New(env, ImageCipherMacHeaderJs, "imageCipherMacHeader"));
  exports.Set("imageCipherTraceChild", Napi::Function::New(env, ImageCipherTraceChildJs, "imageCipherTraceChild"));
}

}  // namespace hiberkit
