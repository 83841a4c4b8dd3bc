// SnapshotError construction from C++ (see errors.h) and the `setErrorClass` export.
#include "errors.h"

#include <cstring>

#include "addon.h"

namespace hiberkit {

std::string ErrnoName(int errnum) {
  // glibc's own table of symbolic names: no second copy of the errno list to keep in sync.
  // test/native-errors.test.ts checks it names every number lib/errors.ts lists the same way.
  const char* name = strerrorname_np(errnum);
  return name != nullptr ? std::string(name) : "E" + std::to_string(errnum);
}

namespace {

Napi::Object ErrorInfo(Napi::Env env, int errnum, const char* syscall, const char* ioctl,
                       const char* path) {
  Napi::Object info = Napi::Object::New(env);
  info.Set("code", ErrnoName(errnum));
  info.Set("errno", errnum);
  info.Set("syscall", syscall);
  if (ioctl != nullptr) info.Set("ioctl", ioctl);
  if (path != nullptr) info.Set("path", path);
  return info;
}

// Used only when the addon is loaded without lib/native/binding.ts (which always sets the
// class): a plain Error carrying the same fields, so nothing is lost.
Napi::Value PlainError(Napi::Env env, Napi::Object info, int errnum, const char* syscall,
                       const char* detail) {
  std::string message = std::string(syscall) + " failed: " + ErrnoName(errnum);
  if (detail != nullptr) message += std::string(" (") + detail + ")";
  Napi::Object error = Napi::Error::New(env, message).Value();
  for (const char* key : {"code", "errno", "syscall", "ioctl", "path"}) {
    if (info.Has(key)) error.Set(key, info.Get(key));
  }
  return error;
}

Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    Napi::TypeError::New(env, "setErrorClass(ctor): ctor must be the SnapshotError class")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  env.GetInstanceData<AddonState>()->snapshot_error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return env.Undefined();
}


}  // namespace

Napi::Value SnapshotErrorValue(Napi::Env env, int errnum, const char* syscall, const char* ioctl,
                               const char* path, const char* detail) {
  Napi::Object info = ErrorInfo(env, errnum, syscall, ioctl, path);
  AddonState* state = env.GetInstanceData<AddonState>();
  if (state == nullptr || state->snapshot_error_class.IsEmpty()) {
    return PlainError(env, info, errnum, syscall, detail);
  }
  Napi::Value detail_value = detail != nullptr ? Napi::String::New(env, detail) : env.Undefined();
  return state->snapshot_error_class.New({info, detail_value});
}

void ThrowSnapshotError(Napi::Env env, int errnum, const char* syscall, const char* ioctl,
                        const char* path, const char* detail) {
  Napi::Value error = SnapshotErrorValue(env, errnum, syscall, ioctl, path, detail);
  if (env.IsExceptionPending()) return;  // the constructor itself threw: report that instead
  napi_throw(env, error);
}

void RegisterErrors(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonState());
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass, "setErrorClass"));
}

}  // namespace hiberkit
