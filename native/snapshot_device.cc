// /dev/snapshot on raw file descriptors: open/close, one function per ioctl, a raw ioctl for
// conformance tests, read/write with the device's raw semantics, and page-batched readv/writev.
// lib/native/snapshot-device.ts wraps these in a class.
//
// Everything runs synchronously on the calling thread (docs/snapshot-device.md §7): FREEZE, UNFREEZE and the last
// close must come from the thread that froze user space, and while it is frozen no other thread
// of this process runs.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdio>

#include "addon.h"
#include "fd_util.h"
#include "snapshot_ioctls.h"

namespace hiberkit {

namespace {

constexpr size_t kPageSize = 4096;
constexpr size_t kMaxIovecs = IOV_MAX;  // UIO_MAXIOV: the most segments one readv/writev takes

// The fd of this process that froze user space (-1: none), and whether the kernel holds an
// image for it. While it does, UNFREEZE is a silent no-op (docs/snapshot-device.md §2.3), so user space stays
// frozen. When in doubt the state errs towards "still frozen": refusing asynchronous I/O for
// too long is harmless, queueing it to a frozen thread pool hangs it.
std::atomic<int> g_freezing_fd{-1};
std::atomic<bool> g_image_ready{false};

void ForgetFreezer(int fd) {
  int expected = fd;
  if (g_freezing_fd.compare_exchange_strong(expected, -1)) g_image_ready = false;
}

// Mirrors the kernel's `frozen`/`ready` transitions for the requests that change them.
void TrackFreezerState(int fd, const SnapshotIoctl& which, bool succeeded) {
  if (!succeeded) return;  // a failed request changed neither, or the change is uncertain
  if (&which == &kFreeze) {
    g_freezing_fd = fd;
    return;
  }
  if (g_freezing_fd.load() != fd) return;
  if (&which == &kCreateImage) {
    g_image_ready = true;  // also true after a restore, when the call returns 0 (docs/snapshot-device.md §2.3)
  } else if (&which == &kFree || &which == &kS2ram) {
    g_image_ready = false;
  } else if (&which == &kUnfreeze && !g_image_ready) {
    g_freezing_fd = -1;
  }
}

struct IoctlInput {
  int64_t value = 0;         // kValue
  uint32_t dev = 0;          // kSwapAreaIn
  int64_t offset_pages = 0;  // kSwapAreaIn
};

// Issues one table request. On success *out is what the request yields: the value the kernel
// stored through the pointer for out-requests, else the ioctl's return value. On failure a
// SnapshotError is thrown and false returned.
bool RunIoctl(Napi::Env env, int fd, const SnapshotIoctl& which, const IoctlInput& in, int64_t* out) {
  int int_out = 0;
  loff_t loff_out = 0;
  resume_swap_area area{};
  int rc = -1;
  // No EINTR retry: the driver never returns EINTR, and repeating a request with side effects
  // (ALLOC_SWAP_PAGE, CREATE_IMAGE) on a guess would be wrong.
  switch (which.arg) {
    case IoctlArg::kNone: rc = ioctl(fd, which.request, 0UL); break;
    case IoctlArg::kValue: rc = ioctl(fd, which.request, static_cast<unsigned long>(in.value)); break;
    case IoctlArg::kIntOut: rc = ioctl(fd, which.request, &int_out); break;
    case IoctlArg::kLoffOut: rc = ioctl(fd, which.request, &loff_out); break;
    case IoctlArg::kSwapAreaIn:
      area.offset = in.offset_pages;
      area.dev = in.dev;
      rc = ioctl(fd, which.request, &area);
      break;
  }
  int err = errno;
  TrackFreezerState(fd, which, rc != -1);
  if (rc == -1) {
    ThrowFdError(env, err, "ioctl", which.name, fd);
    return false;
  }
  switch (which.arg) {
    case IoctlArg::kIntOut: *out = int_out; break;
    case IoctlArg::kLoffOut: *out = loff_out; break;
    default: *out = rc; break;
  }
  return true;
}

// The requests whose only argument is the fd: returns the stored value for out-requests.
Napi::Value FdOnlyIoctl(const Napi::CallbackInfo& info, const SnapshotIoctl& which) {
  Napi::Env env = info.Env();
  int fd = -1;
  int64_t result;
  if (!GetFd(info, 0, which.name, &fd) || !RunIoctl(env, fd, which, {}, &result)) return env.Undefined();
  if (which.arg == IoctlArg::kNone) return env.Undefined();
  return Napi::Number::New(env, static_cast<double>(result));
}

template <const SnapshotIoctl& Which>
Napi::Value FdOnly(const Napi::CallbackInfo& info) {
  return FdOnlyIoctl(info, Which);
}

Napi::Value PrefImageSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  IoctlInput in;
  int64_t result;
  if (GetFd(info, 0, kPrefImageSize.name, &fd) && GetNonNegative(info, 1, kPrefImageSize.name, &in.value)) {
    RunIoctl(env, fd, kPrefImageSize, in, &result);
  }
  return env.Undefined();
}

Napi::Value PlatformSupport(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  int64_t result;
  if (GetFd(info, 0, kPlatformSupport.name, &fd)) {
    IoctlInput in;
    in.value = info.Length() > 1 && info[1].ToBoolean().Value() ? 1 : 0;
    RunIoctl(env, fd, kPlatformSupport, in, &result);
  }
  return env.Undefined();
}

Napi::Value SetSwapArea(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = kSetSwapArea.name;
  int fd = -1;
  int64_t dev;
  IoctlInput in;
  int64_t result;
  if (!GetFd(info, 0, fn, &fd) || !GetNonNegative(info, 1, fn, &dev) ||
      !GetNonNegative(info, 2, fn, &in.offset_pages)) {
    return env.Undefined();
  }
  if (dev > UINT32_MAX) {
    ArgError(env, fn, "dev must fit the kernel's 32-bit device number", true);
    return env.Undefined();
  }
  in.dev = static_cast<uint32_t>(dev);
  RunIoctl(env, fd, kSetSwapArea, in, &result);
  return env.Undefined();
}

// snapshotIoctl(fd, request, arg = 0): any request value, for conformance tests. Known requests
// get their real argument (a valid out-pointer, the value, or a swap area {offset 0, dev arg});
// unknown ones pass `arg` as the integer argument so the kernel's own rejection is observed.
Napi::Value RawIoctl(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "snapshotIoctl";
  int fd = -1;
  int64_t request;
  int64_t arg = 0;
  if (!GetFd(info, 0, fn, &fd) || !GetNonNegative(info, 1, fn, &request)) return env.Undefined();
  if (request > UINT32_MAX) {
    ArgError(env, fn, "request must be a 32-bit value", true);
    return env.Undefined();
  }
  if (info.Length() > 2 && !info[2].IsUndefined() && !GetSafeInteger(info, 2, fn, &arg)) {
    return env.Undefined();
  }
  int64_t result;
  if (const SnapshotIoctl* which = FindSnapshotIoctl(static_cast<unsigned long>(request))) {
    IoctlInput in;
    in.value = arg;
    in.dev = static_cast<uint32_t>(arg);
    if (!RunIoctl(env, fd, *which, in, &result)) return env.Undefined();
    return Napi::Number::New(env, static_cast<double>(result));
  }
  int rc = ioctl(fd, static_cast<unsigned long>(request), static_cast<unsigned long>(arg));
  if (rc == -1) {
    int err = errno;
    char name[16];
    snprintf(name, sizeof(name), "0x%08lx", static_cast<unsigned long>(request));
    ThrowFdError(env, err, "ioctl", name, fd);
    return env.Undefined();
  }
  return Napi::Number::New(env, rc);
}

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  std::string mode;
  if (!GetString(info, 0, "snapshotOpen", &path) || !GetString(info, 1, "snapshotOpen", &mode)) {
    return env.Undefined();
  }
  int access;
  if (mode == "hibernate") {
    access = O_RDONLY;
  } else if (mode == "restore") {
    access = O_WRONLY;
  } else {
    ArgError(env, "snapshotOpen", "mode must be 'hibernate' or 'restore'");
    return env.Undefined();
  }
  // O_CLOEXEC: a child spawned later must not keep the device open (and thereby keep user
  // space frozen after this process closed it, docs/snapshot-device.md §3.2).
  int fd = RetryOnEintr([&] { return open(path.c_str(), access | O_CLOEXEC); });
  if (fd < 0) {
    ThrowSnapshotError(env, errno, "open", nullptr, path.c_str());
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!GetFd(info, 0, "snapshotClose", &fd)) return env.Undefined();
  FdPath path(fd);  // looked up first: after close() the fd no longer names the file
  int rc = close(fd);
  int err = errno;
  // Linux releases the fd even when close() reports an error, so the freezer state goes too.
  ForgetFreezer(fd);
  if (rc != 0) ThrowSnapshotError(env, err, "close", nullptr, path.get());
  return env.Undefined();
}

