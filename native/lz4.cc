// LZ4 block compressor and decompressor (the twin of lib/codec/lz4.ts; see lz4.h).
#include "lz4.h"

#include <algorithm>
#include <cstring>

#include "little_endian.h"  // the word loads below assume little endian, as it asserts

namespace hiberkit {
namespace {

// Shortest match the format can express.
constexpr size_t kMinMatch = 4;
// The format requires the last 5 bytes of a block to be literals...
constexpr size_t kLastLiterals = 5;
// ...and the last match to start at least 12 bytes before the end.
constexpr size_t kMatchStartMargin = 12;
// Offsets are 16 bits.
constexpr size_t kMaxDistance = 65535;
// After 2^6 failed match attempts in a row the search step grows by one, so incompressible data
// is crossed quickly (the reference implementation's heuristic).
constexpr unsigned kSkipTrigger = 6;

// Short literal runs and matches are copied as one fixed 16-byte block when the input and the
// output have room for it: a constant-size memcpy compiles to two moves instead of a call. The
// extra bytes land inside dst (checked) beyond the current output and are overwritten later or
// lie past the final length, which Lz4Decompress leaves unspecified.
constexpr size_t kShortCopy = 16;

// Knuth's multiplicative hash of four bytes, top kLz4HashLog bits.
inline uint32_t Hash4(uint32_t sequence) { return (sequence * 2654435761u) >> (32 - kLz4HashLog); }

// Bytes a length of `value` needs beyond its 4-bit token field.
inline size_t ExtraLengthBytes(size_t value) { return value >= 15 ? 1 + (value - 15) / 255 : 0; }

inline uint8_t* WriteExtraLength(uint8_t* out, size_t value) {
  size_t rest = value - 15;
  while (rest >= 255) {
    *out++ = 255;
    rest -= 255;
  }
  *out++ = static_cast<uint8_t>(rest);
  return out;
}

// How many bytes at `a` equal those at `b`, counting only while `a` < `a_limit`. Compares eight
// bytes at a time; the result is the same as the byte loop lib/codec/lz4.ts runs.
inline size_t CommonLength(const uint8_t* a, const uint8_t* b, const uint8_t* a_limit) {
  const uint8_t* const start = a;
  while (a_limit - a >= 8) {
    const uint64_t diff = GetU64(a) ^ GetU64(b);
    if (diff != 0) return static_cast<size_t>(a - start) + (__builtin_ctzll(diff) >> 3);
    a += 8;
    b += 8;
  }
  while (a < a_limit && *a == *b) {
    a++;
    b++;
  }
  return static_cast<size_t>(a - start);
}

// Copies a match that may overlap its own output (offset < length repeats the last `offset`
// bytes). Copies whole periods so that every memcpy reads only bytes already written.
inline void CopyMatch(uint8_t* out, size_t offset, size_t length) {
  const uint8_t* from = out - offset;
  if (offset >= length) {
    memcpy(out, from, length);
    return;
  }
  if (offset == 1) {
    memset(out, *from, length);
    return;
  }
  size_t copied = 0;
  while (copied < length) {
    // [from, out + copied) is valid and `copied` is a multiple of `offset`.
    const size_t step = std::min(length - copied, offset + copied);
    memcpy(out + copied, from, step);
    copied += step;
  }
}

}  // namespace

size_t Lz4Compress(const uint8_t* src, size_t length, uint8_t* dst, size_t capacity, Lz4HashTable& table) {
  if (length > kLz4MaxInput) return 0;
  size_t op = 0;
  size_t anchor = 0;

  if (length > kMatchStartMargin) {
    uint32_t* const slots = table.slots;
    memset(slots, 0, sizeof(table.slots));
    const size_t last_match_start = length - kMatchStartMargin;
    const uint8_t* const match_end_limit = src + (length - kLastLiterals);
    size_t attempts = size_t{1} << kSkipTrigger;
    // Position 0 is in the table implicitly (every slot starts as 0), so the search starts at 1.
    size_t ip = 1;
    while (ip <= last_match_start) {
      const uint32_t sequence = GetU32(src + ip);
      const uint32_t slot = Hash4(sequence);
      size_t candidate = slots[slot];
      slots[slot] = static_cast<uint32_t>(ip);
      if (ip - candidate > kMaxDistance || GetU32(src + candidate) != sequence) {
        ip += attempts++ >> kSkipTrigger;
        continue;
      }
      while (ip > anchor && candidate > 0 && src[ip - 1] == src[candidate - 1]) {
        ip--;
        candidate--;
      }
      const size_t match_length =
          kMinMatch + CommonLength(src + ip + kMinMatch, src + candidate + kMinMatch, match_end_limit);

      const size_t literals = ip - anchor;
      const size_t length_code = match_length - kMinMatch;
      const size_t size = 1 + ExtraLengthBytes(literals) + literals + 2 + ExtraLengthBytes(length_code);
      if (size > capacity - op) return 0;
      uint8_t* out = dst + op;
      *out++ = static_cast<uint8_t>((std::min<size_t>(literals, 15) << 4) | std::min<size_t>(length_code, 15));
      if (literals >= 15) out = WriteExtraLength(out, literals);
      memcpy(out, src + anchor, literals);
      out += literals;
      const size_t offset = ip - candidate;
      *out++ = static_cast<uint8_t>(offset & 0xff);
      *out++ = static_cast<uint8_t>(offset >> 8);
      if (length_code >= 15) out = WriteExtraLength(out, length_code);
      op = static_cast<size_t>(out - dst);

      ip += match_length;
      anchor = ip;
      attempts = size_t{1} << kSkipTrigger;
      if (ip > last_match_start) break;
      // Remember a position inside the match just emitted: it often starts the next repeat.
      slots[Hash4(GetU32(src + ip - 2))] = static_cast<uint32_t>(ip - 2);
    }
  }

  const size_t literals = length - anchor;
  if (1 + ExtraLengthBytes(literals) + literals > capacity - op) return 0;
  uint8_t* out = dst + op;
  *out++ = static_cast<uint8_t>(std::min<size_t>(literals, 15) << 4);
  if (literals >= 15) out = WriteExtraLength(out, literals);
  if (literals != 0) memcpy(out, src + anchor, literals);  // src may be null when length is 0
  return static_cast<size_t>(out - dst) + literals;
}

ptrdiff_t Lz4Decompress(const uint8_t* src, size_t length, uint8_t* dst, size_t capacity) {
  size_t ip = 0;
  size_t op = 0;
  for (;;) {
    if (ip >= length) return kLz4Malformed;
    const unsigned token = src[ip++];

    size_t literals = token >> 4;
    if (literals == 15) {
      uint8_t byte;
      do {
        if (ip >= length) return kLz4Malformed;
        byte = src[ip++];
        literals += byte;
      } while (byte == 255);
    }
    if (literals > length - ip || literals > capacity - op) return kLz4Malformed;
    if (literals <= kShortCopy && length - ip >= kShortCopy && capacity - op >= kShortCopy) {
      memcpy(dst + op, src + ip, kShortCopy);  // one fixed-size copy: the common short run
    } else if (literals != 0) {
      memcpy(dst + op, src + ip, literals);  // dst may be null when capacity is 0
    }
    ip += literals;
    op += literals;
    // A block ends with a sequence that has literals only.
    if (ip == length) return static_cast<ptrdiff_t>(op);

    if (length - ip < 2) return kLz4Malformed;
    const size_t offset = src[ip] | (size_t{src[ip + 1]} << 8);
    ip += 2;
    if (offset == 0 || offset > op) return kLz4Malformed;

    size_t match_length = (token & 15) + kMinMatch;
    if ((token & 15) == 15) {
      uint8_t byte;
      do {
        if (ip >= length) return kLz4Malformed;
        byte = src[ip++];
        match_length += byte;
      } while (byte == 255);
    }
    if (match_length > capacity - op) return kLz4Malformed;
    if (match_length <= kShortCopy && offset >= kShortCopy && capacity - op >= kShortCopy) {
      memcpy(dst + op, dst + op - offset, kShortCopy);
    } else {
      CopyMatch(dst + op, offset, match_length);
    }
    op += match_length;
  }
}

}  // namespace hiberkit
