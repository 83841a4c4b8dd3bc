import { describe, expect, it } from 'vitest';
import { crc32c, crc32cCombine, codecName, nativeCodec, typescriptCodec } from '../lib/codec/index.js';
import { requireNative } from '../lib/native/binding.js';
import { randomBytes, seededRandom } from './image-support.js';
import { loadTestBinding } from './native-test-binding.js';

const ascii = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));

/** Check values: the classic "123456789" and the iSCSI test patterns of RFC 3720 §B.4. */
const VECTORS: [string, Uint8Array, number][] = [
  ['123456789', ascii('123456789'), 0xe3069283],
  ['empty', new Uint8Array(0), 0],
  ['32 zero bytes', new Uint8Array(32), 0x8a9136aa],
  ['32 bytes of 0xff', new Uint8Array(32).fill(0xff), 0x62a8ab43],
  ['32 ascending bytes', Uint8Array.from({ length: 32 }, (_, i) => i), 0x46dd794e],
  ['32 descending bytes', Uint8Array.from({ length: 32 }, (_, i) => 31 - i), 0x113fdb5c],
];

const native = requireNative();
const testAddon = loadTestBinding();
const implementations: [string, (data: Uint8Array, seed?: number) => number][] = [
  ['TypeScript (slicing-by-8)', typescriptCodec.crc32c],
  [`native (${testAddon.crc32cImplementation})`, (data, seed) => native.crc32c!(data, seed)],
  ['native table path', (data, seed) => testAddon.crc32cTable(data, seed)],
];

describe.each(implementations)('crc32c, %s', (_name, crc) => {
  it.each(VECTORS)('matches the check value for %s', (_label, data, expected) => {
    expect(crc(data)).toBe(expected);
  });

  it('continues over pieces: crc(b, crc(a)) = crc(a ++ b), at every split point', () => {
    const data = randomBytes(100, 5);
    const whole = crc(data);
    for (let split = 0; split <= data.length; split++) {
      expect(crc(data.subarray(split), crc(data.subarray(0, split)))).toBe(whole);
    }
  });

  it('reads only its view of a larger buffer (odd offsets and lengths)', () => {
    const big = randomBytes(4096 + 64, 6);
    for (const [start, length] of [[1, 4095], [3, 17], [7, 4096], [0, 9]] as const) {
      const view = big.subarray(start, start + length);
      expect(crc(view)).toBe(typescriptCodec.crc32c(Uint8Array.from(view)));
    }
  });
});

describe('crc32c selection', () => {
  it('uses the native codec when the addon is loaded, and it agrees with TypeScript on large random data', () => {
    expect(nativeCodec()).not.toBeNull();
    expect(codecName).toBe('native');
    for (let seed = 1; seed <= 20; seed++) {
      const data = randomBytes(1 + ((seed * 7919) % 70000), seed);
      expect(crc32c(data)).toBe(typescriptCodec.crc32c(data));
    }
  });

  it('detects every single-bit flip of a page', () => {
    const page = randomBytes(4096, 8);
    const reference = crc32c(page);
    for (let bit = 0; bit < page.length * 8; bit += 61) {
      page[bit >> 3] ^= 1 << (bit & 7);
      expect(crc32c(page)).not.toBe(reference);
      page[bit >> 3] ^= 1 << (bit & 7);
    }
  });
});

const combiners: [string, (crcA: number, crcB: number, lengthB: number) => number][] = [
  ['TypeScript', typescriptCodec.crc32cCombine],
  ['native', (crcA, crcB, lengthB) => native.crc32cCombine!(crcA, crcB, lengthB)],
];

describe.each(combiners)('crc32cCombine, %s', (_name, combine) => {
  it('gives the CRC of a concatenation, for lengths of B from 0 to 1 MiB', () => {
    const random = seededRandom(31);
    const lengths = [0, 1, 2, 3, 7, 8, 9, 4095, 4096, 4097, 65536, 1 << 20];
    for (let i = 0; i < 24; i++) lengths.push(Math.floor(random() * 200_000));
    lengths.forEach((lengthB, i) => {
      const a = randomBytes(Math.floor(random() * 5000), 100 + i);
      const b = randomBytes(lengthB, 200 + i);
      const whole = typescriptCodec.crc32c(Buffer.concat([a, b]));
      expect(combine(crc32c(a), crc32c(b), lengthB), `|A| = ${a.length}, |B| = ${lengthB}`).toBe(whole);
    });
  });

  it('leaves the CRC of A unchanged when B is empty, and gives CRC(B) when A is empty', () => {
    const b = randomBytes(333, 12);
    expect(combine(0xdeadbeef, 0, 0)).toBe(0xdeadbeef);
    expect(combine(0, crc32c(b), b.length)).toBe(crc32c(b));
  });

  it('is associative, also for lengths beyond 32 bits (the high table entries)', () => {
    const random = seededRandom(47);
    for (let i = 0; i < 50; i++) {
      const [a, b, c] = [random(), random(), random()].map((r) => Math.floor(r * 0xffffffff) >>> 0);
      const lengthB = Math.floor(random() * 2 ** 52);
      const lengthC = Math.floor(random() * 2 ** 40);
      expect(combine(combine(a, b, lengthB), c, lengthC)).toBe(combine(a, combine(b, c, lengthC), lengthB + lengthC));
    }
  });

  it('shifts over zeros: CRC(0^(m+n)) from CRC(0^m) and CRC(0^n)', () => {
    const zeros = (n: number) => crc32c(new Uint8Array(n));
    for (const [m, n] of [[1, 1], [100, 4096], [65536, 12345]]) expect(combine(zeros(m), zeros(n), n)).toBe(zeros(m + n));
  });

  it('refuses arguments that are not 32-bit CRCs or byte counts', () => {
    const cases: [number, number, number][] = [[-1, 0, 0], [0, 2 ** 32, 0], [0, 0, -1], [0, 0, 1.5], [0.5, 0, 0]];
    for (const [crcA, crcB, lengthB] of cases) {
      expect(() => combine(crcA, crcB, lengthB), `${crcA}, ${crcB}, ${lengthB}`).toThrow(RangeError);
    }
  });
});

describe('crc32cCombine selection', () => {
  it('native and TypeScript agree on random arguments', () => {
    const random = seededRandom(53);
    for (let i = 0; i < 500; i++) {
      const crcA = Math.floor(random() * 2 ** 32);
      const crcB = Math.floor(random() * 2 ** 32);
      const lengthB = Math.floor(random() * 2 ** (1 + (i % 53)));
      expect(crc32cCombine(crcA, crcB, lengthB)).toBe(typescriptCodec.crc32cCombine(crcA, crcB, lengthB));
    }
  });
});
