// Machine calls around hibernation: sync, device numbers of files and device nodes, the effective
// user, the page size, and the file lock that allows one hibernation at a time. (Memory locking
// and power-off happen in the critical section's child, in C++ only.)
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "addon.h"
#include "fd_util.h"

namespace hiberkit {

namespace {

Napi::Value Sync(const Napi::CallbackInfo& info) {
  sync();
  return info.Env().Undefined();
}

// The kernel's 32-bit "new" device encoding (new_encode_dev), the one SNAPSHOT_SET_SWAP_AREA and
// /sys/power/resume use; glibc's 64-bit dev_t differs from it for majors above 4095.
uint32_t KernelDevNumber(unsigned int major_number, unsigned int minor_number) {
  return (minor_number & 0xffu) | (major_number << 8) | ((minor_number & ~0xffu) << 12);
}

Napi::Object DeviceNumber(Napi::Env env, dev_t dev, const char* key) {
  Napi::Object result = Napi::Object::New(env);
  unsigned int maj = major(dev);
  unsigned int min = minor(dev);
  result.Set("major", maj);
  result.Set("minor", min);
  result.Set(key, KernelDevNumber(maj, min));
  return result;
}

bool StatPath(const Napi::CallbackInfo& info, const char* fn, struct stat* st) {
  std::string path;
  if (!GetString(info, 0, fn, &path)) return false;
  if (stat(path.c_str(), st) != 0) {
    ThrowSnapshotError(info.Env(), errno, "stat", nullptr, path.c_str());
    return false;
  }
  return true;
}

// statRdev(path) -> {major, minor, rdev, isBlockDevice}: the device a node stands for.
Napi::Value StatRdev(const Napi::CallbackInfo& info) {
  struct stat st;
  if (!StatPath(info, "statRdev", &st)) return info.Env().Undefined();
  Napi::Object result = DeviceNumber(info.Env(), st.st_rdev, "rdev");
  result.Set("isBlockDevice", S_ISBLK(st.st_mode));
  return result;
}

// statDev(path) -> {major, minor, dev}: the device of the filesystem holding the file.
Napi::Value StatDev(const Napi::CallbackInfo& info) {
  struct stat st;
  if (!StatPath(info, "statDev", &st)) return info.Env().Undefined();
  return DeviceNumber(info.Env(), st.st_dev, "dev");
}

Napi::Value GetEuid(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(geteuid()));
}

// pageSize() -> sysconf(_SC_PAGESIZE): the image format and /dev/snapshot's stream both assume
// 4096-byte pages; the caller refuses any other.
Napi::Value PageSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(sysconf(_SC_PAGESIZE)));
}

// flockExclusive(fd) -> true when this open file now holds an exclusive flock(2), false when
// another open file of the same file holds it (never waits). The kernel drops the lock when the
// last descriptor of that open file closes, the death of its process included.
Napi::Value FlockExclusive(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!GetFd(info, 0, "flockExclusive", &fd)) return env.Undefined();
  if (RetryOnEintr([&] { return flock(fd, LOCK_EX | LOCK_NB); }) == 0) return Napi::Boolean::New(env, true);
  if (errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
  ThrowFdError(env, errno, "flock", nullptr, fd);
  return env.Undefined();
}

}  // namespace

void RegisterSystem(Napi::Env env, Napi::Object exports) {
  struct Export {
    const char* name;
    Napi::Function::Callback fn;
  };
  const Export functions[] = {
      {"sync", Sync},         {"statRdev", StatRdev}, {"statDev", StatDev},
      {"geteuid", GetEuid},   {"pageSize", PageSize}, {"flockExclusive", FlockExclusive},
  };
  for (const Export& f : functions) exports.Set(f.name, Napi::Function::New(env, f.fn, f.name));
}

}  // namespace hiberkit
