/**
 * The codecs hiberkit's image format uses — CRC32C and LZ4 blocks — from the native addon when it
 * is loaded (SSE4.2 CRC, C++ LZ4: the fast path for resume and verify), from TypeScript otherwise.
 * Both give identical results for identical input (test/codec-crosscheck.test.ts), so nothing
 * outside this file needs to know which one runs.
 */
import { loadNative } from '../native/binding.js';
import { crc32cCombineTs, crc32cTs } from './crc32c.js';
import { LZ4_MALFORMED, lz4CompressBound, lz4CompressTs, lz4DecompressTs } from './lz4.js';

export { LZ4_MALFORMED, lz4CompressBound };

/** Largest LZ4 block input (the format's own limit, LZ4_MAX_INPUT_SIZE). */
const LZ4_MAX_INPUT = 0x7e000000;

export interface Codec {
  readonly name: 'native' | 'typescript';
  /** CRC32C of `data`, continuing from `seed` (a previous result; 0 to start). */
  crc32c(data: Uint8Array, seed?: number): number;
  /** CRC32C(A ++ B) from crc32c(A), crc32c(B) and B's length in bytes. */
  crc32cCombine(crcA: number, crcB: number, lengthB: number): number;
  /** One LZ4 block; returns its length, or 0 if it does not fit in `dst`. */
  lz4Compress(src: Uint8Array, dst: Uint8Array): number;
  /** Returns the decompressed length, or LZ4_MALFORMED; never touches memory outside `src`/`dst`. */
  lz4Decompress(src: Uint8Array, dst: Uint8Array): number;
}

export const typescriptCodec: Codec = {
  name: 'typescript',
  crc32c: (data, seed = 0) => crc32cTs(data, seed),
  crc32cCombine: crc32cCombineTs,
  lz4Compress: (src, dst) => lz4CompressTs(checkedInput(src), dst),
  lz4Decompress: lz4DecompressTs,
};

/** The addon's codec, or null when the addon is not loaded (or was built without codec.cc). */
export function nativeCodec(): Codec | null {
  const binding = loadNative();
  const crc = binding?.crc32c;
  const combine = binding?.crc32cCombine;
  const compress = binding?.lz4Compress;
  const decompress = binding?.lz4Decompress;
  if (!crc || !combine || !compress || !decompress) return null;
  return {
    name: 'native',
    crc32c: (data, seed = 0) => crc(data, seed),
    crc32cCombine: combine,
    lz4Compress: (src, dst) => compress(checkedInput(src), dst),
    lz4Decompress: decompress,
  };
}

function checkedInput(src: Uint8Array): Uint8Array {
  if (src.length > LZ4_MAX_INPUT) throw new RangeError(`an LZ4 block holds at most ${LZ4_MAX_INPUT} bytes, got ${src.length}`);
  return src;
}

const active: Codec = nativeCodec() ?? typescriptCodec;

/** Which implementation the functions below use. */
export const codecName: Codec['name'] = active.name;

export function crc32c(data: Uint8Array, seed = 0): number {
  return active.crc32c(data, seed);
}

export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  return active.crc32cCombine(crcA, crcB, lengthB);
}

export function lz4Compress(src: Uint8Array, dst: Uint8Array): number {
  return active.lz4Compress(src, dst);
}

export function lz4Decompress(src: Uint8Array, dst: Uint8Array): number {
  return active.lz4Decompress(src, dst);
}
