// Helpers shared by the families that work on raw file descriptors (snapshot_device.cc,
// block_device.cc, system.cc): EINTR handling (retry_eintr.h), naming the file behind an fd in errors, and
// reading the JavaScript arguments those functions take.
#pragma once
#include <napi.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <string>

#include "errors.h"
#include "retry_eintr.h"

namespace hiberkit {

// The path of the file behind `fd`, for error reports. Functions on fds take no path argument,
// so the path is looked up only when something failed; null when /proc is not mounted.
class FdPath {
 public:
  explicit FdPath(int fd) {
    char link[32];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path_, sizeof(path_) - 1);
    ok_ = n > 0;
    path_[ok_ ? n : 0] = '\0';
  }
  const char* get() const { return ok_ ? path_ : nullptr; }

 private:
  char path_[PATH_MAX];
  bool ok_;
};

// Throws a SnapshotError for a call on `fd` that failed with `errnum` (captured by the caller
// before anything else could change errno).
inline void ThrowFdError(Napi::Env env, int errnum, const char* syscall, const char* ioctl, int fd,
                         const char* detail = nullptr) {
  FdPath path(fd);
  ThrowSnapshotError(env, errnum, syscall, ioctl, path.get(), detail);
}

// Argument readers: each throws a TypeError/RangeError naming the function and returns false on
// a wrong argument; the caller then returns to JavaScript at once.

inline bool ArgError(Napi::Env env, const char* fn, const char* what, bool range = false) {
  char message[160];
  snprintf(message, sizeof(message), "%s: %s", fn, what);
  if (range) {
    Napi::RangeError::New(env, message).ThrowAsJavaScriptException();
  } else {
    Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  }
  return false;
}

// A Number that is an integer JavaScript represents exactly (|n| <= 2^53 - 1).
inline bool GetSafeInteger(const Napi::CallbackInfo& info, size_t index, const char* fn,
                           int64_t* out) {
  constexpr double kMaxSafe = 9007199254740991.0;
  if (index >= info.Length() || !info[index].IsNumber()) {
    return ArgError(info.Env(), fn, "expected an integer argument");
  }
  double value = info[index].As<Napi::Number>().DoubleValue();
  if (!(value >= -kMaxSafe && value <= kMaxSafe) || value != static_cast<double>(static_cast<int64_t>(value))) {
    return ArgError(info.Env(), fn, "expected a safe integer", true);
  }
  *out = static_cast<int64_t>(value);
  return true;
}

inline bool GetNonNegative(const Napi::CallbackInfo& info, size_t index, const char* fn,
                           int64_t* out) {
  if (!GetSafeInteger(info, index, fn, out)) return false;
  if (*out < 0) return ArgError(info.Env(), fn, "expected a non-negative integer", true);
  return true;
}

inline bool GetFd(const Napi::CallbackInfo& info, size_t index, const char* fn, int* fd) {
  int64_t value = 0;
  if (!GetNonNegative(info, index, fn, &value)) return false;
  if (value > INT_MAX) return ArgError(info.Env(), fn, "not a file descriptor", true);
  *fd = static_cast<int>(value);
  return true;
}

// The memory of a Uint8Array (a Buffer is one), used in place: no copy on the I/O paths.
inline bool GetBytes(const Napi::CallbackInfo& info, size_t index, const char* fn, uint8_t** data,
                     size_t* length) {
  if (index >= info.Length() || !info[index].IsTypedArray() ||
      info[index].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    return ArgError(info.Env(), fn, "expected a Uint8Array");
  }
  Napi::Uint8Array bytes = info[index].As<Napi::Uint8Array>();
  *data = bytes.Data();
  *length = bytes.ElementLength();
  return true;
}

inline bool GetString(const Napi::CallbackInfo& info, size_t index, const char* fn,
                      std::string* out) {
  if (index >= info.Length() || !info[index].IsString()) {
    return ArgError(info.Env(), fn, "expected a string");
  }
  *out = info[index].As<Napi::String>().Utf8Value();
  return true;
}

// The arguments of a CRC call, (data: Uint8Array, seed = 0), the seed being a previous 32-bit CRC.
inline bool GetCrcArguments(const Napi::CallbackInfo& info, const char* fn, uint8_t** data, size_t* length,
                            uint32_t* seed) {
  if (!GetBytes(info, 0, fn, data, length)) return false;
  *seed = 0;
  if (info.Length() < 2 || info[1].IsUndefined()) return true;
  int64_t value = 0;
  if (!GetNonNegative(info, 1, fn, &value)) return false;
  if (value > UINT32_MAX) return ArgError(info.Env(), fn, "the seed is a 32-bit CRC", true);
  *seed = static_cast<uint32_t>(value);
  return true;
}

}  // namespace hiberkit
