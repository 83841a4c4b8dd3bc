/**
 * Deterministic page contents: the same (seed, stream, pfn) always gives the same 4096 bytes,
 * so a test can tell exactly what an emulated machine held before it hibernated. Pages come in
 * three kinds, to give compression something realistic to chew on: all zeros, text-like
 * (compresses well) and random (does not compress).
 */
import { PAGE_SIZE } from '../lib/ioctls.js';

export type ContentKind = 'zero' | 'text' | 'random';

/** A well-mixed 32-bit hash of up to four 32-bit inputs (murmur3's finaliser, chained). */
export function hash32(a: number, b: number, c = 0, d = 0): number {
  let h = mix(0x9e3779b9, a);
  h = mix(h, b);
  h = mix(h, c);
  return mix(h, d);
}

function mix(h: number, v: number): number {
  let x = Math.imul(h ^ (v >>> 0), 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A uniform number in [0, 1) from a hash. */
export function unit(hash: number): number {
  return hash / 0x1_0000_0000;
}

const WORDS = [
  'the', 'page', 'frame', 'kernel', 'memory', 'swap', 'image', 'resume', 'freeze', 'thaw', 'device', 'snapshot',
  'hibernate', 'restore', 'process', 'thread', 'block', 'sector', 'buffer', 'cache', 'anon', 'zone', 'node', 'bitmap',
  'header', 'metadata', 'signature', 'offset', 'extent', 'chunk', 'checksum', 'power',
];

/**
 * 256 KiB of words in a fixed pseudo-random order. A text page is a 4096-byte window of it at a
 * position chosen by the page's hash: text-like, compressible, and one copy to make.
 */
const TEXT_TAPE = (() => {
  const tape = new Uint8Array(256 * 1024);
  const encoder = new TextEncoder();
  let at = 0;
  for (let i = 0; at < tape.length; i++) {
    const word = encoder.encode(`${WORDS[hash32(0x7e47, i) % WORDS.length]} `);
    tape.set(word.subarray(0, Math.min(word.length, tape.length - at)), at);
    at += word.length;
  }
  return tape;
})();

/** Writes one page of `kind` content for (seed, stream, pfn) into `out` (4096 bytes). */
export function fillPage(out: Uint8Array, kind: ContentKind, seed: number, stream: number, pfn: number): void {
  if (out.length !== PAGE_SIZE) throw new RangeError(`a page is ${PAGE_SIZE} bytes, got ${out.length}`);
  if (kind === 'zero') {
    out.fill(0);
    return;
  }
  const h = hash32(seed, stream, pfn, kind === 'text' ? 1 : 2);
  if (kind === 'text') {
    const start = h % (TEXT_TAPE.length - PAGE_SIZE);
    out.set(TEXT_TAPE.subarray(start, start + PAGE_SIZE));
    return;
  }
  // xorshift32: fast, and good enough to make pages incompressible and distinct.
  let x = h || 1;
  const words = new Uint32Array(out.buffer, out.byteOffset, PAGE_SIZE / 4);
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
}
