// On systems other than Linux there is no /dev/snapshot: the addon loads with no functions and
// reports why, so the package still installs and the emulator works.
#include <napi.h>

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("unsupported", Napi::String::New(env, "hiberkit's native backend needs Linux"));
  return exports;
}

}  // namespace

NODE_API_MODULE(hiberkit, Init)
