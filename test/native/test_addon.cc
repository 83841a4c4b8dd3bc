// Module entry point of the test addon. RegisterErrors (native/errors.cc) comes first: it sets up
// the per-environment state that SnapshotError construction needs, and exports setErrorClass,
// which test/native-test-binding.ts calls at load exactly as lib/native/binding.ts does.
#include "../../native/addon.h"
#include "test_entries.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  hiberkit::RegisterErrors(env, exports);
  hiberkit::RegisterImageWriterEntries(env, exports);
  hiberkit::RegisterCodecEntries(env, exports);
  hiberkit::RegisterDeviceTableEntries(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(hiberkit_test, Init)
