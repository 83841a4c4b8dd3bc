// Raw storage I/O for the image: open a block device (or a regular file standing in for one),
// positional reads and writes (synchronous, or on the libuv pool), flush, page-aligned buffers
// for O_DIRECT, and a file's physical extents (FIEMAP, FIBMAP fallback) for swap files.
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "addon.h"
#include "fd_util.h"
#include "snapshot_ioctls.h"

namespace hiberkit {

namespace {

constexpr size_t kPageSize = 4096;

// Reads or writes all of `length` bytes at `position`, continuing after short transfers (a
// signal, a device splitting a large request). Stops early only at end of file on reads.
// Returns the bytes moved, or -1 with *err set.
ssize_t TransferAll(bool write_op, int fd, uint8_t* data, size_t length, off_t position, int* err) {
  size_t done = 0;
  while (done < length) {
    ssize_t n = RetryOnEintr([&] {
      return write_op ? pwrite(fd, data + done, length - done, position + static_cast<off_t>(done))
                      : pread(fd, data + done, length - done, position + static_cast<off_t>(done));
    });
    if (n < 0) {
      *err = errno;
      return -1;
    }
    if (n == 0) break;  // end of file (a write of 0 bytes would loop forever otherwise)
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

// Size and direct-I/O alignment of what `fd` is open on. Block devices report both through
// ioctls. For a regular file, the alignment O_DIRECT needs is what statx(STATX_DIOALIGN) says
// (Linux 6.1+); older kernels do not say, so 4096 is reported: every logical block size Linux
// supports on x86 divides the page size, and hiberkit moves whole pages anyway.
// On failure returns false with errno set and *failed naming the ioctl.
bool DescribeStorage(int fd, const struct stat& st, uint64_t* size, uint32_t* block_size,
                     const char** failed) {
  if (S_ISBLK(st.st_mode)) {
    int sector = 0;
    if (ioctl(fd, BLKGETSIZE64, size) != 0) {
      *failed = "BLKGETSIZE64";
      return false;
    }
    if (ioctl(fd, BLKSSZGET, &sector) != 0) {
      *failed = "BLKSSZGET";
      return false;
    }
    *block_size = static_cast<uint32_t>(sector);
    return true;
  }
  *size = static_cast<uint64_t>(st.st_size);
  *block_size = kPageSize;
#ifdef STATX_DIOALIGN
  struct statx stx;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 && (stx.stx_mask & STATX_DIOALIGN) &&
      stx.stx_dio_offset_align != 0) {
    *block_size = stx.stx_dio_offset_align;
  }
#endif
  return true;
}

// blockOpen(path, {write, direct}) -> {fd, size, logicalBlockSize, direct}
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!GetString(info, 0, "blockOpen", &path)) return env.Undefined();
  bool want_write = false;
  bool want_direct = false;
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Object options = info[1].As<Napi::Object>();
    want_write = options.Get("write").ToBoolean().Value();
    want_direct = options.Get("direct").ToBoolean().Value();
  }
  int flags = (want_write ? O_RDWR : O_RDONLY) | O_CLOEXEC;
  bool direct = want_direct;
  int fd = RetryOnEintr([&] { return open(path.c_str(), flags | (direct ? O_DIRECT : 0)); });
  if (fd < 0 && direct && errno == EINVAL) {
    // The filesystem or driver cannot do direct I/O: fall back to the page cache and say so.
    direct = false;
    fd = RetryOnEintr([&] { return open(path.c_str(), flags); });
  }
  if (fd < 0) {
    ThrowSnapshotError(env, errno, "open", nullptr, path.c_str());
    return env.Undefined();
  }
  // Failures after open() close the fd again before reporting.
  auto fail = [&](int err, const char* syscall, const char* ioctl_name, const char* detail) {
    close(fd);
    ThrowSnapshotError(env, err, syscall, ioctl_name, path.c_str(), detail);
    return env.Undefined();
  };
  struct stat st;
  if (fstat(fd, &st) != 0) return fail(errno, "fstat", nullptr, nullptr);
  if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode)) {
    return fail(EINVAL, "open", nullptr, "image storage must be a block device or a regular file");
  }
  uint64_t size = 0;
  uint32_t block_size = 0;
  const char* failed_ioctl = nullptr;
  if (!DescribeStorage(fd, st, &size, &block_size, &failed_ioctl)) return fail(errno, "ioctl", failed_ioctl, nullptr);
  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", fd);
  result.Set("size", static_cast<double>(size));
  result.Set("logicalBlockSize", block_size);
  result.Set("direct", direct);
  return result;
}

