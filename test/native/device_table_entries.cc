// The test addon's tables, compiled from the system headers, that tests hold against lib/:
// the /dev/snapshot ioctl table (native/snapshot_ioctls.h, checked against lib/ioctls.ts) and
// libc's names of errno values (ErrnoName in native/errors.h, checked against lib/errors.ts).
#include "../../native/errors.h"
#include "../../native/snapshot_ioctls.h"
#include "test_entries.h"

namespace hiberkit {
namespace {

const char* ArgKindName(IoctlArg arg) {
  switch (arg) {
    case IoctlArg::kNone: return "none";
    case IoctlArg::kValue: return "value";
    case IoctlArg::kIntOut: return "int-out";
    case IoctlArg::kLoffOut: return "loff-out";
    case IoctlArg::kSwapAreaIn: return "swap-area-in";
  }
  return "none";
}

// {name: request value} when `numbers`, else {name: argument kind}, one key per ioctl.
Napi::Object IoctlTableObject(Napi::Env env, bool numbers) {
  Napi::Object table = Napi::Object::New(env);
  for (const SnapshotIoctl* entry : kSnapshotIoctls) {
    if (numbers) {
      table.Set(entry->name, Napi::Number::New(env, static_cast<double>(entry->request)));
    } else {
      table.Set(entry->name, ArgKindName(entry->arg));
    }
  }
  return table;
}

// errnoName(errno): 'ENOENT', or 'E<n>' for a number libc does not know.
Napi::Value ErrnoNameJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "errnoName(errno): errno must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::String::New(env, ErrnoName(info[0].As<Napi::Number>().Int32Value()));
}

}  // namespace

void RegisterDeviceTableEntries(Napi::Env env, Napi::Object exports) {
  exports.Set("ioctlNumbers", IoctlTableObject(env, true));
  exports.Set("ioctlArgs", IoctlTableObject(env, false));
  exports.Set("errnoName", Napi::Function::New(env, ErrnoNameJs, "errnoName"));
}

}  // namespace hiberkit
