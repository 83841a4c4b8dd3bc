import { describe, expect, it } from 'vitest';
import { crc32c, codecName, nativeCodec, typescriptCodec } from '../lib/codec/index.js';
import { requireNative } from '../lib/native/binding.js';
import { randomBytes } from './image-support.js';

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
const implementations: [string, (data: Uint8Array, seed?: number) => number][] = [
  ['TypeScript (slicing-by-8)', typescriptCodec.crc32c],
  [`native (${native.crc32cImplementation})`, (data, seed) => native.crc32c!(data, seed)],
  ['native table path', (data, seed) => native.crc32cTable!(data, seed)],
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
