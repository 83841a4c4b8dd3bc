// criticalHibernate(params) and criticalRestore(params): the parent's half of the critical
// section (the child's half is critical_child.cc).
//
// On the JavaScript thread, before the promise is returned: check the parameters, map and fill
// every buffer the child will use, collect what it must lock (dl_iterate_phdr takes the loader's
// lock, which the child must never touch), fork, close this process's copy of /dev/snapshot, and
// only then tell the child to go: from that moment the child's descriptor is the only one, so its
// exit, however it happens, closes the device and thaws the machine. A worker thread then waits
// for the child (it is frozen with the rest of user space meanwhile), invalidates the on-disk
// image unless the machine came back from hibernation, and the promise resolves with what the
// child reported. Parameters are described in lib/native/binding.ts.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>

#include "addon.h"
#include "critical_child.h"
#include "image_crypto.h"
#include "image_invalidate.h"
#include "snapshot_ioctls.h"

namespace hiberkit {

namespace {

constexpr size_t kMaxIdentityLength = sizeof(ImageIdentityFields::kernel_release) - 1;
constexpr int64_t kMaxSafeInteger = (int64_t{1} << 53) - 1;

size_t RoundUpToPage(size_t bytes) { return (bytes + kPageSize - 1) & ~(kPageSize - 1); }

// Reads the fields of the parameter object. The first problem becomes the TypeError thrown;
// later reads after a problem return harmless defaults.
class Params {
 public:
  Params(const Napi::CallbackInfo& info, const char* function) : env_(info.Env()), function_(function) {
    if (info.Length() < 1 || !info[0].IsObject()) {
      Fail("the argument must be a parameter object");
    } else {
      object_ = info[0].As<Napi::Object>();
    }
  }

  bool ok() const { return problem_.empty(); }

  // A rule that involves the values read, not just one field's type.
  void Check(bool holds, const char* problem) {
    if (ok() && !holds) problem_ = problem;
  }

  Napi::Value Throw() const {
    Napi::TypeError::New(env_, function_ + ": " + problem_).ThrowAsJavaScriptException();
    return env_.Undefined();
  }

  int64_t Integer(const char* key, int64_t min, int64_t max) {
    Napi::Value value = Field(key);
    if (!ok()) return min;
    double number = value.IsNumber() ? value.As<Napi::Number>().DoubleValue() : NAN;
    // Written so that NaN fails every comparison.
    if (!(number >= static_cast<double>(min) && number <= static_cast<double>(max)) || std::trunc(number) != number) {
      Fail(std::string(key) + " must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
      return min;
    }
    return static_cast<int64_t>(number);
  }

  bool Boolean(const char* key) {
    Napi::Value value = Field(key);
    if (!ok()) return false;
    if (!value.IsBoolean()) Fail(std::string(key) + " must be a boolean");
    return ok() && value.As<Napi::Boolean>().Value();
  }

  std::string Text(const char* key, size_t max_length) {
    Napi::Value value = Field(key);
    if (!ok()) return {};
    std::string text = value.IsString() ? value.As<Napi::String>().Utf8Value() : std::string();
    if (!value.IsString() || text.size() > max_length || text.find('\0') != std::string::npos) {
      Fail(std::string(key) + " must be a string of at most " + std::to_string(max_length) + " bytes");
    }
    return text;
  }

  // The index of the field's value in `names`. An absent field gives `absent` if that is not -1.
  int Choice(const char* key, std::initializer_list<const char*> names, int absent = -1) {
    if (!ok()) return 0;
    Napi::Value value = object_.Get(key);
    if (value.IsUndefined() && absent >= 0) return absent;
    std::string text = value.IsString() ? value.As<Napi::String>().Utf8Value() : std::string();
    int index = 0;
    std::string allowed;
    for (const char* name : names) {
      if (text == name) return index;
      allowed += (index++ == 0 ? "'" : ", '") + std::string(name) + "'";
    }
    Fail(std::string(key) + " must be one of " + allowed);
    return 0;
  }

  // Whether the optional object field `key` is given; if it is, the reads that follow take their
  // fields from that object (so read a nested object last).
  bool EnterOptional(const char* key) {
    if (!ok()) return false;
    Napi::Value value = object_.Get(key);
    if (value.IsUndefined()) return false;
    if (!value.IsObject()) {
      Fail(std::string(key) + " must be an object");
      return false;
    }
    object_ = value.As<Napi::Object>();
    return true;
  }

  // Like Bytes for a field that may be absent or null; says whether it was there.
  bool OptionalBytes(const char* key, uint8_t* out, size_t length) {
    if (!ok()) return false;
    Napi::Value value = object_.Get(key);
    if (value.IsUndefined() || value.IsNull()) return false;
    Bytes(key, out, length);
    return ok();
  }

  // Copies exactly `length` bytes of a Uint8Array field into `out`.
  void Bytes(const char* key, uint8_t* out, size_t length) {
    Napi::Value value = Field(key);
    if (!ok()) return;
    if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
        value.As<Napi::Uint8Array>().ByteLength() != length) {
      Fail(std::string(key) + " must be a Uint8Array of " + std::to_string(length) + " bytes");
      return;
    }
    std::memcpy(out, value.As<Napi::Uint8Array>().Data(), length);
  }

