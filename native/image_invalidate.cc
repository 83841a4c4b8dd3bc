// Discarding an image on disk (image_invalidate.h).
#include "image_invalidate.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "crc32c.h"
#include "image_layout.h"
#include "little_endian.h"
#include "retry_eintr.h"
#include "write_queue.h"

namespace hiberkit {
namespace {

// One whole page at `offset`; false on an error or a short read.
bool ReadPage(int fd, uint8_t* page, uint64_t offset) {
  return RetryOnEintr([&] { return pread(fd, page, kPageSize, static_cast<off_t>(offset)); }) ==
         static_cast<ssize_t>(kPageSize);
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

}  // namespace

bool IsMarkableSwapHeader(const uint8_t* page) {
  const uint8_t* signature = page + kSignatureOffset;
  const bool swap = memcmp(signature, kSwapSignature, kSignatureBytes) == 0 ||
                    memcmp(signature, kLegacySwapSignature, kSignatureBytes) == 0;
  return swap && IsZero(page, kMarkerOffset, kSignatureOffset);
}

int InvalidateImage(int storage_fd, uint64_t resume_page, const uint8_t* original_page, uint8_t* scratch,
                    HeaderWipe header) {
  if (!IsMarkableSwapHeader(original_page)) return EINVAL;
  // The header first, flushed: a crash between the two writes leaves a marker naming no header
  // (refused and put back at the next boot), never a swap signature over a header that still opens.
  const int wipe_error = header == HeaderWipe::kWipe ? WipeMarkedHeader(storage_fd, resume_page, scratch) : 0;
  memcpy(scratch, original_page, kPageSize);
  int error = WriteAll(storage_fd, scratch, kPageSize, resume_page * kPageSize);
  if (error == 0) error = Flush(storage_fd);
  return error != 0 ? error : wipe_error;
}

}  // namespace hiberkit