// blockPread / blockPwrite (fd, buffer, position) -> bytes, on the calling thread.
// The (fd, buffer, position) arguments both transfer flavours take; false with a JS exception pending.
struct TransferArgs {
  int fd = -1;
  uint8_t* data = nullptr;
  size_t length = 0;
  int64_t position = 0;
};

bool GetTransferArgs(const Napi::CallbackInfo& info, const char* fn, TransferArgs* args) {
  return GetFd(info, 0, fn, &args->fd) && GetBytes(info, 1, fn, &args->data, &args->length) &&
         GetNonNegative(info, 2, fn, &args->position);
}

template <bool kWrite>
Napi::Value SyncTransfer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TransferArgs args;
  if (!GetTransferArgs(info, kWrite ? "blockPwrite" : "blockPread", &args)) return env.Undefined();
  int err = 0;
  ssize_t n = TransferAll(kWrite, args.fd, args.data, args.length, static_cast<off_t>(args.position), &err);
  if (n < 0) {
    ThrowFdError(env, err, kWrite ? "pwrite" : "pread", nullptr, args.fd);
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(n));
}

// The same transfer on a libuv pool thread; the promise settles on the JavaScript thread.
class TransferWorker : public Napi::AsyncWorker {
 public:
  TransferWorker(Napi::Env env, bool write_op, int fd, Napi::Uint8Array buffer, off_t position)
      : Napi::AsyncWorker(env, write_op ? "hiberkit.blockPwrite" : "hiberkit.blockPread"),
        deferred_(Napi::Promise::Deferred::New(env)),
        buffer_(Napi::Persistent(buffer)),  // keeps the memory alive while the pool uses it
        write_op_(write_op),
        fd_(fd),
        data_(buffer.Data()),
        length_(buffer.ElementLength()),
        position_(position) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override { moved_ = TransferAll(write_op_, fd_, data_, length_, position_, &err_); }

  void OnOK() override {
    Napi::Env env = Env();
    if (moved_ >= 0) {
      deferred_.Resolve(Napi::Number::New(env, static_cast<double>(moved_)));
      return;
    }
    FdPath path(fd_);
    Napi::Value error = SnapshotErrorValue(env, err_, write_op_ ? "pwrite" : "pread", nullptr, path.get());
    if (env.IsExceptionPending()) {
      deferred_.Reject(env.GetAndClearPendingException().Value());
    } else {
      deferred_.Reject(error);
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::Reference<Napi::Uint8Array> buffer_;
  bool write_op_;
  int fd_;
  uint8_t* data_;
  size_t length_;
  off_t position_;
  ssize_t moved_ = 0;
  int err_ = 0;
};

template <bool kWrite>
Napi::Value AsyncTransfer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  TransferArgs args;
  if (!GetTransferArgs(info, kWrite ? "blockPwriteAsync" : "blockPreadAsync", &args)) return env.Undefined();
  if (UserSpaceFrozenByThisProcess()) {
    // The libuv pool is frozen with the rest of user space: queued work would never run.
    ThrowFdError(env, EBUSY, kWrite ? "pwrite" : "pread", nullptr, args.fd,
                 "user space is frozen by this process (SNAPSHOT_FREEZE): asynchronous I/O would wait "
                 "on a frozen thread forever; use the synchronous calls until the device is thawed");
    return env.Undefined();
  }
  auto* worker = new TransferWorker(env, kWrite, args.fd, info[1].As<Napi::Uint8Array>(), static_cast<off_t>(args.position));
  Napi::Promise promise = worker->Promise();
  worker->Queue();  // the worker deletes itself once settled
  return promise;
}

Napi::Value Flush(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!GetFd(info, 0, "blockFlush", &fd)) return env.Undefined();
  if (RetryOnEintr([&] { return fdatasync(fd); }) != 0) ThrowFdError(env, errno, "fdatasync", nullptr, fd);
  return env.Undefined();
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = -1;
  if (!GetFd(info, 0, "blockClose", &fd)) return env.Undefined();
  FdPath path(fd);
  if (close(fd) != 0) ThrowSnapshotError(env, errno, "close", nullptr, path.get());
  return env.Undefined();
}