// One read(2) or write(2) of `length` bytes (default: the whole buffer), passed to the device
// unchanged: a zero or partial length is the caller's deliberate choice (conformance tests).
template <bool kWrite>
Napi::Value RawTransfer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = kWrite ? "snapshotWrite" : "snapshotRead";
  int fd = -1;
  uint8_t* data;
  size_t size;
  int64_t length;
  if (!GetFd(info, 0, fn, &fd) || !GetBytes(info, 1, fn, &data, &size)) return env.Undefined();
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    if (!GetNonNegative(info, 2, fn, &length)) return env.Undefined();
    if (static_cast<uint64_t>(length) > size) {
      ArgError(env, fn, "length exceeds the buffer", true);
      return env.Undefined();
    }
  } else {
    length = static_cast<int64_t>(size);
  }
  ssize_t n = RetryOnEintr([&] {
    return kWrite ? write(fd, data, static_cast<size_t>(length)) : read(fd, data, static_cast<size_t>(length));
  });
  if (n < 0) {
    ThrowFdError(env, errno, kWrite ? "write" : "read", nullptr, fd);
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

// readv/writev over the caller's buffer in 4096-byte segments, IOV_MAX per call. The driver
// moves one page per segment (docs/snapshot-device.md §3.3); the loop stops at the first short call (end of the
// image, or a complete image when writing). A failure after some pages already moved returns
// the count so far, as readv does; the next call reports the error.
template <bool kWrite>
Napi::Value TransferPages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* syscall = kWrite ? "writev" : "readv";
  int fd = -1;
  uint8_t* data;
  size_t size;
  if (!GetFd(info, 0, syscall, &fd) || !GetBytes(info, 1, syscall, &data, &size)) return env.Undefined();
  if (size == 0 || size % kPageSize != 0) {
    // Refused before any system call: a zero-length segment consumes a page of the stream and a
    // partial page wedges it (docs/snapshot-device.md §3.3, §3.4).
    ThrowFdError(env, EINVAL, syscall, nullptr, fd,
                 "the buffer length must be a non-zero multiple of 4096: the device moves whole pages only");
    return env.Undefined();
  }
  struct iovec iov[kMaxIovecs];
  size_t done = 0;
  while (done < size) {
    size_t pages = std::min((size - done) / kPageSize, kMaxIovecs);
    for (size_t i = 0; i < pages; i++) {
      iov[i].iov_base = data + done + i * kPageSize;
      iov[i].iov_len = kPageSize;
    }
    int count = static_cast<int>(pages);
    ssize_t n = RetryOnEintr([&] { return kWrite ? writev(fd, iov, count) : readv(fd, iov, count); });
    if (n < 0) {
      if (done > 0) break;
      ThrowFdError(env, errno, syscall, nullptr, fd);
      return env.Undefined();
    }
    done += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < pages * kPageSize) break;
  }
  return Napi::Number::New(env, static_cast<double>(done));
}

