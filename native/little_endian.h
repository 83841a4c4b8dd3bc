// The image format's integers are little endian (docs/image-format.md): loads and stores at any
// byte offset of a page, for the C++ writer, its invalidation and hiberkit-resume's reader.
#pragma once

#include <cstdint>
#include <cstring>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the format is little endian and so are these loads and stores");

namespace hiberkit {

inline void PutU32(uint8_t* at, uint32_t value) { memcpy(at, &value, sizeof(value)); }
inline void PutU64(uint8_t* at, uint64_t value) { memcpy(at, &value, sizeof(value)); }

inline uint32_t GetU32(const uint8_t* at) {
  uint32_t value;
  memcpy(&value, at, sizeof(value));
  return value;
}

inline uint64_t GetU64(const uint8_t* at) {
  uint64_t value;
  memcpy(&value, at, sizeof(value));
  return value;
}

inline bool IsZero(const uint8_t* bytes, size_t from, size_t to) {
  for (size_t i = from; i < to; i++) {
    if (bytes[i] != 0) return false;
  }
  return true;
}

}  // namespace hiberkit
