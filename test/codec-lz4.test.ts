import { describe, expect, it } from 'vitest';
import { LZ4_MALFORMED, lz4CompressBound, nativeCodec, typescriptCodec, type Codec } from '../lib/codec/index.js';
import { randomBytes, seededRandom, textBytes } from './image-support.js';

const PAGE = 4096;

interface Sequence {
  literals: number;
  /** Output position where the match starts, and its length; absent in the last sequence. */
  match?: { start: number; length: number; offset: number };
}

/** Splits a well-formed block into its sequences (test oracle, independent of the codecs). */
function parseBlock(block: Uint8Array): Sequence[] {
  const sequences: Sequence[] = [];
  let ip = 0;
  let out = 0;
  const readLength = (base: number): number => {
    let length = base;
    if (base === 15) {
      let byte: number;
      do {
        byte = block[ip++];
        length += byte;
      } while (byte === 255);
    }
    return length;
  };
  for (;;) {
    const token = block[ip++];
    const literals = readLength(token >> 4);
    ip += literals;
    out += literals;
    if (ip === block.length) {
      sequences.push({ literals });
      return sequences;
    }
    const offset = block[ip] | (block[ip + 1] << 8);
    ip += 2;
    const length = readLength(token & 15) + 4;
    sequences.push({ literals, match: { start: out, length, offset } });
    out += length;
  }
}

function compress(codec: Codec, data: Uint8Array, capacity = lz4CompressBound(data.length)): Uint8Array | null {
  const dst = new Uint8Array(capacity);
  const n = codec.lz4Compress(data, dst);
  return n === 0 ? null : dst.subarray(0, n);
}

function roundTrip(codec: Codec, data: Uint8Array): Uint8Array {
  const block = compress(codec, data);
  expect(block).not.toBeNull();
  const out = new Uint8Array(data.length);
  expect(codec.lz4Decompress(block!, out)).toBe(data.length);
  expect(Buffer.from(out).equals(Buffer.from(data))).toBe(true);
  return block!;
}

/** The format's end-of-block rules, checked on our output. */
function expectEndRules(block: Uint8Array, inputLength: number): void {
  const sequences = parseBlock(block);
  expect(sequences[sequences.length - 1].match).toBeUndefined();
  const broken = sequences.filter(
    ({ match }) =>
      match &&
      (match.start > inputLength - 12 || // no match starts within the last 12 bytes
        match.start + match.length > inputLength - 5 || // the last 5 bytes are literals
        match.offset < 1 ||
        match.offset > 65535),
  );
  expect(broken).toEqual([]);
}

const native = nativeCodec();
const codecs: [string, Codec][] = [
  ['TypeScript', typescriptCodec],
  ['native', native ?? typescriptCodec],
];

describe('the native LZ4 codec', () => {
  it('is loaded (the addon is built before the tests)', () => {
    expect(native?.name).toBe('native');
  });
});