Napi::Value Seek(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  int64_t offset;
  if (!GetFd(info, 0, "snapshotSeek", &fd) || !GetSafeInteger(info, 1, "snapshotSeek", &offset)) {
    return env.Undefined();
  }
  off_t position = lseek(fd, offset, SEEK_SET);
  if (position < 0) {
    ThrowFdError(env, errno, "lseek", nullptr, fd);
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(position));
}

Napi::Value FrozenFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), g_freezing_fd.load());
}

}  // namespace

bool UserSpaceFrozenByThisProcess() { return g_freezing_fd.load() >= 0; }

void RegisterSnapshotDevice(Napi::Env env, Napi::Object exports) {
  struct Export {
    const char* name;
    Napi::Function::Callback fn;
  };
  const Export functions[] = {
      {"snapshotOpen", Open},
      {"snapshotClose", Close},
      {"snapshotFreeze", FdOnly<kFreeze>},
      {"snapshotUnfreeze", FdOnly<kUnfreeze>},
      {"snapshotCreateImage", FdOnly<kCreateImage>},
      {"snapshotAtomicRestore", FdOnly<kAtomicRestore>},
      {"snapshotFree", FdOnly<kFree>},
      {"snapshotPrefImageSize", PrefImageSize},
      {"snapshotGetImageSize", FdOnly<kGetImageSize>},
      {"snapshotAvailSwapSize", FdOnly<kAvailSwapSize>},
      {"snapshotAllocSwapPage", FdOnly<kAllocSwapPage>},
      {"snapshotFreeSwapPages", FdOnly<kFreeSwapPages>},
      {"snapshotSetSwapArea", SetSwapArea},
      {"snapshotPlatformSupport", PlatformSupport},
      {"snapshotPowerOff", FdOnly<kPowerOff>},
      {"snapshotS2ram", FdOnly<kS2ram>},
      {"snapshotIoctl", RawIoctl},
      {"snapshotRead", RawTransfer<false>},
      {"snapshotWrite", RawTransfer<true>},
      {"snapshotReadPages", TransferPages<false>},
      {"snapshotWritePages", TransferPages<true>},
      {"snapshotSeek", Seek},
      {"snapshotFrozenFd", FrozenFd},
  };
  for (const Export& f : functions) exports.Set(f.name, Napi::Function::New(env, f.fn, f.name));
}

}  // namespace hiberkit
