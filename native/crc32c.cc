// CRC32C: the SSE4.2 instruction where the CPU has it and it is the faster of the two, a
// slicing-by-16 table otherwise.
#include "crc32c.h"

#include <time.h>

#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>
#endif

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the word loads below assume little endian");

namespace hiberkit {
namespace {

constexpr uint32_t kPolynomial = 0x82F63B78u;

// kTables.t[k][b] is the CRC contribution of byte b followed by k zero bytes, so sixteen bytes
// fold with sixteen independent lookups (lib/codec/crc32c.ts builds the first eight tables the
// same way). Sixteen rather than eight: half the loop iterations and two wide loads per sixteen
// bytes, which measured 1.28x faster where the table is what runs (TCG in the test VM).
constexpr int kSlices = 16;

struct Tables {
  uint32_t t[kSlices][256];
};

constexpr Tables BuildTables() {
  Tables tables{};
  for (uint32_t b = 0; b < 256; b++) {
    uint32_t crc = b;
    for (int bit = 0; bit < 8; bit++) crc = (crc & 1) ? (crc >> 1) ^ kPolynomial : crc >> 1;
    tables.t[0][b] = crc;
  }
  for (int k = 1; k < kSlices; k++) {
    for (uint32_t b = 0; b < 256; b++) {
      const uint32_t previous = tables.t[k - 1][b];
      tables.t[k][b] = (previous >> 8) ^ tables.t[0][previous & 0xff];
    }
  }
  return tables;
}

constexpr Tables kTables = BuildTables();

// ---- Combining CRCs (arithmetic on polynomials over GF(2) modulo the CRC polynomial P)
//
// With the register preset to all ones and the result inverted (as Crc32c does), appending
// |B| bytes to A gives CRC(A ++ B) = CRC(A) * x^(8|B|) mod P, xor CRC(B): the presets cancel.
// In the reflected representation used here bit 31 holds the coefficient of x^0 and bit 0 that
// of x^31, so "times x" is a right shift, reduced by the polynomial when x^31's bit falls out.

constexpr uint32_t kOne = 0x80000000u;  // the polynomial 1

constexpr uint32_t TimesX(uint32_t a) { return (a & 1) ? (a >> 1) ^ kPolynomial : a >> 1; }

// a * b mod P: b * x^i summed over the terms x^i of a, highest bit (x^0) first.
constexpr uint32_t MultiplyModP(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (uint32_t term = kOne; term != 0; term >>= 1) {
    if (a & term) product ^= b;
    b = TimesX(b);
  }
  return product;
}

// kByteShifts[k] = x^(8 * 2^k) mod P: what shifting a CRC over 2^k zero bytes multiplies it by.
// 64 entries cover every length a uint64_t can hold, so no lengths need folding.
struct ByteShifts {
  uint32_t power[64];
};

constexpr ByteShifts BuildByteShifts() {
  ByteShifts shifts{};
  shifts.power[0] = kOne >> 8;  // x^8
  for (int k = 1; k < 64; k++) shifts.power[k] = MultiplyModP(shifts.power[k - 1], shifts.power[k - 1]);
  return shifts;
}

constexpr ByteShifts kByteShifts = BuildByteShifts();

// Both implementations take and return the inverted register (~crc), as the hardware does.
uint32_t UpdateTable(const uint8_t* p, size_t n, uint32_t state) {
  const auto& t = kTables.t;
  // Byte i of the sixteen (little endian) is followed by 15 - i more: table 15 - i. Written out:
  // the compiler keeps a loop over the bytes of a word, and under emulation every instruction counts.
  while (n >= 16) {
    uint64_t a, b;
    memcpy(&a, p, 8);
    memcpy(&b, p + 8, 8);
    a ^= state;
    state = t[15][a & 0xff] ^ t[14][(a >> 8) & 0xff] ^ t[13][(a >> 16) & 0xff] ^ t[12][(a >> 24) & 0xff] ^
            t[11][(a >> 32) & 0xff] ^ t[10][(a >> 40) & 0xff] ^ t[9][(a >> 48) & 0xff] ^ t[8][a >> 56] ^
            t[7][b & 0xff] ^ t[6][(b >> 8) & 0xff] ^ t[5][(b >> 16) & 0xff] ^ t[4][(b >> 24) & 0xff] ^
            t[3][(b >> 32) & 0xff] ^ t[2][(b >> 40) & 0xff] ^ t[1][(b >> 48) & 0xff] ^ t[0][b >> 56];
    p += 16;
    n -= 16;
  }
  while (n-- > 0) state = (state >> 8) ^ t[0][(state ^ *p++) & 0xff];
  return state;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t UpdateSse42(const uint8_t* p, size_t n, uint32_t state) {
  uint64_t wide = state;
  while (n >= 8) {
    uint64_t word;
    memcpy(&word, p, 8);
    wide = _mm_crc32_u64(wide, word);
    p += 8;
    n -= 8;
  }
  state = static_cast<uint32_t>(wide);
  while (n-- > 0) state = _mm_crc32_u8(state, *p++);
  return state;
}

bool CpuHasSse42() {
  unsigned eax, ebx, ecx, edx;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_SSE4_2) != 0;
}
#endif

using UpdateFn = uint32_t (*)(const uint8_t*, size_t, uint32_t);

struct Choice {
  UpdateFn update;
  const char* name;
};

#if defined(__x86_64__)
// What the calibration checksums: large enough to time, small enough to cost at most a few
// milliseconds at load even where the instruction is slow.
constexpr size_t kProbeBytes = 64 << 10;
uint8_t probe[kProbeBytes];

// Fastest of a few runs, in nanoseconds: the first run also pays for faulting the probe in.
uint64_t BestTime(UpdateFn update) {
  uint64_t best = UINT64_MAX;
  for (int run = 0; run < 4; run++) {
    timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    volatile uint32_t sink = update(probe, kProbeBytes, 0);
    (void)sink;
    clock_gettime(CLOCK_MONOTONIC, &end);
    const uint64_t ns = static_cast<uint64_t>(end.tv_sec - start.tv_sec) * 1000000000u + static_cast<uint64_t>(end.tv_nsec) -
                        static_cast<uint64_t>(start.tv_nsec);
    if (ns < best) best = ns;
  }
  return best;
}
#endif

// The instruction is not always the fast path: under QEMU's software emulation (TCG, the test
// VM) every crc32 instruction is a call into the emulator, about three times slower than the
// table, which compiles to ordinary loads and xors. So when the CPU has SSE4.2, both are timed
// once and the faster one is kept; their results are identical, only the speed differs.
Choice Choose() {
#if defined(__x86_64__)
  if (CpuHasSse42() && BestTime(UpdateSse42) <= BestTime(UpdateTable)) return {UpdateSse42, "sse4.2"};
#endif
  return {UpdateTable, "table"};
}

// Decided once while the addon loads, long before any freeze: later calls only jump.
const Choice kChoice = Choose();

}  // namespace

uint32_t Crc32c(const uint8_t* data, size_t length, uint32_t seed) {
  return ~kChoice.update(data, length, ~seed);
}

uint32_t Crc32cCombine(uint32_t crc_a, uint32_t crc_b, uint64_t length_b) {
  // x^(8 * length_b) is the product of the x^(8 * 2^k) for the bits k set in length_b.
  uint32_t shifted = crc_a;
  for (int k = 0; length_b != 0; k++, length_b >>= 1) {
    if (length_b & 1) shifted = MultiplyModP(kByteShifts.power[k], shifted);
  }
  return shifted ^ crc_b;
}

const char* Crc32cImplementation() { return kChoice.name; }

uint32_t Crc32cTable(const uint8_t* data, size_t length, uint32_t seed) {
  return ~UpdateTable(data, length, ~seed);
}

}  // namespace hiberkit