 private:
  Napi::Value Field(const char* key) {
    if (!ok()) return env_.Undefined();
    Napi::Value value = object_.Get(key);
    if (value.IsUndefined()) Fail(std::string(key) + " is required");
    return value;
  }

  void Fail(const std::string& problem) {
    if (problem_.empty()) problem_ = problem;
  }

  Napi::Env env_;
  std::string function_;
  Napi::Object object_;
  std::string problem_;
};

// A descriptor this call owns: closed when it goes out of scope unless released first.
class OwnedFd {
 public:
  explicit OwnedFd(int fd = -1) : fd_(fd) {}
  ~OwnedFd() { Close(); }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  int get() const { return fd_; }
  void Reset(int fd) {
    Close();
    fd_ = fd;
  }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Everything one child is given and the parent keeps until it has been reaped.
struct Session {
  Session() = default;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() {
    if (private_base != nullptr) munmap(private_base, private_bytes);
    if (report != nullptr) munmap(report, kPageSize);
  }

  // One private mapping: [workspace][original resume page][scratch page][library ranges]. The
  // parent writes only the resume page and the ranges; the workspace stays untouched here so that
  // the child's first touch gives it its own pages instead of copies of the parent's.
  // The report is a page of its own, MAP_SHARED so that the child's writes reach the parent.
  int Map(size_t workspace_request) {
    workspace_bytes = RoundUpToPage(workspace_request);
    private_bytes = workspace_bytes + 2 * kPageSize + RoundUpToPage(sizeof(LibraryRanges));
    void* area = mmap(nullptr, private_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) return errno;
    private_base = static_cast<uint8_t*>(area);
    void* shared = mmap(nullptr, kPageSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) return errno;
    report = static_cast<CriticalReport*>(shared);
    report->stage = CriticalStage::kWaitGo;
    report->ioctl_index = -1;
    return 0;
  }

  uint8_t* workspace() const { return private_base; }
  uint8_t* original_page() const { return private_base + workspace_bytes; }
  uint8_t* scratch_page() const { return private_base + workspace_bytes + kPageSize; }
  LibraryRanges* libraries() const {
    return reinterpret_cast<LibraryRanges*>(private_base + workspace_bytes + 2 * kPageSize);
  }

  ChildMemory Memory(LockMode mode) const {
    return ChildMemory{mode,
                       libraries(),
                       {LockRange{reinterpret_cast<uintptr_t>(private_base), private_bytes},
                        LockRange{reinterpret_cast<uintptr_t>(report), kPageSize}}};
  }