describe.each(codecs)('LZ4 block codec, %s', (_name, codec) => {
  it('round-trips zero pages into a few hundred bytes', () => {
    for (const pages of [1, 2, 32]) {
      const block = roundTrip(codec, new Uint8Array(pages * PAGE));
      expect(block.length).toBeLessThan(16 + (pages * PAGE) / 255);
      expectEndRules(block, pages * PAGE);
    }
  });

  it('round-trips text-like pages and shrinks them', () => {
    for (let seed = 1; seed <= 8; seed++) {
      const data = textBytes(32 * PAGE, seed);
      const block = roundTrip(codec, data);
      expect(block.length).toBeLessThan(data.length * 0.6);
      expectEndRules(block, data.length);
    }
  });

  it('round-trips random pages, and says random data does not shrink', () => {
    for (let seed = 1; seed <= 8; seed++) {
      const data = randomBytes(32 * PAGE, seed);
      expectEndRules(roundTrip(codec, data), data.length);
      expect(compress(codec, data, data.length - 1)).toBeNull();
    }
  });

  it('round-trips every tiny input length, with the end rules held', () => {
    for (let length = 0; length <= 40; length++) {
      for (const data of [new Uint8Array(length), new Uint8Array(length).fill(7), randomBytes(length, length), textBytes(length, length)]) {
        const block = roundTrip(codec, data);
        expectEndRules(block, length);
      }
    }
    // Below 13 bytes no match is allowed at all: one literal-only sequence.
    expect(parseBlock(compress(codec, new Uint8Array(12))!)).toEqual([{ literals: 12 }]);
    expect(compress(codec, new Uint8Array(0))).toEqual(Uint8Array.of(0));
  });

  it('encodes literal and match lengths at the 15/255 boundaries', () => {
    for (const literals of [14, 15, 16, 269, 270, 271, 525]) {
      for (const repeat of [3, 4, 18, 19, 20, 273, 274, 275, 600]) {
        const head = randomBytes(literals, literals * 1000 + repeat);
        const data = new Uint8Array(literals + 8 + repeat + 20);
        data.set(head);
        data.set(randomBytes(8, 99), literals);
        for (let i = 0; i < repeat; i++) data[literals + 8 + i] = data[literals + (i % 8)];
        data.set(randomBytes(20, 7), literals + 8 + repeat);
        expectEndRules(roundTrip(codec, data), data.length);
      }
    }
  });

  it('finds matches up to 65535 bytes back and never further', () => {
    const block = randomBytes(300, 11);
    for (const gap of [65535 - 300, 65535 - 299, 70000]) {
      const data = new Uint8Array(300 + gap + 300 + 32);
      data.set(block, 0);
      data.set(randomBytes(gap, gap), 300);
      data.set(block, 300 + gap);
      const out = roundTrip(codec, data);
      expectEndRules(out, data.length);
      const farMatch = parseBlock(out).some((s) => s.match && s.match.offset === 300 + gap);
      expect(farMatch).toBe(300 + gap <= 65535);
    }
  });

  it('fails cleanly when the output does not fit, and succeeds with exactly enough room', () => {
    const data = textBytes(8 * PAGE, 3);
    const fitted = compress(codec, data)!;
    expect(compress(codec, data, fitted.length)).toEqual(fitted);
    for (const capacity of [fitted.length - 1, fitted.length >> 1, 1, 0]) expect(compress(codec, data, capacity)).toBeNull();
  });

  it('rejects malformed blocks', () => {
    const out = new Uint8Array(64);
    const cases: [string, number[]][] = [
      ['empty input', []],
      ['literal run past the input', [0x50, 1, 2]],
      ['unterminated literal length', [0xf0, 255, 255]],
      ['half an offset', [0x14, 1, 5]],
      ['offset 0', [0x10, 1, 0, 0, 0x00]],
      ['offset before the start', [0x10, 1, 2, 0, 0x00]],
      ['unterminated match length', [0x1f, 1, 1, 0, 255]],
      ['match ending the block', [0x10, 1, 1, 0]],
      ['output overflow', [0x1f, 1, 1, 0, 100, 0x00]],
    ];
    for (const [label, bytes] of cases) {
      expect(codec.lz4Decompress(Uint8Array.from(bytes), out), label).toBe(LZ4_MALFORMED);
    }
    // The smallest well-formed block with a match: 1 literal, a 4-byte match at offset 1, 1 literal.
    const minimal = Uint8Array.of(0x10, 9, 1, 0, 0x10, 8);
    const exact = new Uint8Array(6);
    expect(codec.lz4Decompress(minimal, exact)).toBe(6);
    expect(Array.from(exact)).toEqual([9, 9, 9, 9, 9, 8]);
    expect(codec.lz4Decompress(minimal, new Uint8Array(5))).toBe(LZ4_MALFORMED);
  });

  it('survives random corruption: a clean answer, no write outside its output', () => {
    const random = seededRandom(2024);
    const sources = [textBytes(4 * PAGE, 1), new Uint8Array(4 * PAGE), randomBytes(2 * PAGE, 2)];
    const guard = 64;
    const arena = new Uint8Array(guard + 4 * PAGE + guard);
    const output = arena.subarray(guard, guard + 4 * PAGE);
    for (const source of sources) {
      const block = compress(codec, source)!;
      for (let trial = 0; trial < 400; trial++) {
        const damaged = Uint8Array.from(block);
        const mode = trial % 4;
        if (mode === 0) damaged[Math.floor(random() * damaged.length)] ^= 1 + Math.floor(random() * 255);
        else if (mode === 1) for (let k = 0; k < 8; k++) damaged[Math.floor(random() * damaged.length)] = Math.floor(random() * 256);
        const input = mode === 2 ? damaged.subarray(0, Math.floor(random() * damaged.length)) : mode === 3 ? randomBytes(1 + Math.floor(random() * 600), trial) : damaged;
        arena.fill(0xa5);
        const n = codec.lz4Decompress(input, output);
        expect(n === LZ4_MALFORMED || (n >= 0 && n <= output.length)).toBe(true);
        expect(arena.subarray(0, guard).every((b) => b === 0xa5)).toBe(true);
        expect(arena.subarray(guard + output.length).every((b) => b === 0xa5)).toBe(true);
      }
    }
  });
});