// allocAligned(bytes) -> Buffer over zeroed, page-aligned memory (what O_DIRECT needs), freed
// when the Buffer is collected. The size is reported to V8 so the GC sees the memory.
Napi::Value AllocAligned(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t bytes;
  if (!GetNonNegative(info, 0, "allocAligned", &bytes)) return env.Undefined();
  if (bytes == 0) return Napi::Buffer<uint8_t>::New(env, 0);
  void* memory = nullptr;
  int rc = posix_memalign(&memory, kPageSize, static_cast<size_t>(bytes));
  if (rc != 0) {
    ThrowSnapshotError(env, rc, "posix_memalign", nullptr, nullptr);
    return env.Undefined();
  }
  std::memset(memory, 0, static_cast<size_t>(bytes));
  Napi::MemoryManagement::AdjustExternalMemory(env, bytes);
  return Napi::Buffer<uint8_t>::New(env, static_cast<uint8_t*>(memory), static_cast<size_t>(bytes),
                                    [](Napi::Env finalize_env, uint8_t* data, int64_t* size) {
                                      Napi::MemoryManagement::AdjustExternalMemory(finalize_env, -*size);
                                      free(data);
                                      delete size;
                                    },
                                    new int64_t(bytes));
}

struct Extent {
  uint64_t logical;
  uint64_t physical;
  uint64_t length;
  uint32_t flags;
};

// FIEMAP, in batches, syncing first so that freshly written data has its final location.
// Returns 0 or an errno value.
int MapWithFiemap(int fd, std::vector<Extent>* extents) {
  constexpr uint32_t kBatch = 64;
  alignas(struct fiemap) unsigned char storage[sizeof(struct fiemap) + kBatch * sizeof(struct fiemap_extent)];
  auto* request = reinterpret_cast<struct fiemap*>(storage);
  uint64_t start = 0;
  for (;;) {
    std::memset(storage, 0, sizeof(storage));
    request->fm_start = start;
    request->fm_length = FIEMAP_MAX_OFFSET - start;
    request->fm_flags = FIEMAP_FLAG_SYNC;
    request->fm_extent_count = kBatch;
    if (ioctl(fd, FS_IOC_FIEMAP, request) != 0) return errno;
    if (request->fm_mapped_extents == 0) return 0;
    for (uint32_t i = 0; i < request->fm_mapped_extents; i++) {
      const struct fiemap_extent& e = request->fm_extents[i];
      extents->push_back({e.fe_logical, e.fe_physical, e.fe_length, e.fe_flags});
      if (e.fe_flags & FIEMAP_EXTENT_LAST) return 0;
    }
    const struct fiemap_extent& last = request->fm_extents[request->fm_mapped_extents - 1];
    start = last.fe_logical + last.fe_length;
  }
}

