// The restore (restore.h), as lib/resume.ts uploads and lib/native/critical-section.ts restores.
#include "restore.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "../restore_sequence.h"
#include "../retry_eintr.h"
#include "../snapshot_ioctls.h"
#include "failure.h"
#include "system_facts.h"

namespace hiberkit_resume {
namespace {

using hiberkit::kPageSize;

constexpr const char* kSnapshotPath = "/dev/snapshot";
// Pages handed to /dev/snapshot per call: one full writev (the kernel takes at most 1024 segments).
constexpr size_t kUploadBatchPages = 1024;

std::string ErrnoName(int error) {
  const char* name = strerrorname_np(error);
  return name != nullptr ? name : "E" + std::to_string(error);
}

uint64_t MonotonicMillis() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000 + static_cast<uint64_t>(now.tv_nsec) / 1000000;
}

// /dev/snapshot in restore mode, written page by page with writev of one-page segments.
class SnapshotUpload {
 public:
  SnapshotUpload() : fd_(RetryOnEintrOpen()), lastPage_(kPageSize) {
    if (fd_ < 0) throw Failure{"RESUME_FAILED", std::string("open failed on ") + kSnapshotPath + ": " + ErrnoName(errno)};
  }
  ~SnapshotUpload() {
    if (fd_ >= 0) close(fd_);
  }
  SnapshotUpload(const SnapshotUpload&) = delete;
  SnapshotUpload& operator=(const SnapshotUpload&) = delete;

  int fd() const { return fd_; }

  // One batch; the kernel must take all of it (upload() in lib/resume.ts).
  void WriteBatch(const uint8_t* bytes, size_t length) {
    const size_t written = WritePages(bytes, length);
    if (written != length) {
      // writev stops at the first page the kernel does not take: that page's own error, if it
      // had one, comes with the next call.
      WritePages(bytes + written, length - written);
      throw Failure{"RESTORE_FAILED", "the kernel took " + std::to_string(written) + " of " + std::to_string(length) +
                                          " bytes of the image: it considers the image complete early, so it does not match this machine"};
    }
    memcpy(lastPage_.data(), bytes, kPageSize);
    wrote_ = true;
  }

  // The one extra write that makes the kernel consume trailing zero pages: it must take nothing.
  void Finish() {
    if (!wrote_) throw Failure{"IMAGE_TRUNCATED", "the image has no pages"};
    if (WritePages(lastPage_.data(), kPageSize) != 0) {
      throw Failure{"IMAGE_TRUNCATED", "the kernel expects more pages than the image holds"};
    }
  }

 private:
  static int RetryOnEintrOpen() {
    return hiberkit::RetryOnEintr([] { return open(kSnapshotPath, O_WRONLY | O_CLOEXEC); });
  }

  size_t WritePages(const uint8_t* bytes, size_t length) {
    iovec segments[kUploadBatchPages];
    const size_t count = std::min(length / kPageSize, kUploadBatchPages);
    for (size_t i = 0; i < count; i++) segments[i] = {const_cast<uint8_t*>(bytes + i * kPageSize), kPageSize};
    const ssize_t written = hiberkit::RetryOnEintr([&] { return writev(fd_, segments, static_cast<int>(count)); });
    if (written >= 0) return static_cast<size_t>(written);
    const int error = errno;
    const std::string what = "writev failed on " + std::string(kSnapshotPath) + ": " + ErrnoName(error);
    // The kernel refusing a page means the image does not fit this machine (docs/snapshot-device.md
    // §5.6): EPERM for the header, EFAULT for the memory map.
    if (error == EPERM || error == EFAULT) throw Failure{"RESTORE_FAILED", "the kernel refused the image: " + what};
    throw Failure{"RESUME_FAILED", what};
  }

  int fd_;
  AlignedBuffer lastPage_;
  bool wrote_ = false;
};

// errorOf in lib/native/critical-section.ts, worded for one line.
std::string DescribeCriticalFailure(const hiberkit::CriticalReport& report) {
  const std::string code = ErrnoName(report.error);
  if (report.ioctl_index >= 0) {
    return std::string(hiberkit::kSnapshotIoctls[report.ioctl_index]->name) + " failed on " + kSnapshotPath + ": " + code;
  }
  return std::string(report.failed_call != nullptr ? report.failed_call : "the restore") + " failed: " + code;
}

}  // namespace

void UploadAndRestore(OpenedImage& image, const RestoreRequest& request) {
  SnapshotUpload upload;
  const uint64_t started = MonotonicMillis();
  image.ReadStream([&upload](const uint8_t* bytes, size_t length) {
    for (size_t at = 0; at < length; at += kUploadBatchPages * kPageSize) {
      upload.WriteBatch(bytes + at, std::min(length - at, kUploadBatchPages * kPageSize));
    }
  });
  upload.Finish();
  if (request.progress != nullptr) {
    const std::string line = "loaded and verified " + std::to_string(image.header().streamPages) + " pages (" +
                             std::to_string(image.header().storedBytes) + " bytes stored) in " +
                             std::to_string(MonotonicMillis() - started) + " ms";
    request.progress(line.c_str());
  }

  // Everything the critical section touches is ready before it locks memory and freezes: from
  // the freeze on it makes system calls only (restore_sequence.h).
  AlignedBuffer pages(2 * kPageSize);
  memcpy(pages.data(), request.originalPage, kPageSize);
  hiberkit::CriticalReport report = {};
  report.ioctl_index = -1;
  hiberkit::RestorePlan plan = {};
  plan.snapshot_fd = upload.fd();
  plan.progress_fd = request.progressFd;
  plan.storage_fd = request.storage->fd();
  plan.resume_page = request.resumePage;
  plan.original_resume_page = pages.data();
  plan.scratch_page = pages.data() + kPageSize;
  plan.platform_mode = image.header().platformMode;
  // A small single-threaded program: locking all of it costs little, and nothing it touches after
  // the freeze can then wait on a frozen file system or swap.
  plan.memory = hiberkit::ChildMemory{hiberkit::LockMode::kEverything, nullptr, {}};
  plan.report = &report;
  hiberkit::RunRestoreSequence(plan);

  // restoreFailure in lib/resume.ts: before the image was invalidated it is intact and worth another try.
  const std::string cause = DescribeCriticalFailure(report);
  if (report.stage == hiberkit::CriticalStage::kLockMemory || report.stage == hiberkit::CriticalStage::kFreeze) {
    throw Failure{"RESUME_FAILED", cause};
  }
  throw Failure{"RESTORE_FAILED", std::string("the restore failed at stage ") + hiberkit::CriticalStageName(report.stage) +
                                      ", after the image had been invalidated: " + cause};
}

}  // namespace hiberkit_resume
