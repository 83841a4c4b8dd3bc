/**
 * LZ4 *block* format (no frame) in TypeScript: a fast greedy compressor and a bounds-checked
 * decompressor.
 *
 * native/lz4.cc implements the very same algorithm in C++, and the two must produce identical
 * bytes for identical input (the image writers are compared byte for byte): same hash function,
 * same table size, same parse rules, same skip heuristic. Change one, change both, and keep
 * test/codec-crosscheck.test.ts passing. docs/image-format.md §7 describes the algorithm.
 */

/** Shortest match the format can express. */
const MIN_MATCH = 4;
/** The format requires the last 5 bytes of a block to be literals. */
const LAST_LITERALS = 5;
/** And the last match to start at least 12 bytes before the end of the block. */
const MATCH_START_MARGIN = 12;
/** Offsets are 16 bits. */
const MAX_DISTANCE = 65535;
/** 2^12 entries of 32-bit positions: 16 KiB, the reference implementation's default size. */
const LZ4_HASH_LOG = 12;
/**
 * After 2^6 failed match attempts in a row the search step grows by one, so incompressible
 * data is skipped over quickly (the reference implementation's heuristic).
 */
const SKIP_TRIGGER = 6;
/** Returned by lz4DecompressTs for input that is not a well-formed block fitting the output. */
export const LZ4_MALFORMED = -1;

const hashTable = new Int32Array(1 << LZ4_HASH_LOG);

/** Largest possible compressed size of `length` input bytes (incompressible data plus tokens). */
export function lz4CompressBound(length: number): number {
  return length + Math.floor(length / 255) + 16;
}

function read32(data: Uint8Array, at: number): number {
  return data[at] | (data[at + 1] << 8) | (data[at + 2] << 16) | (data[at + 3] << 24);
}

/** Knuth's multiplicative hash of four bytes, top LZ4_HASH_LOG bits. */
function hash4(sequence: number): number {
  return Math.imul(sequence, 2654435761) >>> (32 - LZ4_HASH_LOG);
}

/** Bytes an LZ4 length of `value` needs beyond its 4-bit token field. */
function extraLengthBytes(value: number): number {
  return value >= 15 ? 1 + Math.floor((value - 15) / 255) : 0;
}

/** Writes the continuation bytes of a length whose token field is 15; returns the new position. */
function writeExtraLength(dst: Uint8Array, op: number, value: number): number {
  let rest = value - 15;
  while (rest >= 255) {
    dst[op++] = 255;
    rest -= 255;
  }
  dst[op++] = rest;
  return op;
}

/**
 * Compresses `src` into `dst` as one LZ4 block. Returns the compressed length, or 0 when the
 * block does not fit in `dst` (pass a `dst` shorter than `src` to ask "does it shrink?").
 */
export function lz4CompressTs(src: Uint8Array, dst: Uint8Array): number {
  const length = src.length;
  const capacity = dst.length;
  let op = 0;
  let anchor = 0;

  /** Emits `literals` bytes from `anchor` and a match; false if it does not fit. */
  const emitSequence = (literals: number, offset: number, matchLength: number): boolean => {
    const lengthCode = matchLength - MIN_MATCH;
    const size = 1 + extraLengthBytes(literals) + literals + 2 + extraLengthBytes(lengthCode);
    if (size > capacity - op) return false;
    dst[op++] = (Math.min(literals, 15) << 4) | Math.min(lengthCode, 15);
    if (literals >= 15) op = writeExtraLength(dst, op, literals);
    copyBytes(dst, op, src, anchor, literals);
    op += literals;
    dst[op++] = offset & 0xff;
    dst[op++] = offset >>> 8;
    if (lengthCode >= 15) op = writeExtraLength(dst, op, lengthCode);
    return true;
  };

  if (length > MATCH_START_MARGIN) {
    hashTable.fill(0);
    const lastMatchStart = length - MATCH_START_MARGIN;
    const matchEndLimit = length - LAST_LITERALS;
    let attempts = 1 << SKIP_TRIGGER;
    // Position 0 is in the table implicitly (every slot starts as 0), so the search starts at 1.
    let ip = 1;
    while (ip <= lastMatchStart) {
      const sequence = read32(src, ip);
      const slot = hash4(sequence);
      let candidate = hashTable[slot];
      hashTable[slot] = ip;
      if (ip - candidate > MAX_DISTANCE || read32(src, candidate) !== sequence) {
        ip += attempts++ >>> SKIP_TRIGGER;
        continue;
      }
      while (ip > anchor && candidate > 0 && src[ip - 1] === src[candidate - 1]) {
        ip--;
        candidate--;
      }
      let matchLength = MIN_MATCH;
      while (ip + matchLength < matchEndLimit && src[ip + matchLength] === src[candidate + matchLength]) matchLength++;
      if (!emitSequence(ip - anchor, ip - candidate, matchLength)) return 0;
      ip += matchLength;
      anchor = ip;
      attempts = 1 << SKIP_TRIGGER;
      if (ip > lastMatchStart) break;
      // Remember a position inside the match just emitted: it often starts the next repeat.
      hashTable[hash4(read32(src, ip - 2))] = ip - 2;
    }
  }

  const literals = length - anchor;
  if (1 + extraLengthBytes(literals) + literals > capacity - op) return 0;
  dst[op++] = Math.min(literals, 15) << 4;
  if (literals >= 15) op = writeExtraLength(dst, op, literals);
  dst.set(src.subarray(anchor), op);
  return op + literals;
}

