/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78) in TypeScript, slicing-by-8.
 *
 * This is the fallback when the native addon is not loaded; native/crc32c.cc computes the same
 * function with the SSE4.2 instruction. Slicing-by-8 consumes eight bytes per table round, which
 * makes it several times faster than the byte-at-a-time loop while staying simple.
 */

const POLYNOMIAL = 0x82f63b78;

/**
 * TABLES[k][b] is the CRC contribution of byte b followed by k zero bytes, so eight bytes can be
 * folded with eight independent lookups.
 */
const TABLES: Uint32Array[] = buildTables();

function buildTables(): Uint32Array[] {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  const base = tables[0];
  for (let b = 0; b < 256; b++) {
    let crc = b;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ POLYNOMIAL : crc >>> 1;
    base[b] = crc >>> 0;
  }
  for (let k = 1; k < 8; k++) {
    const previous = tables[k - 1];
    const table = tables[k];
    for (let b = 0; b < 256; b++) table[b] = ((previous[b] >>> 8) ^ base[previous[b] & 0xff]) >>> 0;
  }
  return tables;
}

/**
 * CRC32C of `data`. Pass the result of a previous call as `seed` to continue a CRC over data
 * that arrives in pieces: crc32c(b, crc32c(a)) === crc32c(a ++ b).
 */
export function crc32cTs(data: Uint8Array, seed = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES;
  let crc = ~seed;
  let i = 0;
  const length = data.length;
  const blockEnd = length - (length % 8);
  while (i < blockEnd) {
    const lo = (crc ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24))) >>> 0;
    crc =
      t7[lo & 0xff] ^
      t6[(lo >>> 8) & 0xff] ^
      t5[(lo >>> 16) & 0xff] ^
      t4[lo >>> 24] ^
      t3[data[i + 4]] ^
      t2[data[i + 5]] ^
      t1[data[i + 6]] ^
      t0[data[i + 7]];
    i += 8;
  }
  while (i < length) crc = (crc >>> 8) ^ t0[(crc ^ data[i++]) & 0xff];
  return ~crc >>> 0;
}

// ---- Combining CRCs: polynomials over GF(2) modulo the CRC polynomial P (native/crc32c.cc has
// the same arithmetic). With the register preset to all ones and the result inverted, appending
// |B| bytes to A gives CRC(A ++ B) = CRC(A) * x^(8|B|) mod P, xor CRC(B). Reflected bit order:
// bit 31 holds the coefficient of x^0, so "times x" is a right shift.

/** The polynomial 1. */
const ONE = 0x80000000;

function timesX(a: number): number {
  return a & 1 ? (a >>> 1) ^ POLYNOMIAL : a >>> 1;
}

/** a * b mod P: b * x^i summed over the terms x^i of a. */
function multiplyModP(a: number, b: number): number {
  let product = 0;
  for (let term = ONE; term !== 0; term >>>= 1) {
    if (a & term) product ^= b;
    b = timesX(b);
  }
  return product >>> 0;
}

/**
 * BYTE_SHIFTS[k] = x^(8 * 2^k) mod P: what shifting a CRC over 2^k zero bytes multiplies it by.
 * 53 entries cover every safe integer length.
 */
const BYTE_SHIFTS: Uint32Array = (() => {
  const shifts = new Uint32Array(53);
  shifts[0] = ONE >>> 8; // x^8
  for (let k = 1; k < shifts.length; k++) shifts[k] = multiplyModP(shifts[k - 1], shifts[k - 1]);
  return shifts;
})();

/**
 * CRC32C(A ++ B) from crcA = CRC32C(A), crcB = CRC32C(B) and lengthB = |B| in bytes, without
 * reading A or B.
 */
export function crc32cCombineTs(crcA: number, crcB: number, lengthB: number): number {
  // The same arguments the native crc32cCombine accepts: a typo must not become a wrong CRC.
  for (const [name, value, max] of [['crcA', crcA, 0xffffffff], ['crcB', crcB, 0xffffffff], ['lengthB', lengthB, Number.MAX_SAFE_INTEGER]] as const) {
    if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`crc32cCombine: ${name} must be an integer in 0..${max}, got ${value}`);
  }
  let shifted = crcA;
  // Bit by bit with arithmetic, not >>>: lengths may exceed 32 bits.
  for (let k = 0, rest = lengthB; rest > 0; k++, rest = Math.floor(rest / 2)) {
    if (rest % 2 === 1) shifted = multiplyModP(BYTE_SHIFTS[k], shifted);
  }
  return (shifted ^ crcB) >>> 0;
}
