// RegisterCodec: the image format's codecs for JavaScript (lib/codec/index.ts prefers them to its
// TypeScript twins): crc32c, crc32cCombine, lz4Compress, lz4Decompress.
#include "addon.h"
#include "crc32c.h"
#include "fd_util.h"
#include "lz4.h"

namespace hiberkit {
namespace {

// crc32c(data: Uint8Array, seed = 0): number
Napi::Value Crc32cJs(const Napi::CallbackInfo& info) {
  uint8_t* data = nullptr;
  size_t length = 0;
  uint32_t seed = 0;
  if (!GetCrcArguments(info, "crc32c", &data, &length, &seed)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), Crc32c(data, length, seed));
}

// crc32cCombine(crcA, crcB, lengthB): the CRC32C of A ++ B.
Napi::Value Crc32cCombineJs(const Napi::CallbackInfo& info) {
  const char* fn = "crc32cCombine";
  int64_t crc_a = 0, crc_b = 0, length_b = 0;
  if (!GetNonNegative(info, 0, fn, &crc_a) || !GetNonNegative(info, 1, fn, &crc_b) ||
      !GetNonNegative(info, 2, fn, &length_b)) {
    return info.Env().Undefined();
  }
  if (crc_a > UINT32_MAX || crc_b > UINT32_MAX) {
    ArgError(info.Env(), fn, "a CRC is a 32-bit value", true);
    return info.Env().Undefined();
  }
  const uint32_t combined =
      Crc32cCombine(static_cast<uint32_t>(crc_a), static_cast<uint32_t>(crc_b), static_cast<uint64_t>(length_b));
  return Napi::Number::New(info.Env(), combined);
}

// lz4Compress(src, dst): the block's length, or 0 when it does not fit in dst.
Napi::Value Lz4CompressJs(const Napi::CallbackInfo& info) {
  uint8_t *src, *dst;
  size_t src_length, dst_length;
  if (!GetBytes(info, 0, "lz4Compress", &src, &src_length) || !GetBytes(info, 1, "lz4Compress", &dst, &dst_length)) {
    return info.Env().Undefined();
  }
  if (src_length > kLz4MaxInput) {
    ArgError(info.Env(), "lz4Compress", "the input is larger than one LZ4 block may be", true);
    return info.Env().Undefined();
  }
  Lz4HashTable table;  // 16 KiB on the stack: no allocation, and every thread has its own
  return Napi::Number::New(info.Env(), static_cast<double>(Lz4Compress(src, src_length, dst, dst_length, table)));
}

// lz4Decompress(src, dst): the decompressed length, or -1 for a malformed block.
Napi::Value Lz4DecompressJs(const Napi::CallbackInfo& info) {
  uint8_t *src, *dst;
  size_t src_length, dst_length;
  if (!GetBytes(info, 0, "lz4Decompress", &src, &src_length) || !GetBytes(info, 1, "lz4Decompress", &dst, &dst_length)) {
    return info.Env().Undefined();
  }
  return Napi::Number::New(info.Env(), static_cast<double>(Lz4Decompress(src, src_length, dst, dst_length)));
}

}  // namespace

void RegisterCodec(Napi::Env env, Napi::Object exports) {
  exports.Set("crc32c", Napi::Function::New(env, Crc32cJs, "crc32c"));
  exports.Set("crc32cCombine", Napi::Function::New(env, Crc32cCombineJs, "crc32cCombine"));
  exports.Set("lz4Compress", Napi::Function::New(env, Lz4CompressJs, "lz4Compress"));
  exports.Set("lz4Decompress", Napi::Function::New(env, Lz4DecompressJs, "lz4Decompress"));
}

}  // namespace hiberkit
