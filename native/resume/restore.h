// The restore itself: the verified chunk stream uploaded to /dev/snapshot as it is read, then the
// restore critical section (native/restore_sequence.h), run by this single-threaded program
// directly: if it dies, its exit closes /dev/snapshot and the kernel thaws everything.
#pragma once

#include <cstdint>
#include <string>

#include "image_reader.h"
#include "storage.h"

namespace hiberkit_resume {

struct RestoreRequest {
  const Storage* storage;
  uint64_t resumePage;
  const uint8_t* originalPage;  // the swap header page to put back (kPageSize bytes)
  int progressFd;               // negative: no status lines
  void (*progress)(const char* line);
};

// Uploads `image` and restores it. Returns only by throwing the Failure that stopped it, the
// codes lib/resume.ts gives: RESTORE_FAILED when the kernel refuses the image's content or the
// restore fails after the image was invalidated; IMAGE_TRUNCATED when the kernel expects more
// pages; RESUME_FAILED (the image kept) for a busy or missing device, I/O errors, a failed freeze.
[[noreturn]] void UploadAndRestore(OpenedImage& image, const RestoreRequest& request);

}  // namespace hiberkit_resume
