// The test addon's codec entries: the CRC32C table path whatever the CPU has, so tests on SSE4.2
// machines cover it too, and the name of the path Crc32c chose at load (native/crc32c.h).
#include "../../native/crc32c.h"
#include "../../native/fd_util.h"
#include "test_entries.h"

namespace hiberkit {
namespace {

// crc32cTable(data: Uint8Array, seed = 0): number
Napi::Value Crc32cTableJs(const Napi::CallbackInfo& info) {
  uint8_t* data = nullptr;
  size_t length = 0;
  uint32_t seed = 0;
  if (!GetCrcArguments(info, "crc32cTable", &data, &length, &seed)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), Crc32cTable(data, length, seed));
}

}  // namespace

void RegisterCodecEntries(Napi::Env env, Napi::Object exports) {
  exports.Set("crc32cTable", Napi::Function::New(env, Crc32cTableJs, "crc32cTable"));
  exports.Set("crc32cImplementation", Napi::String::New(env, Crc32cImplementation()));
}

}  // namespace hiberkit
