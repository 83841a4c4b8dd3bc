// LZ4 *block* format: a fast greedy compressor and a bounds-checked decompressor.
//
// The compressor is the same algorithm as lib/codec/lz4.ts — same hash, table size, parse rules
// and skip heuristic — and must give the same bytes for the same input: the C++ and TypeScript
// image writers are compared byte for byte. docs/image-format.md §7 describes it.
// Pure computation: no allocation, no lock, safe in the critical section.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hiberkit {

constexpr int kLz4HashLog = 12;
// The format's own limit on one block's input (LZ4_MAX_INPUT_SIZE).
constexpr size_t kLz4MaxInput = 0x7E000000;
// Lz4Decompress's answer for a malformed block or one whose output does not fit.
constexpr ptrdiff_t kLz4Malformed = -1;

// The compressor's scratch (16 KiB), provided by the caller so that compressing allocates nothing.
struct Lz4HashTable {
  uint32_t slots[size_t{1} << kLz4HashLog];
};

// Largest possible compressed size of `length` bytes.
constexpr size_t Lz4CompressBound(size_t length) { return length + length / 255 + 16; }

// Compresses `length` bytes of `src` into one block in `dst`. Returns the block's length, or 0 if
// it does not fit in `capacity` bytes (pass capacity = length - 1 to ask "does it shrink?") or
// `length` exceeds kLz4MaxInput.
size_t Lz4Compress(const uint8_t* src, size_t length, uint8_t* dst, size_t capacity, Lz4HashTable& table);

// Decompresses one block. Returns the decompressed length, or kLz4Malformed. Whatever the input,
// it reads only src[0, length) and writes only dst[0, capacity); bytes of dst past the returned
// length are unspecified.
ptrdiff_t Lz4Decompress(const uint8_t* src, size_t length, uint8_t* dst, size_t capacity);

}  // namespace hiberkit
