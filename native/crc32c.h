// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of hiberkit's image format.
//
// On x86 CPUs with SSE4.2 (checked once with cpuid when the addon loads) it runs on the crc32
// instruction, unless a timing at load finds the table faster (as under software emulation);
// elsewhere on a slicing-by-16 table (lib/codec/crc32c.ts: the same CRC, sliced by 8).
// Pure computation: no allocation, no lock, safe in the critical section.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hiberkit {

// CRC32C of `length` bytes. Pass a previous result as `seed` to continue over data that comes in
// pieces: Crc32c(b, Crc32c(a)) == Crc32c(a ++ b). Start with 0.
uint32_t Crc32c(const uint8_t* data, size_t length, uint32_t seed = 0);

// CRC32C(A ++ B) from crc_a = CRC32C(A), crc_b = CRC32C(B) and length_b = |B| in bytes, without
// reading A or B: lets one pass over a buffer serve two CRCs that both cover it (the image
// writer's stream CRC and a raw chunk's payload CRC). O(log length_b), no tables built at run time.
uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, uint64_t length_b);

// "sse4.2" or "table": which implementation Crc32c uses on this CPU.
const char* Crc32cImplementation();

// The table implementation whatever the CPU has, so tests on SSE4.2 machines cover it too.
uint32_t Crc32cTable(const uint8_t* data, size_t length, uint32_t seed = 0);

}  // namespace hiberkit
