// What the critical sequences share (hibernation's and restore's, run by the addon's forked child
// and by hiberkit-resume itself): their stages, the report they fill in, and the /dev/snapshot
// calls and status lines they make. Everything here is a system call or plain memory: no
// allocation, no lock, usable with user space frozen.
#pragma once

#include <sys/ioctl.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <ctime>

#include "child_memory.h"
#include "progress_line.h"
#include "snapshot_ioctls.h"

namespace hiberkit {

// The steps of both sequences, in order; the report names the last one the child entered.
enum class CriticalStage : uint32_t {
  kWaitGo,
  kLockMemory,
  kPlatformSupport,
  kFreeze,
  kCreateImage,
  kGetImageSize,
  kWriteImage,
  kPowerOff,
  kResumed,
  kInvalidate,
  kAtomicRestore,
};

const char* CriticalStageName(CriticalStage stage);

// Exit statuses of the child. A signal, or any other status, means it died.
constexpr int kChildExitResumed = 0;
constexpr int kChildExitFailed = 1;

// What a sequence reports. The addon's child fills a MAP_SHARED page the parent reads after waitpid().
// After a resume it holds what the child had written when the snapshot was taken, then what the
// resumed child wrote after CREATE_IMAGE returned 0. String fields point to string literals of
// this addon: the child is a fork, so the addresses are the same in the parent.
struct CriticalReport {
  CriticalStage stage;
  uint32_t resumed;           // 1 once the child tore down cleanly after a resume
  int32_t error;              // errno of the failure that ended the sequence; 0 if none
  int32_t ioctl_index;        // index in kSnapshotIoctls of the failed request, or -1
  const char* failed_call;    // "ioctl", "mlock", "reboot", "write-image", ...; null if none
  const char* writer_stage;   // ImageWriteResult::stage when WriteImage failed; null otherwise
  uint32_t image_attempts;    // CREATE_IMAGE calls made
  uint64_t stream_bytes;      // GET_IMAGE_SIZE
  uint64_t stored_bytes;      // bytes WriteImage put on disk
  uint64_t extents;
  uint64_t lock_us;           // time spent locking memory
  MemoryUse memory_use;       // after locking
  uint64_t snapshot_us;       // FREEZE to CREATE_IMAGE returning
  uint64_t write_us;          // GET_IMAGE_SIZE to the marker being on disk
  uint64_t freeze_to_power_off_us;  // FREEZE to the power-off call
};

inline uint64_t MonotonicMicros() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);  // the vDSO: no system call, no lock
  return static_cast<uint64_t>(now.tv_sec) * 1000000 + static_cast<uint64_t>(now.tv_nsec) / 1000;
}

inline int32_t IoctlIndex(const SnapshotIoctl* request) {
  for (size_t i = 0; i < sizeof(kSnapshotIoctls) / sizeof(kSnapshotIoctls[0]); i++) {
    if (kSnapshotIoctls[i] == request) return static_cast<int32_t>(i);
  }
  return -1;
}

// "hiberkit: restore failed at freeze (ioctl: errno 16); user space thawed".
inline void PrintCriticalFailure(const char* what, const CriticalReport& report, const ProgressOutput& output) {
  ProgressLine()
      .Text("hiberkit: ")
      .Text(what)
      .Text(" failed at ")
      .Text(CriticalStageName(report.stage))
      .Text(" (")
      .Text(report.failed_call)
      .Text(": errno ")
      .Number(static_cast<uint64_t>(report.error))
      .Text("); user space thawed")
      .SendTo(output);
}

// What both sequences share: the device calls, the report, the status lines.
class CriticalSequence {
 protected:
  CriticalSequence(int snapshot_fd, int progress_fd, CriticalReport* report)
      : snapshot_fd_(snapshot_fd), report_(report), progress_(progress_fd) {}

  void Enter(CriticalStage stage) { report_->stage = stage; }

  // One /dev/snapshot request. Returns 0 or the errno value; records nothing.
  int Ioctl(const SnapshotIoctl& request, unsigned long arg) {
    return ioctl(snapshot_fd_, request.request, arg) < 0 ? errno : 0;
  }

  void Record(const char* call, const SnapshotIoctl* request, int error) {
    report_->failed_call = call;
    report_->ioctl_index = IoctlIndex(request);
    report_->error = error;
  }

  void PrintFailure(const char* what) { PrintCriticalFailure(what, *report_, progress_); }

  const int snapshot_fd_;
  CriticalReport* const report_;
  const ProgressOutput progress_;
};

}  // namespace hiberkit