/**
 * Decompresses one LZ4 block from `src` into `dst`. Returns the decompressed length, or
 * LZ4_MALFORMED if `src` is not a well-formed block or its output would not fit in `dst`.
 * It never reads outside `src` and never writes outside `dst`, whatever the input.
 */
export function lz4DecompressTs(src: Uint8Array, dst: Uint8Array): number {
  const end = src.length;
  const capacity = dst.length;
  let ip = 0;
  let op = 0;
  for (;;) {
    if (ip >= end) return LZ4_MALFORMED;
    const token = src[ip++];

    let literals = token >>> 4;
    if (literals === 15) {
      let byte: number;
      do {
        if (ip >= end) return LZ4_MALFORMED;
        byte = src[ip++];
        literals += byte;
      } while (byte === 255);
    }
    if (literals > end - ip || literals > capacity - op) return LZ4_MALFORMED;
    copyBytes(dst, op, src, ip, literals);
    ip += literals;
    op += literals;
    // A block ends with a sequence that has literals only.
    if (ip === end) return op;

    if (end - ip < 2) return LZ4_MALFORMED;
    const offset = src[ip] | (src[ip + 1] << 8);
    ip += 2;
    if (offset === 0 || offset > op) return LZ4_MALFORMED;

    let matchLength = (token & 15) + MIN_MATCH;
    if ((token & 15) === 15) {
      let byte: number;
      do {
        if (ip >= end) return LZ4_MALFORMED;
        byte = src[ip++];
        matchLength += byte;
      } while (byte === 255);
    }
    if (matchLength > capacity - op) return LZ4_MALFORMED;
    copyMatch(dst, op, offset, matchLength);
    op += matchLength;
  }
}

/**
 * Runs up to this length are copied byte by byte: creating a subarray view for dst.set costs
 * more than the copy itself for the short literal runs and matches that text produces.
 */
const SHORT_COPY = 32;

function copyBytes(dst: Uint8Array, at: number, src: Uint8Array, from: number, length: number): void {
  if (length <= SHORT_COPY) {
    for (let i = 0; i < length; i++) dst[at + i] = src[from + i];
  } else {
    dst.set(src.subarray(from, from + length), at);
  }
}

/**
 * Copies a match that may overlap its own output (offset < length repeats the last `offset`
 * bytes). Copies whole periods so each copyWithin reads only bytes already written.
 */
function copyMatch(dst: Uint8Array, op: number, offset: number, length: number): void {
  const from = op - offset;
  if (length <= SHORT_COPY) {
    // Byte by byte is right for overlapping matches too: each byte is written before it is read.
    for (let i = 0; i < length; i++) dst[op + i] = dst[from + i];
    return;
  }
  if (offset >= length) {
    dst.copyWithin(op, from, from + length);
    return;
  }
  if (offset === 1) {
    dst.fill(dst[from], op, op + length);
    return;
  }
  let copied = 0;
  while (copied < length) {
    // [from, op + copied) is valid and `copied` is a multiple of `offset`, so it repeats cleanly.
    const step = Math.min(length - copied, offset + copied);
    dst.copyWithin(op + copied, from, from + step);
    copied += step;
  }
}
