// The resume device as hiberkit-resume reads and writes it: opened read-write (a refused image is
// discarded on it), with O_DIRECT where the device allows (a page cache of the image would only
// take memory from the restore), every transfer page aligned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace hiberkit_resume {

// Page-aligned heap memory (O_DIRECT needs it), zeroed; wiped and freed when it goes.
class AlignedBuffer {
 public:
  explicit AlignedBuffer(size_t bytes);
  ~AlignedBuffer();
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_;
  size_t size_;
};

class Storage {
 public:
  // Throws Failure RESUME_FAILED when the device cannot be opened.
  explicit Storage(const std::string& path);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  uint64_t size() const { return size_; }

  // pread(2) into page-aligned `buffer` at `offset`, retried on EINTR: the byte count (0 at the
  // end). Throws Failure RESUME_FAILED for an I/O error: it says nothing against the image.
  size_t Read(uint8_t* buffer, size_t length, uint64_t offset) const;

 private:
  std::string path_;
  int fd_;
  uint64_t size_;
};

}  // namespace hiberkit_resume
