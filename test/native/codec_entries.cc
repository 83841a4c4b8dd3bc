// The test addon's codec entries: the CRC32C table path whatever the CPU has, so tests on SSE4.2
// machines cover it too, and the name of the path Crc32c chose at load (native/crc32c.h).
#include "../../native/crc32c.h"
#include "../../native/fd_util.h"
#include "test_entries.h"

namespace hiberkit {
namespace {

// crc32cTable(data: Uint8Array, seed = 0): number
Napi::Value Crc32cTableJs(const Napi::CallbackInfo& info) {
  const char* fn = "crc32cTable";
  uint8_t* data = nullptr;
  size_t length = 0;
  if (!GetBytes(info, 0, fn, &data, &length)) return info.Env().Undefined();
  int64_t seed = 0;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!GetNonNegative(info, 1, fn, &seed)) return info.Env().Undefined();
    if (seed > UINT32_MAX) {
      ArgError(info.Env(), fn, "the seed is a 32-bit CRC", true);
      return info.Env().Undefined();
    }
  }
  return Napi::Number::New(info.Env(), Crc32cTable(data, length, static_cast<uint32_t>(seed)));
}

}  // namespace

void RegisterCodecEntries(Napi::Env env, Napi::Object exports) {
  exports.Set("crc32cTable", Napi::Function::New(env, Crc32cTableJs, "crc32cTable"));
  exports.Set("crc32cImplementation", Napi::String::New(env, Crc32cImplementation()));
}

}  // namespace hiberkit
