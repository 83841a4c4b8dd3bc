/**
 * The C++ and TypeScript codecs are one algorithm written twice: the same input must give the
 * same LZ4 bytes (the image writers are compared byte for byte) and each must read the other's
 * blocks. Also prints the native codec's throughput on the host.
 */
import { describe, expect, it } from 'vitest';
import { lz4CompressBound, nativeCodec, typescriptCodec, type Codec } from '../lib/codec/index.js';
import { randomBytes, seededRandom, snapshotLikeStream, textBytes } from './image-support.js';

const native = nativeCodec() as Codec;
const PAGE = 4096;

function compressWith(codec: Codec, data: Uint8Array, capacity = lz4CompressBound(data.length)): Uint8Array {
  const dst = new Uint8Array(capacity);
  return dst.subarray(0, codec.lz4Compress(data, dst));
}

/** Inputs that exercise different parse paths: runs, periodic data, mixtures, odd lengths. */
function inputs(): [string, Uint8Array][] {
  const random = seededRandom(77);
  const list: [string, Uint8Array][] = [];
  for (let seed = 1; seed <= 12; seed++) {
    const length = 1 + Math.floor(random() * 200_000);
    list.push([`snapshot-like ${seed}`, snapshotLikeStream(Math.ceil(length / PAGE), seed).subarray(0, length)]);
    list.push([`text ${seed}`, textBytes(length, seed)]);
    const periodic = new Uint8Array(length);
    const period = 1 + (seed % 9);
    for (let i = 0; i < length; i++) periodic[i] = (i % period) * 37;
    list.push([`period ${period}`, periodic]);
  }
  for (let length = 0; length <= 70; length++) list.push([`short ${length}`, textBytes(length, length + 1)]);
  list.push(['random 128 KiB', randomBytes(32 * PAGE, 3)]);
  list.push(['zeros 128 KiB', new Uint8Array(32 * PAGE)]);
  return list;
}

describe('native and TypeScript codecs agree', () => {
  it('the native codec is loaded', () => {
    expect(native?.name).toBe('native');
  });

  it('LZ4: byte-identical blocks, and each decodes the other', () => {
    for (const [label, data] of inputs()) {
      const fromTs = compressWith(typescriptCodec, data);
      const fromNative = compressWith(native, data);
      expect(Buffer.from(fromNative).equals(Buffer.from(fromTs)), label).toBe(true);
      const out = new Uint8Array(data.length);
      expect(native.lz4Decompress(fromTs, out), label).toBe(data.length);
      expect(typescriptCodec.lz4Decompress(fromNative, out), label).toBe(data.length);
      expect(Buffer.from(out).equals(Buffer.from(data)), label).toBe(true);
    }
  });

  it('LZ4: the same "does not fit" answer at every capacity around the compressed size', () => {
    const data = textBytes(6000, 9);
    const size = compressWith(native, data).length;
    for (let capacity = size - 20; capacity <= size + 2; capacity++) {
      expect(native.lz4Compress(data, new Uint8Array(capacity))).toBe(typescriptCodec.lz4Compress(data, new Uint8Array(capacity)));
    }
  });

  it('CRC32C: the same value on every input', () => {
    for (const [label, data] of inputs()) expect(native.crc32c(data), label).toBe(typescriptCodec.crc32c(data));
  });
});

describe('native codec throughput on this host (printed, not asserted)', () => {
  it('compresses, decompresses and checksums 128 KiB chunks correctly', () => {
    const chunk = 32 * PAGE;
    const kinds: [string, Uint8Array][] = [
      ['zero', new Uint8Array(chunk)],
      ['text-like', textBytes(chunk, 5)],
      ['random', randomBytes(chunk, 6)],
    ];
    const rounds = 200;
    const lines: string[] = [];
    const mbps = (ms: number) => ((rounds * chunk) / 1e6 / (ms / 1000)).toFixed(0).padStart(6);
    for (const [kind, data] of kinds) {
      const block = new Uint8Array(chunk - 1);
      const out = new Uint8Array(chunk);
      let size = 0;
      let started = performance.now();
      for (let i = 0; i < rounds; i++) size = native.lz4Compress(data, block);
      const compressMs = performance.now() - started;
      const stored = size > 0 ? block.subarray(0, size) : data;
      started = performance.now();
      for (let i = 0; i < rounds && size > 0; i++) native.lz4Decompress(stored, out);
      const decompressMs = performance.now() - started;
      started = performance.now();
      let crc = 0;
      for (let i = 0; i < rounds; i++) crc = native.crc32c(data, crc);
      const crcMs = performance.now() - started;

      if (size > 0) expect(Buffer.from(out).equals(Buffer.from(data))).toBe(true);
      expect(crc).toBe(Array.from({ length: rounds }).reduce<number>((c) => typescriptCodec.crc32c(data, c), 0));
      lines.push(
        `${kind.padEnd(9)} lz4 compress ${mbps(compressMs)} MB/s  decompress ${size > 0 ? mbps(decompressMs) : '   raw'} MB/s  ` +
          `crc32c ${mbps(crcMs)} MB/s  stored ${size > 0 ? size : chunk} of ${chunk} bytes`,
      );
    }
    console.log(`native codec, 128 KiB chunks, ${rounds} rounds:\n${lines.join('\n')}`);
  });
});