  bool hibernate = true;
  uint8_t* private_base = nullptr;
  size_t private_bytes = 0;
  size_t workspace_bytes = 0;
  CriticalReport* report = nullptr;
  OwnedFd storage;  // a duplicate: the caller may close its own descriptor while the child runs
  ImageCipher cipher;  // an encrypted image's keys, ready before the fork (image_crypto.h)
  uint64_t resume_page = 0;
  std::string snapshot_path;
  pid_t pid = -1;
};

// Writes the original resume page back once the child is gone. The child may have died after
// its marker reached the disk; a valid image left behind while the system keeps running would be
// resumed later over a file system that has moved on. An active swap device accepts writes only
// from the /dev/snapshot holder that selected it (ETXTBSY otherwise, docs/snapshot-device.md §2.3), and the child's
// descriptor is closed now: select the area again for the duration of the write. That selection
// is best effort (no swap active, device busy): the write reports what really matters.
int InvalidateAfterChild(const Session& session) {
  OwnedFd snapshot(open(session.snapshot_path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat storage_info;
  if (snapshot.get() >= 0 && fstat(session.storage.get(), &storage_info) == 0 && S_ISBLK(storage_info.st_mode)) {
    // glibc's dev_t keeps the kernel's 32-bit "new" encoding in its low bits for every normal number.
    resume_swap_area area{static_cast<__kernel_loff_t>(session.resume_page), static_cast<__u32>(storage_info.st_rdev)};
    ioctl(snapshot.get(), kSetSwapArea.request, &area);
  }
  // A hibernating child's swap pages were freed when it died and user space runs again: the
  // header's page may hold someone's swapped-out memory by now, so it is left alone (the child
  // itself wipes it on every failure it survives). A restoring child runs from the initramfs,
  // where the area is not in use: its header goes.
  return InvalidateImage(session.storage.get(), session.resume_page, session.original_page(), session.scratch_page(),
                         session.hibernate ? HeaderWipe::kKeep : HeaderWipe::kWipe);
}

enum class Outcome { kResumed, kFailed, kDied };

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kResumed:
      return "resumed";
    case Outcome::kFailed:
      return "failed";
    case Outcome::kDied:
      return "died";
  }
  return "died";
}

Napi::Value NumberOrNull(Napi::Env env, bool present, double value) {
  return present ? Napi::Number::New(env, value) : env.Null();
}

Napi::Value StringOrNull(Napi::Env env, const char* text) {
  return text != nullptr ? Napi::String::New(env, text) : env.Null();
}

Napi::Object StatsObject(Napi::Env env, const CriticalReport& report) {
  Napi::Object stats = Napi::Object::New(env);
  stats.Set("streamBytes", static_cast<double>(report.stream_bytes));
  stats.Set("storedBytes", static_cast<double>(report.stored_bytes));
  stats.Set("extents", static_cast<double>(report.extents));
  stats.Set("imageAttempts", report.image_attempts);
  stats.Set("lockMs", report.lock_us / 1000.0);
  stats.Set("residentKiB", static_cast<double>(report.memory_use.resident_kib));
  stats.Set("privateDirtyKiB", static_cast<double>(report.memory_use.private_dirty_kib));
  stats.Set("snapshotMs", report.snapshot_us / 1000.0);
  stats.Set("writeMs", report.write_us / 1000.0);
  stats.Set("freezeToPowerOffMs", report.freeze_to_power_off_us / 1000.0);
  return stats;
}

// The resolved value when the child never ran: the preparation failed in this process.
Napi::Value PrepareFailure(Napi::Env env, const char* call, int error) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("outcome", "failed");
  result.Set("stage", "prepare");
  result.Set("errno", error);
  result.Set("syscall", call);
  result.Set("ioctl", env.Null());
  result.Set("writerStage", env.Null());
  result.Set("signal", env.Null());
  result.Set("exitCode", env.Null());
  result.Set("invalidateErrno", env.Null());
  CriticalReport empty = {};
  result.Set("stats", StatsObject(env, empty));
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  deferred.Resolve(result);
  return deferred.Promise();
}

// Waits for the child on a libuv worker thread (frozen, like every thread of this process, for as
// long as the child keeps user space frozen) and resolves the promise with its report.
class ChildWaiter final : public Napi::AsyncWorker {
 public:
  ChildWaiter(Napi::Env env, std::unique_ptr<Session> session)
      : Napi::AsyncWorker(env, "hiberkit.criticalSection"),
        deferred_(Napi::Promise::Deferred::New(env)),
        session_(std::move(session)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    int status = 0;
    pid_t reaped;
    do {
      reaped = waitpid(session_->pid, &status, 0);
    } while (reaped < 0 && errno == EINTR);
    const CriticalReport& report = *session_->report;
    if (reaped < 0) {
      outcome_ = Outcome::kDied;  // cannot happen for our own child; reported rather than assumed
    } else if (WIFSIGNALED(status)) {
      outcome_ = Outcome::kDied;
      signal_ = WTERMSIG(status);
    } else {
      exit_code_ = WEXITSTATUS(status);
      if (session_->hibernate && exit_code_ == kChildExitResumed && report.resumed == 1) {
        outcome_ = Outcome::kResumed;
      } else if (exit_code_ == kChildExitFailed && report.error != 0) {
        outcome_ = Outcome::kFailed;
      } else {
        outcome_ = Outcome::kDied;
      }
    }
    if (outcome_ != Outcome::kResumed) invalidate_errno_ = InvalidateAfterChild(*session_);
  }

