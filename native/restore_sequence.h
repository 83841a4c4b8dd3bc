// The restore critical section: lock memory, freeze, invalidate the on-disk image, jump into the
// loaded one. Run by the addon's forked child (critical_child.cc) and by hiberkit-resume, a
// single-threaded program that runs it itself (its exit, however it happens, closes
// /dev/snapshot and thaws the machine, like the child's). Allocation-free and lock-free, as
// critical_child.h requires of everything after the freeze.
#pragma once

#include <cstdint>

#include "child_memory.h"
#include "critical_sequence.h"

namespace hiberkit {

struct RestorePlan {
  int snapshot_fd;  // restore mode, complete image written
  int progress_fd;  // status lines; negative: none
  int storage_fd;
  uint64_t resume_page;
  const uint8_t* original_resume_page;
  uint8_t* scratch_page;  // one page-aligned page for InvalidateImage
  bool platform_mode;
  ChildMemory memory;
  CriticalReport* report;
};

// Does not return when the restore succeeds: the machine continues in the hibernated kernel.
// Returns after a failure, with user space thawed and `report` naming the stage and the call;
// from CriticalStage::kInvalidate on, the on-disk image has been invalidated (or was being).
void RunRestoreSequence(const RestorePlan& plan);

}  // namespace hiberkit
