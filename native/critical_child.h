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
#include "critical_sequence.h"
#include "image_writer.h"
#include "restore_sequence.h"

namespace hiberkit {

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

// The restore child runs RunRestoreSequence once the parent says go.
struct RestoreChildPlan {
  int go_fd;
  RestorePlan restore;
};

// The child's whole life. Neither returns.
[[noreturn]] void RunHibernateChild(const HibernateChildPlan& plan);
[[noreturn]] void RunRestoreChild(const RestoreChildPlan& plan);

}  // namespace hiberkit
