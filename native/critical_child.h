// The forked child that runs the critical section of hibernation and of restore.
//
// Why a child: a process that froze user space and then dies keeps everything frozen if it has
// other threads, because they are frozen too and keep /dev/snapshot open (docs/snapshot-device.md
// §7.3; seen in the test VM). Node always has other threads. A child of fork() has exactly one, and
// owns the only descriptor of /dev/snapshot: whatever happens to it, its exit closes the device
// and the kernel thaws user space.
//
// Rules for everything the child runs after the fork (critical_child.cc, child_memory.cc,
// progress_line.cc, the image writer): system calls and this addon's own code only. No heap
// allocation, no stdio, no lock of any kind (another thread of the parent may have held it at
// the moment of the fork, and that copy is never released), no exceptions, no exit() (atexit
// handlers and static destructors belong to Node): _exit() only. Everything it uses is prepared
// by the parent before the fork and described by the plans below.
#pragma once

#include <cstddef>
#include <cstdint>

#include "child_memory.h"
#include "image_writer.h"

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

// Test-only places where the hibernating child kills itself, to prove that a death at any point
// leaves the machine thawed and no valid image on disk.
enum class KillPoint : uint32_t {
  kNone,
  kAfterFreeze,
  kAfterCreateImage,
  kMidWrite,
  kAfterMarker,
  kBeforePowerOff,
};

enum class KillMethod : uint32_t { kSigkill, kSigsegv, kAbort };

enum class PowerOff : uint32_t { kPlatform, kShutdown, kReboot };

// Exit statuses of the child. A signal, or any other status, means it died.
constexpr int kChildExitResumed = 0;
constexpr int kChildExitFailed = 1;

// What the child tells the parent: a MAP_SHARED page the parent reads after waitpid().
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

struct HibernateChildPlan {
  int snapshot_fd;  // hibernate mode, swap area selected; the child's copy is the only one
  int go_fd;        // read end of the go pipe: one byte = go, EOF = the parent gave up
  int progress_fd;  // status lines; negative: none
  ImageWriterConfig writer;
  ImageWriterWorkspace workspace;
  uint8_t* scratch_page;       // one page for InvalidateImage
  int64_t restore_image_size;  // the caller's SNAPSHOT_PREF_IMAGE_SIZE, put back after a retry; -1: unknown
  PowerOff power_off;
  KillPoint kill_at;
  KillMethod kill_method;
  ChildMemory memory;
  CriticalReport* report;
};

struct RestoreChildPlan {
  int snapshot_fd;  // restore mode, complete image written
  int go_fd;
  int progress_fd;
  int storage_fd;
  uint64_t resume_page;
  const uint8_t* original_resume_page;
  uint8_t* scratch_page;
  bool platform_mode;
  ChildMemory memory;
  CriticalReport* report;
};

// The child's whole life. Neither returns.
[[noreturn]] void RunHibernateChild(const HibernateChildPlan& plan);
[[noreturn]] void RunRestoreChild(const RestoreChildPlan& plan);

}  // namespace hiberkit
