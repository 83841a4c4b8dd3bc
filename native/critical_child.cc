// The critical-section child (see critical_child.h for why it exists and the rules it follows).
#include "critical_child.h"

#include <signal.h>
#include <sys/reboot.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "image_crypto.h"
#include "image_invalidate.h"
#include "progress_line.h"
#include "snapshot_ioctls.h"

namespace hiberkit {

namespace {

// The child read EOF instead of the go byte: the parent gave up before handing the device over.
constexpr int kExitWithoutGo = 2;

// readv() moves at most UIO_MAXIOV segments per call (docs/snapshot-device.md §3.3): 4 MiB of one-page segments.
constexpr size_t kMaxSegments = 1024;

constexpr uint64_t kPagesPerMiB = (1024 * 1024) / kPageSize;

// Blocks until the parent has closed its copy of /dev/snapshot and says go. Until then the child
// must not freeze: the parent's copy would keep the device open if the child died.
void WaitForGo(int go_fd) {
  char go;
  ssize_t got;
  do {
    got = read(go_fd, &go, 1);
  } while (got < 0 && errno == EINTR);
  close(go_fd);
  if (got != 1) _exit(kExitWithoutGo);
}

// Puts the signal state of a fresh process back. Node installs handlers (SIGSEGV for WebAssembly
// traps, SIGINT/SIGTERM to restore the terminal, ...) that run Node code: a crash or a signal in
// the child must end it at once instead. SIGPIPE stays ignored so that a closed progress pipe
// only fails a write. The child also leaves the terminal's foreground process group: Ctrl-C must
// not cut the critical section in half, and it reaches the parent, which cleans up after it.
void IsolateFromParent() {
  struct sigaction action = {};
  action.sa_handler = SIG_DFL;
  for (int signal_number = 1; signal_number < NSIG; signal_number++) {
    if (signal_number == SIGKILL || signal_number == SIGSTOP) continue;
    action.sa_handler = signal_number == SIGPIPE ? SIG_IGN : SIG_DFL;
    sigaction(signal_number, &action, nullptr);  // fails harmlessly for glibc's reserved signals
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  setpgid(0, 0);
}

// The test-only deaths. Each one must end the child the way a real bug would.
volatile uintptr_t g_unmapped_address = 8;  // a global, so the compiler cannot see the fault coming

[[noreturn]] void Die(KillMethod method) {
  switch (method) {
    case KillMethod::kSigkill:
      kill(getpid(), SIGKILL);
      break;
    case KillMethod::kSigsegv:
      *reinterpret_cast<volatile int*>(g_unmapped_address) = 1;
      break;
    case KillMethod::kAbort:
      abort();
  }
  _exit(127);  // not reached: each of the above kills the process
}

// Streams the snapshot with readv() of one-page segments, the only way to read several pages
// per system call (docs/snapshot-device.md §3.3).
class SnapshotPageSource final : public PageSource {
 public:
  SnapshotPageSource(int snapshot_fd, uint64_t stream_pages, bool die_halfway, KillMethod kill_method)
      : fd_(snapshot_fd), stream_pages_(stream_pages), die_halfway_(die_halfway), kill_method_(kill_method) {}

  long ReadPages(uint8_t* buf, size_t pages) override {
    size_t segments = pages < kMaxSegments ? pages : kMaxSegments;
    for (size_t i = 0; i < segments; i++) segments_[i] = iovec{buf + i * kPageSize, kPageSize};
    ssize_t got;
    do {
      got = readv(fd_, segments_, static_cast<int>(segments));
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
      error_ = errno;
      return -error_;
    }
    // Whole-page segments always come back whole; anything else means the stream is wedged.
    if (got % kPageSize != 0) {
      error_ = EIO;
      return -EIO;
    }
    pages_read_ += static_cast<uint64_t>(got) / kPageSize;
    if (die_halfway_ && pages_read_ * 2 >= stream_pages_) Die(kill_method_);
    return got / static_cast<long>(kPageSize);
  }

  int error() const { return error_; }

 private:
  const int fd_;
  const uint64_t stream_pages_;
  const bool die_halfway_;
  const KillMethod kill_method_;
  uint64_t pages_read_ = 0;
  int error_ = 0;
  // Value-initialised so the pages are touched (and locked) before the freeze.
  iovec segments_[kMaxSegments] = {};
};

class SnapshotSwapAllocator final : public SwapAllocator {
 public:
  explicit SnapshotSwapAllocator(int snapshot_fd) : fd_(snapshot_fd) {}

  int64_t AllocPage() override {
    loff_t offset = 0;
    if (ioctl(fd_, kAllocSwapPage.request, &offset) < 0) {
      error_ = errno;
      return -error_;
    }
    return offset;
  }

  int error() const { return error_; }

 private:
  const int fd_;
  int error_ = 0;
};

// "hiberkit: saving image 12/345 MiB" at every tenth of the stream: enough to see it move, few
// enough lines for a serial console (about 11 KB/s) and for a pipe nobody reads while frozen.
class ConsoleProgress final : public ProgressSink {
 public:
  explicit ConsoleProgress(const ProgressOutput& output) : output_(output) {}

  void Progress(uint64_t done_pages, uint64_t total_pages) override {
    if (total_pages == 0) return;
    uint64_t tenth = done_pages * 10 / total_pages;
    if (tenth <= last_tenth_) return;
    last_tenth_ = tenth;
    ProgressLine()
        .Text("hiberkit: saving image ")
        .Number(done_pages / kPagesPerMiB)
        .Text("/")
        .Number(total_pages / kPagesPerMiB)
        .Text(" MiB")
        .SendTo(output_);
  }

 private:
  const ProgressOutput& output_;
  uint64_t last_tenth_ = 0;
};

class HibernateSequence final : CriticalSequence {
 public:
  explicit HibernateSequence(const HibernateChildPlan& plan)
      : CriticalSequence(plan.snapshot_fd, plan.progress_fd, plan.report), plan_(plan) {}

  [[noreturn]] void Run() {
    Enter(CriticalStage::kLockMemory);
    uint64_t lock_start = MonotonicMicros();
    const char* lock_call = nullptr;
    if (int err = LockChildMemory(plan_.memory, &lock_call)) FailUnfrozen(lock_call, nullptr, err);
    // OpenSSL's code lives in the node binary, which precise locking does not lock up front: run
    // every cipher call once now so its pages are resident and locked before the freeze.
    if (plan_.workspace.cipher != nullptr && !plan_.workspace.cipher->Rehearse()) {
      FailUnfrozen("image-cipher", nullptr, EINVAL);
    }
    report_->lock_us = MonotonicMicros() - lock_start;
    report_->memory_use = MeasureMemoryUse();

    // The kernel decides at CREATE_IMAGE whether the platform (ACPI S4) hooks take part; enabling
    // them later would make POWER_OFF enter S4 with devices prepared for a plain power-off.
    if (plan_.power_off == PowerOff::kPlatform) {
      Enter(CriticalStage::kPlatformSupport);
      if (int err = Ioctl(kPlatformSupport, 1)) FailUnfrozen("ioctl", &kPlatformSupport, err);
    }

    Enter(CriticalStage::kFreeze);
    freeze_us_ = MonotonicMicros();
    if (int err = Ioctl(kFreeze, 0)) FailUnfrozen("ioctl", &kFreeze, err);
    KillIfAt(KillPoint::kAfterFreeze);

    Enter(CriticalStage::kCreateImage);
    int in_suspend = CreateImage();
    report_->snapshot_us = MonotonicMicros() - freeze_us_;
    // 0: the machine was hibernated and has just been restored, and this is the same child,
    // brought back by the restore. (A wakeup event at the last moment also makes the kernel skip
    // the snapshot and store 0, docs/snapshot-device.md §2.3; that cannot be told apart, and the right reaction is
    // the same: tear down and let everything run.)
    if (in_suspend == 0) FinishResumed();
    KillIfAt(KillPoint::kAfterCreateImage);

    // Compression workers, when they come, start here: created after CREATE_IMAGE returned 1
    // they are not in the image, and they inherit PF_SUSPEND_TASK (docs/snapshot-device.md §7.2), so they run while
    // everything else is frozen. Every exit path below must join them before it thaws or powers
    // off, or the kernel warns at the thaw and they stay unfreezable for ever.
    Enter(CriticalStage::kGetImageSize);
    loff_t stream_bytes = 0;
    if (int err = Ioctl(kGetImageSize, reinterpret_cast<unsigned long>(&stream_bytes))) {
      FailWithImage("ioctl", &kGetImageSize, err);
    }
    report_->stream_bytes = static_cast<uint64_t>(stream_bytes);
    ProgressLine()
        .Text("hiberkit: snapshot of ")
        .Number(report_->stream_bytes >> 20)
        .Text(" MiB taken in ")
        .Number(report_->snapshot_us / 1000)
        .Text(" ms")
        .SendTo(progress_);

    Enter(CriticalStage::kWriteImage);
    WriteTheImage(report_->stream_bytes / kPageSize);
    KillIfAt(KillPoint::kAfterMarker);

    Enter(CriticalStage::kPowerOff);
    report_->freeze_to_power_off_us = MonotonicMicros() - freeze_us_;
    ProgressLine()
        .Text("hiberkit: image saved (")
        .Number(report_->stored_bytes >> 20)
        .Text(" MiB on disk) in ")
        .Number(report_->write_us / 1000)
        .Text(" ms, ")
        .Number(report_->freeze_to_power_off_us / 1000)
        .Text(" ms after the freeze; powering off")
        .SendTo(progress_);
    KillIfAt(KillPoint::kBeforePowerOff);
    PowerOffNow();
  }

 private:
  [[noreturn]] void ExitFailed(const char* what) {
    PrintFailure(what);
    _exit(kChildExitFailed);
  }

  void KillIfAt(KillPoint point) {
    if (plan_.kill_at == point) Die(plan_.kill_method);
  }

  // CREATE_IMAGE, retried once on ENOMEM. Returns the value the kernel stored (1 or 0).
  int CreateImage() {
    int in_suspend = -1;
    report_->image_attempts = 1;
    int err = Ioctl(kCreateImage, reinterpret_cast<unsigned long>(&in_suspend));
    if (err == ENOMEM) {
      // The kernel could not shrink memory to the preferred image size and still copy it. Free
      // what the attempt left, ask for the smallest image (the kernel then reclaims all it can)
      // and try once more, as uswsusp does.
      Ioctl(kFree, 0);
      Ioctl(kPrefImageSize, 0);
      image_size_lowered_ = true;
      report_->image_attempts = 2;
      err = Ioctl(kCreateImage, reinterpret_cast<unsigned long>(&in_suspend));
    }
    if (err != 0) {
      Record("ioctl", &kCreateImage, err);
      // A late failure can leave kernel threads frozen and an image half made: FREE clears both.
      Ioctl(kFree, 0);
      RestoreImageSize();
      Ioctl(kUnfreeze, 0);
      ExitFailed("hibernation");
    }
    return in_suspend;
  }

  // image_size is global (/sys/power/image_size): one ENOMEM must not shrink every later image.
  void RestoreImageSize() {
    if (image_size_lowered_ && plan_.restore_image_size >= 0) {
      Ioctl(kPrefImageSize, static_cast<unsigned long>(plan_.restore_image_size));
    }
  }

  void WriteTheImage(uint64_t stream_pages) {
    SnapshotPageSource source(snapshot_fd_, stream_pages, plan_.kill_at == KillPoint::kMidWrite,
                              plan_.kill_method);
    SnapshotSwapAllocator allocator(snapshot_fd_);
    ConsoleProgress progress(progress_);
    uint64_t start = MonotonicMicros();
    ImageWriteResult result = WriteImage(plan_.writer, plan_.workspace, stream_pages, source, allocator, progress);
    report_->write_us = MonotonicMicros() - start;
    report_->stored_bytes = result.stored_bytes;
    report_->extents = result.extents;
    if (result.error == 0) return;
    report_->writer_stage = result.stage;
    // Name the call that failed when it was one of ours; otherwise it was the writer's storage I/O.
    if (source.error() == result.error) {
      FailWithImage("readv", nullptr, result.error);
    } else if (allocator.error() == result.error) {
      FailWithImage("ioctl", &kAllocSwapPage, result.error);
    } else {
      FailWithImage("write-image", nullptr, result.error);
    }
  }

  [[noreturn]] void PowerOffNow() {
    switch (plan_.power_off) {
      case PowerOff::kPlatform: {
        // Returns only on failure: with platform support on, success enters S4 (docs/snapshot-device.md §2.3).
        int err = Ioctl(kPowerOff, 0);
        FailWithImage("ioctl", &kPowerOff, err != 0 ? err : EINVAL);
      }
      case PowerOff::kShutdown:
        reboot(RB_POWER_OFF);
        break;
      case PowerOff::kReboot:
        reboot(RB_AUTOBOOT);
        break;
    }
    FailWithImage("reboot", nullptr, errno);
  }

  [[noreturn]] void FinishResumed() {
    Ioctl(kFree, 0);
    RestoreImageSize();
    Ioctl(kUnfreeze, 0);
    report_->resumed = 1;
    Enter(CriticalStage::kResumed);
    ProgressLine().Text("hiberkit: resumed").SendTo(progress_);
    _exit(kChildExitResumed);
  }

  // Before the freeze nothing needs undoing: the exit closes the device.
  [[noreturn]] void FailUnfrozen(const char* call, const SnapshotIoctl* request, int error) {
    Record(call, request, error);
    ExitFailed("hibernation");
  }

  // After CREATE_IMAGE returned 1. The image on disk goes FIRST: thawing with a valid image
  // there would let a later boot resume it over a file system that has moved on (docs/snapshot-device.md §8.1 step 10).
  [[noreturn]] void FailWithImage(const char* call, const SnapshotIoctl* request, int error) {
    Record(call, request, error);
    // Its result is not checked here: the parent invalidates again after the exit in any case.
    InvalidateImage(plan_.writer.storage_fd, plan_.writer.resume_page, plan_.writer.original_resume_page,
                    plan_.scratch_page);
    Ioctl(kFreeSwapPages, 0);
    Ioctl(kFree, 0);
    RestoreImageSize();
    Ioctl(kUnfreeze, 0);
    ExitFailed("hibernation");
  }

  const HibernateChildPlan& plan_;
  uint64_t freeze_us_ = 0;
  bool image_size_lowered_ = false;
};

}  // namespace

void RunHibernateChild(const HibernateChildPlan& plan) {
  WaitForGo(plan.go_fd);
  IsolateFromParent();
  HibernateSequence(plan).Run();
}

void RunRestoreChild(const RestoreChildPlan& plan) {
  WaitForGo(plan.go_fd);
  IsolateFromParent();
  RunRestoreSequence(plan.restore);
  PrintCriticalFailure("restore", *plan.restore.report, ProgressOutput(plan.restore.progress_fd));
  _exit(kChildExitFailed);
}

}  // namespace hiberkit
