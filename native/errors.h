// How native code reports a failed system call: as the JavaScript class SnapshotError
// (lib/errors.ts), the same class the emulator throws, so callers see one error shape.
//
// lib/native/binding.ts hands the constructor over once at load (`setErrorClass`). It is kept in
// the addon's per-environment instance data rather than in a global, because every Node
// environment (main thread, each worker) loads the addon separately and has its own class.
#pragma once
#include <napi.h>

#include <string>

namespace hiberkit {

// The addon's per-environment state, stored with Napi::Env::SetInstanceData by RegisterErrors.
// An environment has a single instance-data slot: a family that needs per-environment state adds
// a field here instead of calling SetInstanceData itself (which would replace this object).
struct AddonState {
  Napi::FunctionReference snapshot_error_class;
};

// The symbolic name of an errno value ("ENOENT"), or "E<n>" for a number libc does not know,
// exactly as errnoCode() in lib/errors.ts names the numbers it lists.
std::string ErrnoName(int errnum);

// Builds `new SnapshotError({code, errno, syscall, ioctl, path}, detail)`. `ioctl`, `path` and
// `detail` may be null (the class then picks its own advice for the message). Returns an empty
// value if JavaScript threw while constructing it (the exception is then pending).
Napi::Value SnapshotErrorValue(Napi::Env env, int errnum, const char* syscall, const char* ioctl,
                               const char* path, const char* detail = nullptr);

// Throws SnapshotErrorValue(...) as a JavaScript exception. The caller returns to JavaScript
// right after (exceptions are disabled in C++: nothing unwinds by itself).
void ThrowSnapshotError(Napi::Env env, int errnum, const char* syscall, const char* ioctl,
                        const char* path, const char* detail = nullptr);

}  // namespace hiberkit
