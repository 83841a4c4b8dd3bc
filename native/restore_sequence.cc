// The restore critical section (restore_sequence.h).
#include "restore_sequence.h"

#include "image_invalidate.h"

namespace hiberkit {
namespace {

class RestoreSequence final : CriticalSequence {
 public:
  explicit RestoreSequence(const RestorePlan& plan)
      : CriticalSequence(plan.snapshot_fd, plan.progress_fd, plan.report), plan_(plan) {}

  // Returns only after a failure (see RunRestoreSequence).
  void Run() {
    Enter(CriticalStage::kLockMemory);
    uint64_t lock_start = MonotonicMicros();
    const char* lock_call = nullptr;
    if (int err = LockChildMemory(plan_.memory, &lock_call)) {
      Record(lock_call, nullptr, err);
      return;
    }
    report_->lock_us = MonotonicMicros() - lock_start;
    report_->memory_use = MeasureMemoryUse();

    Enter(CriticalStage::kFreeze);
    if (int err = Ioctl(kFreeze, 0)) {
      Record("ioctl", &kFreeze, err);
      return;
    }

    // Before jumping: if the restore fails or the restored system crashes early, the next boot
    // must not try the same image again (docs/snapshot-device.md §8.2 step 7). If the image cannot be invalidated, do not
    // restore at all: a restored system with its image still valid on disk would be resumed
    // again, over newer data, after its next crash.
    Enter(CriticalStage::kInvalidate);
    if (int err = InvalidateImage(plan_.storage_fd, plan_.resume_page, plan_.original_resume_page, plan_.scratch_page)) {
      return FailFrozen("invalidate-image", nullptr, err);
    }

    if (plan_.platform_mode) {
      Enter(CriticalStage::kPlatformSupport);
      if (int err = Ioctl(kPlatformSupport, 1)) return FailFrozen("ioctl", &kPlatformSupport, err);
    }

    Enter(CriticalStage::kAtomicRestore);
    ProgressLine().Text("hiberkit: restoring the image").SendTo(progress_);
    // Does not return on success: the machine continues in the hibernated kernel.
    int err = Ioctl(kAtomicRestore, 0);
    FailFrozen("ioctl", &kAtomicRestore, err);
  }

 private:
  void FailFrozen(const char* call, const SnapshotIoctl* request, int error) {
    Record(call, request, error);
    Ioctl(kUnfreeze, 0);
  }

  const RestorePlan& plan_;
};

}  // namespace

void RunRestoreSequence(const RestorePlan& plan) { RestoreSequence(plan).Run(); }

}  // namespace hiberkit