  void OnOK() override {
    Napi::Env env = Env();
    const CriticalReport& report = *session_->report;
    bool failed = outcome_ == Outcome::kFailed;
    Napi::Object result = Napi::Object::New(env);
    result.Set("outcome", OutcomeName(outcome_));
    result.Set("stage", CriticalStageName(report.stage));
    result.Set("errno", NumberOrNull(env, failed, report.error));
    result.Set("syscall", StringOrNull(env, failed ? report.failed_call : nullptr));
    result.Set("ioctl", StringOrNull(env, failed && report.ioctl_index >= 0
                                              ? kSnapshotIoctls[report.ioctl_index]->name
                                              : nullptr));
    result.Set("writerStage", StringOrNull(env, failed ? report.writer_stage : nullptr));
    result.Set("signal", NumberOrNull(env, signal_ != 0, signal_));
    result.Set("exitCode", NumberOrNull(env, signal_ == 0, exit_code_));
    result.Set("invalidateErrno", NumberOrNull(env, outcome_ != Outcome::kResumed, invalidate_errno_));
    result.Set("stats", StatsObject(env, report));
    deferred_.Resolve(result);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::unique_ptr<Session> session_;
  Outcome outcome_ = Outcome::kDied;
  int signal_ = 0;
  int exit_code_ = -1;
  int invalidate_errno_ = 0;
};

// The kernel's preferred image size (/sys/power/image_size, the variable PREF_IMAGE_SIZE sets),
// or -1 if it cannot be read.
int64_t CurrentImageSizeSetting() {
  OwnedFd fd(open("/sys/power/image_size", O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return -1;
  char text[32];
  ssize_t length = read(fd.get(), text, sizeof(text) - 1);
  if (length <= 0) return -1;
  int64_t value = 0;
  for (ssize_t i = 0; i < length && text[i] >= '0' && text[i] <= '9'; i++) value = value * 10 + (text[i] - '0');
  return value;
}

// The parameters both calls share, read in one place.
struct CommonParams {
  int storage_fd;
  int progress_fd;
  uint64_t resume_page;
  std::string snapshot_path;
  LockMode lock_mode;
};

CommonParams ReadCommon(Params& params) {
  CommonParams common;
  common.storage_fd = static_cast<int>(params.Integer("storageFd", 0, INT_MAX));
  common.progress_fd = static_cast<int>(params.Integer("progressFd", -1, INT_MAX));
  common.resume_page = static_cast<uint64_t>(params.Integer("resumePage", 0, kMaxSafeInteger));
  common.snapshot_path = params.Text("snapshotPath", PATH_MAX - 1);
  common.lock_mode = params.Choice("lockMode", {"precise", "everything"}, 0) == 0 ? LockMode::kPrecise
                                                                                  : LockMode::kEverything;
  return common;
}

// The parts of preparing a session both calls share, after the parameters were read. Returns 0,
// or an errno value with `*failed_call` set.
int PrepareSession(Session& session, const CommonParams& common, size_t workspace_bytes, const char** failed_call) {
  session.resume_page = common.resume_page;
  session.snapshot_path = common.snapshot_path;
  if (int err = session.Map(workspace_bytes)) {
    *failed_call = "mmap";
    return err;
  }
  if (int err = CollectLibraryRanges(session.libraries())) {
    *failed_call = "dl_iterate_phdr";
    return err;
  }
  session.storage.Reset(fcntl(common.storage_fd, F_DUPFD_CLOEXEC, 0));
  if (session.storage.get() < 0) {
    *failed_call = "fcntl";
    return errno;
  }
  return 0;
}

// Forks; the child never returns from here. In the parent: hands the device over and starts the
// waiter. `run_child` receives the read end of the go pipe.
template <typename RunChild>
Napi::Value ForkAndWait(Napi::Env env, std::unique_ptr<Session> session, OwnedFd& snapshot, RunChild run_child) {
  int go[2];
  if (pipe2(go, O_CLOEXEC) != 0) return PrepareFailure(env, "pipe2", errno);
  OwnedFd go_read(go[0]);
  OwnedFd go_write(go[1]);
  pid_t pid = fork();
  if (pid < 0) return PrepareFailure(env, "fork", errno);
  if (pid == 0) {
    go_write.Close();  // or the child would never see EOF if the parent gave up
    run_child(go_read.get());
  }
  session->pid = pid;
  go_read.Close();
  // The child's copy must be the last one before it freezes (see the file comment).
  snapshot.Close();
  char byte = 'g';
  (void)!write(go_write.get(), &byte, 1);  // if the child is already gone, the waiter says so
  go_write.Close();
  ChildWaiter* waiter = new ChildWaiter(env, std::move(session));  // deletes itself when done
  Napi::Promise promise = waiter->Promise();
  waiter->Queue();
  return promise;
}

Napi::Value CriticalHibernate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Params params(info, "criticalHibernate");
  int snapshot_fd = static_cast<int>(params.Integer("snapshotFd", 0, INT_MAX));
  if (!params.ok()) return params.Throw();
  // From here the call owns the device: every way out closes it (or hands it to the child).
  OwnedFd snapshot(snapshot_fd);
  CommonParams common = ReadCommon(params);
  auto session = std::make_unique<Session>();
  session->hibernate = true;
  // The original page is read into the session once it is mapped; it is checked here first.
  uint8_t original[kPageSize];
  params.Bytes("originalResumePage", original, kPageSize);
  ImageWriterConfig config = {};
  std::string kernel_release = params.Text("kernelRelease", kMaxIdentityLength);
  std::string machine_id = params.Text("machineId", kMaxIdentityLength);
  config.identity.created_at_ms = static_cast<uint64_t>(params.Integer("createdAtMs", 0, kMaxSafeInteger));
  config.identity.platform_mode = params.Boolean("platformMode");
  config.compress = params.Boolean("compress");
  config.chunk_pages = static_cast<uint32_t>(params.Integer("chunkPages", 1, kMaxChunkPages));
  config.max_stored_pages = static_cast<uint64_t>(params.Integer("maxStoredPages", 1, kMaxSafeInteger));
  config.io_bytes = static_cast<size_t>(params.Integer("ioBytes", kPageSize, 64 << 20));
  // The names of each choice are listed in the order of the enum they select.
  int power_off = params.Choice("powerOff", {"platform", "shutdown", "reboot"});
  int kill_at = params.Choice(
      "testKillAt", {"none", "after-freeze", "after-create-image", "mid-write", "after-marker", "before-power-off"}, 0);
  int kill_method = params.Choice("testKillMethod", {"sigkill", "sigsegv", "abort"}, 0);
  params.Check(config.io_bytes % kPageSize == 0, "ioBytes must be a multiple of 4096");
  if (params.EnterOptional("encryption")) {
    config.encryption.enabled = true;
    params.Bytes("chunkKey", config.encryption.chunk_key, sizeof(config.encryption.chunk_key));
    params.Bytes("headerKey", config.encryption.header_key, sizeof(config.encryption.header_key));
    params.Bytes("keyBlock", config.encryption.key_block, sizeof(config.encryption.key_block));
    params.Bytes("imageId", config.encryption.image_id, sizeof(config.encryption.image_id));
    config.encryption.signed_origin =
        params.OptionalBytes("originSignature", config.encryption.origin_signature, sizeof(config.encryption.origin_signature));
  }
  if (!params.ok()) {
    WipeSecret(&config.encryption, sizeof(config.encryption));
    return params.Throw();
  }
  // First, so that from here on only the cipher's contexts hold the keys.
  ImageWriterWorkspace workspace{nullptr, 0, nullptr};
  if (int err = InitImageWriterWorkspace(&config, &workspace, &session->cipher)) return PrepareFailure(env, "image-cipher", err);

  std::memcpy(config.identity.kernel_release, kernel_release.c_str(), kernel_release.size() + 1);
  std::memcpy(config.identity.machine_id, machine_id.c_str(), machine_id.size() + 1);
  config.resume_page = common.resume_page;

  const char* failed_call = nullptr;
  if (int err = PrepareSession(*session, common, ImageWriterWorkspaceBytes(config), &failed_call)) {
    return PrepareFailure(env, failed_call, err);
  }
  std::memcpy(session->original_page(), original, kPageSize);
  config.storage_fd = session->storage.get();
  config.original_resume_page = session->original_page();

  HibernateChildPlan plan = {};
  plan.snapshot_fd = snapshot.get();
  plan.progress_fd = common.progress_fd;
  plan.writer = config;
  workspace.base = session->workspace();
  workspace.bytes = session->workspace_bytes;
  plan.workspace = workspace;
  plan.scratch_page = session->scratch_page();
  plan.restore_image_size = CurrentImageSizeSetting();
  plan.power_off = static_cast<PowerOff>(power_off);
  plan.kill_at = static_cast<KillPoint>(kill_at);
  plan.kill_method = static_cast<KillMethod>(kill_method);
  plan.memory = session->Memory(common.lock_mode);
  plan.report = session->report;
  return ForkAndWait(env, std::move(session), snapshot, [&plan](int go_fd) {
    plan.go_fd = go_fd;
    RunHibernateChild(plan);
  });
}

Napi::Value CriticalRestore(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Params params(info, "criticalRestore");
  int snapshot_fd = static_cast<int>(params.Integer("snapshotFd", 0, INT_MAX));
  if (!params.ok()) return params.Throw();
  // From here the call owns the device: every way out closes it (or hands it to the child).
  OwnedFd snapshot(snapshot_fd);
  CommonParams common = ReadCommon(params);
  auto session = std::make_unique<Session>();
  session->hibernate = false;
  uint8_t original[kPageSize];
  params.Bytes("originalResumePage", original, kPageSize);
  bool platform_mode = params.Boolean("platformMode");
  if (!params.ok()) return params.Throw();

  const char* failed_call = nullptr;
  if (int err = PrepareSession(*session, common, 0, &failed_call)) return PrepareFailure(env, failed_call, err);
  std::memcpy(session->original_page(), original, kPageSize);

  RestoreChildPlan plan = {};
  plan.restore.snapshot_fd = snapshot.get();
  plan.restore.progress_fd = common.progress_fd;
  plan.restore.storage_fd = session->storage.get();
  plan.restore.resume_page = common.resume_page;
  plan.restore.original_resume_page = session->original_page();
  plan.restore.scratch_page = session->scratch_page();
  plan.restore.platform_mode = platform_mode;
  plan.restore.memory = session->Memory(common.lock_mode);
  plan.restore.report = session->report;
  return ForkAndWait(env, std::move(session), snapshot, [&plan](int go_fd) {
    plan.go_fd = go_fd;
    RunRestoreChild(plan);
  });
}

}  // namespace

void RegisterCriticalSection(Napi::Env env, Napi::Object exports) {
  exports.Set("criticalHibernate", Napi::Function::New(env, CriticalHibernate, "criticalHibernate"));
  exports.Set("criticalRestore", Napi::Function::New(env, CriticalRestore, "criticalRestore"));
}

}  // namespace hiberkit