// FIBMAP one block at a time (filesystems without FIEMAP; needs CAP_SYS_RAWIO), merging
// physically contiguous blocks. Holes (block 0) are left out. Flags say what FIEMAP would:
// MERGED (no native extents), LAST on the final one. Returns 0 or an errno value.
int MapWithFibmap(int fd, uint64_t file_size, std::vector<Extent>* extents) {
  int block_size = 0;
  if (ioctl(fd, FIGETBSZ, &block_size) != 0) return errno;
  if (block_size <= 0) return EINVAL;
  uint64_t bsize = static_cast<uint64_t>(block_size);
  uint64_t blocks = (file_size + bsize - 1) / bsize;
  for (uint64_t index = 0; index < blocks; index++) {
    if (index > INT_MAX) return EFBIG;  // FIBMAP takes an int block number
    int block = static_cast<int>(index);
    if (ioctl(fd, FIBMAP, &block) != 0) return errno;
    if (block == 0) continue;
    uint64_t physical = static_cast<uint64_t>(static_cast<unsigned int>(block)) * bsize;
    uint64_t logical = index * bsize;
    if (!extents->empty()) {
      Extent& previous = extents->back();
      if (previous.logical + previous.length == logical && previous.physical + previous.length == physical) {
        previous.length += bsize;
        continue;
      }
    }
    extents->push_back({logical, physical, bsize, FIEMAP_EXTENT_MERGED});
  }
  if (!extents->empty()) extents->back().flags |= FIEMAP_EXTENT_LAST;
  return 0;
}

// fiemap(path) -> [{logical, physical, length, flags}], byte units, physical offsets on the
// block device that holds the file's filesystem.
Napi::Value Fiemap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!GetString(info, 0, "fiemap", &path)) return env.Undefined();
  int fd = RetryOnEintr([&] { return open(path.c_str(), O_RDONLY | O_CLOEXEC); });
  if (fd < 0) {
    ThrowSnapshotError(env, errno, "open", nullptr, path.c_str());
    return env.Undefined();
  }
  std::vector<Extent> extents;
  const char* ioctl_name = "FS_IOC_FIEMAP";
  int err = MapWithFiemap(fd, &extents);
  if (err == EOPNOTSUPP || err == ENOTTY) {
    extents.clear();
    struct stat st;
    int fibmap_err = fstat(fd, &st) != 0 ? errno : MapWithFibmap(fd, static_cast<uint64_t>(st.st_size), &extents);
    // EINVAL from FIBMAP means "not supported either": FIEMAP's error says that more plainly.
    if (fibmap_err != EINVAL) {
      err = fibmap_err;
      ioctl_name = "FIBMAP";
    }
  }
  close(fd);
  if (err != 0) {
    ThrowSnapshotError(env, err, "ioctl", ioctl_name, path.c_str());
    return env.Undefined();
  }
  Napi::Array result = Napi::Array::New(env, extents.size());
  for (size_t i = 0; i < extents.size(); i++) {
    Napi::Object e = Napi::Object::New(env);
    e.Set("logical", static_cast<double>(extents[i].logical));
    e.Set("physical", static_cast<double>(extents[i].physical));
    e.Set("length", static_cast<double>(extents[i].length));
    e.Set("flags", extents[i].flags);
    result.Set(static_cast<uint32_t>(i), e);
  }
  return result;
}

}  // namespace

void RegisterBlockDevice(Napi::Env env, Napi::Object exports) {
  struct Export {
    const char* name;
    Napi::Function::Callback fn;
  };
  const Export functions[] = {
      {"blockOpen", Open},
      {"blockPread", SyncTransfer<false>},
      {"blockPwrite", SyncTransfer<true>},
      {"blockPreadAsync", AsyncTransfer<false>},
      {"blockPwriteAsync", AsyncTransfer<true>},
      {"blockFlush", Flush},
      {"blockClose", Close},
      {"allocAligned", AllocAligned},
      {"fiemap", Fiemap},
  };
  for (const Export& f : functions) exports.Set(f.name, Napi::Function::New(env, f.fn, f.name));
}

}  // namespace hiberkit
