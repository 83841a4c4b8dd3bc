// The resume device (storage.h).
#include "storage.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

#include "../image_layout.h"
#include "../retry_eintr.h"
#include "failure.h"
#include "image_keys.h"
#include "system_facts.h"

namespace hiberkit_resume {

using hiberkit::RetryOnEintr;

AlignedBuffer::AlignedBuffer(size_t bytes) : data_(nullptr), size_(bytes) {
  void* memory = nullptr;
  if (posix_memalign(&memory, hiberkit::kPageSize, bytes == 0 ? hiberkit::kPageSize : bytes) != 0) throw std::bad_alloc();
  data_ = static_cast<uint8_t*>(memory);
  memset(data_, 0, bytes);
}

AlignedBuffer::~AlignedBuffer() {
  // Decrypted chunks pass through these buffers: they must not outlive the pass in the heap.
  Wipe(data_, size_);
  free(data_);
}

Storage::Storage(const std::string& path) : path_(path), fd_(-1), size_(0) {
  fd_ = RetryOnEintr([&] { return open(path.c_str(), O_RDWR | O_CLOEXEC | O_DIRECT); });
  // Some file systems (tmpfs) refuse O_DIRECT: buffered I/O then, as the addon does.
  if (fd_ < 0 && errno == EINVAL) fd_ = RetryOnEintr([&] { return open(path.c_str(), O_RDWR | O_CLOEXEC); });
  if (fd_ < 0) throw Failure{"RESUME_FAILED", "cannot open " + path + ": " + ErrnoReason(errno)};
  struct stat info;
  if (fstat(fd_, &info) != 0) {
    const int error = errno;
    close(fd_);
    throw Failure{"RESUME_FAILED", "cannot stat " + path + ": " + ErrnoReason(error)};
  }
  if (S_ISBLK(info.st_mode)) {
    if (ioctl(fd_, BLKGETSIZE64, &size_) != 0) {
      const int error = errno;
      close(fd_);
      throw Failure{"RESUME_FAILED", "cannot read the size of " + path + ": " + ErrnoReason(error)};
    }
  } else if (S_ISREG(info.st_mode)) {
    size_ = static_cast<uint64_t>(info.st_size);
  } else {
    close(fd_);
    throw Failure{"RESUME_FAILED", path + " is neither a block device nor a regular file"};
  }
}

Storage::~Storage() { close(fd_); }

size_t Storage::Read(uint8_t* buffer, size_t length, uint64_t offset) const {
  const ssize_t got = RetryOnEintr([&] { return pread(fd_, buffer, length, static_cast<off_t>(offset)); });
  if (got < 0) {
    throw Failure{"RESUME_FAILED", "reading " + path_ + " at byte " + std::to_string(offset) + " failed: " + ErrnoReason(errno)};
  }
  return static_cast<size_t>(got);
}

}  // namespace hiberkit_resume
