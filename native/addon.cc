// Module entry point: every family of native calls registers itself here. Entries that only
// tests use live in the test addon (test/native/), not here.
#include "addon.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  hiberkit::RegisterErrors(env, exports);
  hiberkit::RegisterSnapshotDevice(env, exports);
  hiberkit::RegisterBlockDevice(env, exports);
  hiberkit::RegisterSystem(env, exports);
  hiberkit::RegisterCodec(env, exports);
  hiberkit::RegisterCriticalSection(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(hiberkit, Init)
