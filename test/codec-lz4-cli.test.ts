/**
 * Interoperability with the reference LZ4 implementation (the `lz4` command, Debian package lz4):
 * it must decode our blocks, and our decoder must read the blocks it makes. Blocks travel inside
 * LZ4 frames, the container the command speaks (built and parsed here by hand).
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { lz4CompressBound, nativeCodec, typescriptCodec, type Codec } from '../lib/codec/index.js';
import { randomBytes, snapshotLikeStream, textBytes } from './image-support.js';

const FRAME_MAGIC = 0x184d2204;
const CHUNK = 128 * 1024;

/** XXH32 for inputs shorter than 16 bytes (all a frame descriptor needs); seed 0. */
function xxh32Short(data: Uint8Array): number {
  const P1 = 2654435761;
  const P2 = 2246822519;
  const P3 = 3266489917;
  const P4 = 668265263;
  const P5 = 374761393;
  const rotl = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;
  let h = (P5 + data.length) >>> 0;
  let i = 0;
  for (; i + 4 <= data.length; i += 4) {
    const word = (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)) >>> 0;
    h = Math.imul(rotl((h + Math.imul(word, P3)) >>> 0, 17), P4) >>> 0;
  }
  for (; i < data.length; i++) h = Math.imul(rotl((h + Math.imul(data[i], P5)) >>> 0, 11), P1) >>> 0;
  h = Math.imul(h ^ (h >>> 15), P2) >>> 0;
  h = Math.imul(h ^ (h >>> 13), P3) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

function u32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
}

/** A frame of independent blocks of up to 128 KiB (max block size 256 KB), no checksums. */
function frameOf(codec: Codec, data: Uint8Array): Uint8Array {
  const descriptor = Uint8Array.of(0x60, 0x50); // version 01, independent blocks; 256 KB max block
  const parts: Uint8Array[] = [u32(FRAME_MAGIC), descriptor, Uint8Array.of((xxh32Short(descriptor) >>> 8) & 0xff)];
  for (let at = 0; at < data.length; at += CHUNK) {
    const chunk = data.subarray(at, at + CHUNK);
    const block = new Uint8Array(chunk.length - 1);
    const size = codec.lz4Compress(chunk, block);
    // A block that does not shrink goes in uncompressed (high bit of the size), as in our images.
    parts.push(size > 0 ? u32(size) : u32((chunk.length | 0x80000000) >>> 0), size > 0 ? block.subarray(0, size) : chunk);
  }
  parts.push(u32(0));
  return Buffer.concat(parts);
}

/** Decodes a frame from `lz4 -c` (independent blocks) with our block decoder. */
function unframe(codec: Codec, frame: Uint8Array, expectedLength: number): Uint8Array {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  expect(view.getUint32(0, true)).toBe(FRAME_MAGIC);
  const flags = frame[4];
  expect(flags & 0x20).toBe(0x20); // independent blocks
  const blockChecksums = (flags & 0x10) !== 0;
  let at = 7 + (flags & 0x08 ? 8 : 0) + (flags & 0x01 ? 4 : 0);
  const out = new Uint8Array(expectedLength);
  let produced = 0;
  for (;;) {
    const word = view.getUint32(at, true);
    at += 4;
    if (word === 0) break;
    const size = word & 0x7fffffff;
    const block = frame.subarray(at, at + size);
    if (word & 0x80000000) {
      out.set(block, produced);
      produced += size;
    } else {
      const n = codec.lz4Decompress(block, out.subarray(produced));
      expect(n).toBeGreaterThan(0);
      produced += n;
    }
    at += size + (blockChecksums ? 4 : 0);
  }
  expect(produced).toBe(expectedLength);
  return out;
}

const samples: [string, Uint8Array][] = [
  ['snapshot-like', snapshotLikeStream(200, 4)],
  ['text', textBytes(3 * CHUNK + 1234, 2)],
  ['zeros', new Uint8Array(2 * CHUNK)],
  ['random', randomBytes(CHUNK + 4096, 8)],
  ['tiny', textBytes(11, 3)],
];

const codecs: [string, Codec][] = [
  ['TypeScript', typescriptCodec],
  ['native', nativeCodec() ?? typescriptCodec],
];

describe('the reference lz4 command', () => {
  it('is installed (Debian package lz4) and the frame helper is right', () => {
    const version = spawnSync('lz4', ['--version'], { encoding: 'utf8' });
    expect(version.error, 'install the Debian package lz4 (apt-get install lz4)').toBeUndefined();
    expect(version.status).toBe(0);
    expect(xxh32Short(new Uint8Array(0))).toBe(0x02cc5d05); // XXH32 of nothing, seed 0
  });

  it('the native codec is the one under test below', () => {
    expect(codecs[1][1].name).toBe('native');
  });

  describe.each(codecs)('with the %s codec', (_name, codec) => {
    it.each(samples)('decodes our blocks of %s data', (_label, data) => {
      const result = spawnSync('lz4', ['-d', '-c'], { input: frameOf(codec, data), maxBuffer: 64 << 20 });
      expect(result.stderr.toString()).toBe('');
      expect(result.status).toBe(0);
      expect(Buffer.compare(result.stdout, Buffer.from(data))).toBe(0);
    });

    it.each(samples)('makes blocks of %s data that our decoder reads', (_label, data) => {
      const result = spawnSync('lz4', ['-c', '-BI', '-B4'], { input: data, maxBuffer: 64 << 20 });
      expect(result.status).toBe(0);
      expect(Buffer.compare(unframe(codec, result.stdout, data.length), Buffer.from(data))).toBe(0);
    });
  });

  it('compresses about as well as the reference on snapshot-like data', () => {
    const data = snapshotLikeStream(512, 12);
    const ours = frameOf(codecs[1][1], data).length;
    const reference = spawnSync('lz4', ['-1', '-c', '-BI', '-B5', '--no-frame-crc'], { input: data, maxBuffer: 64 << 20 }).stdout.length;
    console.log(`snapshot-like 2 MiB: ours ${ours} bytes, lz4 -1 ${reference} bytes (bound ${lz4CompressBound(data.length)})`);
    expect(ours).toBeLessThan(reference * 1.15);
  });
});
