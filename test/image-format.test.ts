import { describe, expect, it } from 'vitest';
import { HiberkitError } from '../lib/errors.js';
import { crc32c } from '../lib/codec/index.js';
import {
  CHUNK_HEADER_BYTES,
  CODEC_LZ4,
  EXTENTS_PER_MAP_PAGE,
  FORMAT_VERSION,
  MARKER_OFFSET,
  SECURITY_BLOCK_BYTES,
  SECURITY_BLOCK_OFFSET,
  assertMarkable,
  classifyResumePage,
  decodeChunkHeader,
  decodeExtentMapPage,
  decodeHeader,
  decodeMarker,
  decodeSecurityBlock,
  encodeChunkHeader,
  encodeExtentMapPage,
  encodeHeader,
  headerMacInput,
  markResumePage,
  pageContentCrc,
  restoreOriginalPage,
  type ImageHeader,
  type SecurityBlock,
} from '../lib/image/format.js';
import { randomBytes, swapHeaderPage } from './image-support.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof HiberkitError) return err.code;
    throw err;
  }
  return 'no error';
}

const latin1 = (page: Uint8Array, from: number, to: number) => Buffer.from(page.subarray(from, to)).toString('latin1');

const header: ImageHeader = {
  version: FORMAT_VERSION,
  compressed: true,
  platformMode: true,
  streamPages: 70001,
  storedBytes: 123_456_789,
  chunkPages: 32,
  chunkCount: 2188,
  streamCrc32c: 0xdeadbeef,
  extentMapPage: 4242,
  extentMapPages: 2,
  extentCount: 300,
  extentMapCrc32c: 0x01020304,
  createdAtMs: 1_760_000_000_123,
  kernelRelease: '6.1.0-27-cloud-amd64',
  machineId: 'f00dfeedf00dfeedf00dfeedf00dfeed',
  encrypted: false,
};

describe('resume page marker', () => {
  const original = swapHeaderPage(262143);

  it('puts the layout of docs/image-format.md at the end of the page and keeps bytes 0..4047', () => {
    const marked = markResumePage(original, 123456, 0xcafef00d);
    const view = new DataView(marked.buffer);
    expect(Buffer.from(marked.subarray(0, MARKER_OFFSET)).equals(Buffer.from(original.subarray(0, MARKER_OFFSET)))).toBe(true);
    expect(view.getBigUint64(4048, true)).toBe(123456n);
    expect(view.getUint32(4056, true)).toBe(0xcafef00d);
    expect(marked.subarray(4064, 4076).every((b) => b === 0)).toBe(true);
    expect(latin1(marked, 4076, 4086)).toBe('SWAPSPACE2');
    expect(latin1(marked, 4086, 4096)).toBe('HIBERKIT01');
    const withoutCrc = Uint8Array.from(marked.subarray(4048));
    withoutCrc.fill(0, 12, 16);
    expect(view.getUint32(4060, true)).toBe(crc32c(withoutCrc));
    expect(decodeMarker(marked)).toEqual({ headerPage: 123456, headerCrc32c: 0xcafef00d, originalSignature: 'SWAPSPACE2' });
  });

  it('never writes a signature the kernel, uswsusp or util-linux would act on', () => {
    const marked = latin1(markResumePage(original, 1, 2), 4086, 4096);
    for (const foreign of ['S1SUSPEND', 'S2SUSPEND', 'ULSUSPEND', 'LINHIB0001', 'SWAPSPACE2']) expect(marked.startsWith(foreign)).toBe(false);
  });

  it('rebuilds the original page exactly, for both swap signature versions, even with a damaged marker CRC', () => {
    for (const signature of ['SWAPSPACE2', 'SWAP-SPACE']) {
      const page = swapHeaderPage(1000, signature);
      const marked = markResumePage(page, 77, 88);
      expect(Buffer.from(restoreOriginalPage(marked)).equals(Buffer.from(page))).toBe(true);
      marked[4060] ^= 0xff;
      expect(Buffer.from(restoreOriginalPage(marked)).equals(Buffer.from(page))).toBe(true);
      expect(codeOf(() => decodeMarker(marked))).toBe('IMAGE_CORRUPT');
    }
  });

  it('refuses to mark anything but a clean swap header', () => {
    expect(codeOf(() => assertMarkable(original))).toBe('no error');
    const dirty = Uint8Array.from(original);
    dirty[4050] = 1;
    expect(codeOf(() => assertMarkable(dirty))).toBe('RESUME_PAGE_NOT_SWAP');
    expect(codeOf(() => assertMarkable(swapHeaderPage(5, 'S1SUSPEND')))).toBe('FOREIGN_SIGNATURE');
    expect(codeOf(() => assertMarkable(swapHeaderPage(5, 'ULSUSPEND')))).toBe('FOREIGN_SIGNATURE');
    expect(codeOf(() => assertMarkable(swapHeaderPage(5, 'EXT4STUFF!')))).toBe('RESUME_PAGE_NOT_SWAP');
    expect(codeOf(() => assertMarkable(markResumePage(original, 1, 2)))).toBe('IMAGE_PRESENT');
    expect(codeOf(() => assertMarkable(swapHeaderPage(5, 'HIBERKIT02')))).toBe('IMAGE_PRESENT');
  });

  it('classifies resume pages by signature', () => {
    expect(classifyResumePage(original).kind).toBe('swap');
    expect(classifyResumePage(markResumePage(original, 1, 2)).kind).toBe('hiberkit');
    expect(classifyResumePage(swapHeaderPage(5, 'HIBERKIT02'))).toEqual({ kind: 'hiberkit-other-version', signature: 'HIBERKIT02' });
    expect(classifyResumePage(swapHeaderPage(5, 'S1SUSPEND'))).toMatchObject({ kind: 'foreign-image', signature: 'S1SUSPEND' });
    expect(classifyResumePage(new Uint8Array(4096))).toEqual({ kind: 'unknown', signature: '' });
    expect(codeOf(() => restoreOriginalPage(swapHeaderPage(5, 'HIBERKIT02')))).toBe('UNSUPPORTED_VERSION');
    expect(codeOf(() => restoreOriginalPage(original))).toBe('NO_IMAGE');
  });

  it('finds every changed byte of the marker', () => {
    const marked = markResumePage(original, 99, 0x12345678);
    for (let at = MARKER_OFFSET; at < 4086; at++) {
      const damaged = Uint8Array.from(marked);
      damaged[at] ^= 0x40;
      expect(codeOf(() => decodeMarker(damaged)), `byte ${at}`).toBe('IMAGE_CORRUPT');
    }
  });
});

describe('image header page', () => {
  it('round-trips every field', () => {
    expect(decodeHeader(encodeHeader(header))).toEqual(header);
    const plain = { ...header, compressed: false, platformMode: false, kernelRelease: '', machineId: 'ü'.repeat(32) };
    expect(decodeHeader(encodeHeader(plain))).toEqual(plain);
  });

  it('keeps the security block zero and in place', () => {
    const page = encodeHeader(header);
    expect(SECURITY_BLOCK_OFFSET + SECURITY_BLOCK_BYTES).toBeLessThanOrEqual(4092);
    expect(page.subarray(SECURITY_BLOCK_OFFSET, SECURITY_BLOCK_OFFSET + SECURITY_BLOCK_BYTES).every((b) => b === 0)).toBe(true);
  });

  it('rejects a changed byte anywhere in the page', () => {
    const page = encodeHeader(header);
    for (let at = 0; at < 4096; at += 7) {
      const damaged = Uint8Array.from(page);
      damaged[at] ^= 0x01;
      expect(codeOf(() => decodeHeader(damaged)), `byte ${at}`).toMatch(/^(IMAGE_CORRUPT|UNSUPPORTED_VERSION)$/);
    }
  });

  /** A header page with one field changed and a freshly computed CRC, as a newer writer would make. */
  function resealed(edit: (view: DataView) => void): Uint8Array {
    const page = encodeHeader(header);
    const view = new DataView(page.buffer);
    edit(view);
    view.setUint32(4092, crc32c(page.subarray(0, 4092)), true);
    return page;
  }

  it('tells another version or unknown features from corruption', () => {
    expect(codeOf(() => decodeHeader(resealed((v) => v.setUint32(8, 2, true))))).toBe('UNSUPPORTED_VERSION');
    expect(codeOf(() => decodeHeader(resealed((v) => v.setUint32(12, 0b0111, true))))).toBe('UNSUPPORTED_VERSION');
    expect(codeOf(() => decodeHeader(resealed((v) => v.setUint32(12, 0x100, true))))).toBe('UNSUPPORTED_VERSION');
    expect(codeOf(() => decodeHeader(resealed((v) => v.setUint8(SECURITY_BLOCK_OFFSET + 5, 1))))).toBe('IMAGE_CORRUPT');
  });

  it('rejects counts that do not agree', () => {
    expect(codeOf(() => decodeHeader(resealed((v) => v.setBigUint64(32, 2187n, true))))).toBe('IMAGE_CORRUPT');
    expect(codeOf(() => decodeHeader(resealed((v) => v.setUint32(40, 0, true))))).toBe('IMAGE_CORRUPT');
    expect(codeOf(() => decodeHeader(resealed((v) => v.setBigUint64(56, 3n, true))))).toBe('IMAGE_CORRUPT');
    expect(codeOf(() => decodeHeader(resealed((v) => v.setBigUint64(16, 2n ** 60n, true))))).toBe('IMAGE_CORRUPT');
    expect(codeOf(() => decodeHeader(resealed((v) => v.setUint8(88 + 64, 0x41))))).toBe('IMAGE_CORRUPT');
  });

  it('refuses identity strings the 65-byte fields cannot hold', () => {
    expect(() => encodeHeader({ ...header, kernelRelease: 'x'.repeat(65) })).toThrow(RangeError);
    expect(() => encodeHeader({ ...header, machineId: 'a\0b' })).toThrow(RangeError);
    expect(decodeHeader(encodeHeader({ ...header, kernelRelease: 'x'.repeat(64) })).kernelRelease).toBe('x'.repeat(64));
  });
});

describe('security block of an encrypted header', () => {
  const encrypted: ImageHeader = { ...header, encrypted: true };
  const security: SecurityBlock = {
    keyBlock: randomBytes(128, 1),
    imageId: randomBytes(16, 2),
    extentMapSha256: randomBytes(32, 3),
    originalSignature: 'SWAP-SPACE',
    headerMac: randomBytes(16, 4),
    originSignature: null,
  };
  const bytesAt = (page: Uint8Array, from: number, length: number) => Buffer.from(page.subarray(from, from + length));

  it('puts each field where docs/image-format.md says, sets flag bits 2 and 3, and round-trips', () => {
    const page = encodeHeader(encrypted, security);
    expect(new DataView(page.buffer).getUint32(12, true)).toBe(0b1111);
    expect(bytesAt(page, 1024, 128).equals(Buffer.from(security.keyBlock))).toBe(true);
    expect(bytesAt(page, 1152, 16).equals(Buffer.from(security.imageId))).toBe(true);
    expect(bytesAt(page, 1168, 32).equals(Buffer.from(security.extentMapSha256))).toBe(true);
    expect(latin1(page, 1200, 1210)).toBe('SWAP-SPACE');
    expect(bytesAt(page, 1216, 16).equals(Buffer.from(security.headerMac))).toBe(true);
    expect(page.subarray(1232, 4092).every((b) => b === 0)).toBe(true);
    expect(decodeHeader(page)).toEqual(encrypted);
    expect(decodeSecurityBlock(page)).toEqual(security);
  });

  it('has the MAC cover the whole page but the MAC itself and the CRC', () => {
    const page = encodeHeader(encrypted, security);
    const input = headerMacInput(page);
    const differs = Array.from(input.keys()).filter((i) => input[i] !== page[i]);
    expect(differs.every((i) => (i >= 1216 && i < 1232) || i >= 4092)).toBe(true);
    expect(input.subarray(1216, 1232).every((b) => b === 0) && input.subarray(4092).every((b) => b === 0)).toBe(true);
  });

  it('refuses data in its reserved bytes, a kept signature that is not swap, and mismatched arguments', () => {
    const resealedWith = (offset: number, value: number) => {
      const page = encodeHeader(encrypted, security);
      page[offset] = value;
      new DataView(page.buffer).setUint32(4092, crc32c(page.subarray(0, 4092)), true);
      return page;
    };
    for (const offset of [1210, 1215, 1232, 3071, 3072, 4091]) expect(codeOf(() => decodeHeader(resealedWith(offset, 1))), `byte ${offset}`).toBe('IMAGE_CORRUPT');
    expect(codeOf(() => decodeHeader(resealedWith(1200, 0x41)))).toBe('IMAGE_CORRUPT');
    expect(() => encodeHeader(encrypted)).toThrow(RangeError);
    expect(() => encodeHeader(header, security)).toThrow(RangeError);
    expect(() => encodeHeader(encrypted, { ...security, imageId: new Uint8Array(15) })).toThrow(RangeError);
    expect(() => encodeHeader(encrypted, { ...security, originalSignature: 'HIBERKIT01' })).toThrow(RangeError);
  });
});

describe('pageContentCrc', () => {
  it('tells valid pages apart, which the CRC32C of a whole page ending in its own CRC cannot', () => {
    const pages = [encodeExtentMapPage(0, [{ startPage: 5, pageCount: 3 }], 0), encodeExtentMapPage(0, [{ startPage: 6, pageCount: 3 }], 0), encodeHeader(header)];
    expect(new Set(pages.map((page) => crc32c(page))).size).toBe(1);
    expect(new Set(pages.map((page) => pageContentCrc(page))).size).toBe(3);
    expect(pageContentCrc(pages[1], pageContentCrc(pages[0]))).toBe(crc32c(Buffer.concat([pages[0].subarray(0, 4092), pages[1].subarray(0, 4092)])));
  });
});

describe('extent map page', () => {
  const extents = Array.from({ length: EXTENTS_PER_MAP_PAGE }, (_, i) => ({ startPage: 1000 + i * 3, pageCount: 1 + (i % 3) }));

  it('round-trips a full page and a short one', () => {
    expect(decodeExtentMapPage(encodeExtentMapPage(3, extents, 555), 3)).toEqual({ extents, nextPage: 555 });
    expect(decodeExtentMapPage(encodeExtentMapPage(0, extents.slice(0, 1), 0), 0)).toEqual({ extents: extents.slice(0, 1), nextPage: 0 });
    expect(() => encodeExtentMapPage(0, [...extents, extents[0]], 0)).toThrow(RangeError);
  });

  it('rejects a page from the wrong place in the chain, and any changed byte', () => {
    const page = encodeExtentMapPage(1, extents.slice(0, 10), 7);
    expect(codeOf(() => decodeExtentMapPage(page, 2))).toBe('IMAGE_CORRUPT');
    for (let at = 0; at < 4096; at += 13) {
      const damaged = Uint8Array.from(page);
      damaged[at] ^= 0x80;
      expect(codeOf(() => decodeExtentMapPage(damaged, 1)), `byte ${at}`).toBe('IMAGE_CORRUPT');
    }
  });
});

describe('chunk record header', () => {
  it('round-trips at any offset and rejects any changed byte', () => {
    const buf = new Uint8Array(100);
    const chunk = { index: 7, rawBytes: 131072, storedBytes: 4242, codec: CODEC_LZ4, payloadCrc32c: 0xabcdef01 } as const;
    encodeChunkHeader(buf, 3, chunk);
    expect(decodeChunkHeader(buf, 3, false)).toEqual(chunk);
    expect(latin1(buf, 3, 7)).toBe('HKCK');
    for (let at = 3; at < 3 + CHUNK_HEADER_BYTES; at++) {
      const damaged = Uint8Array.from(buf);
      damaged[at] ^= 0x10;
      expect(codeOf(() => decodeChunkHeader(damaged, 3, false)), `byte ${at}`).toBe('IMAGE_CORRUPT');
    }
    expect(codeOf(() => decodeChunkHeader(buf, 60, false))).toBe('IMAGE_CORRUPT');
  });

  it('carries an encrypted chunk’s tag, and refuses a tag in a plain image', () => {
    const buf = new Uint8Array(CHUNK_HEADER_BYTES);
    const chunk = { index: 1, rawBytes: 8192, storedBytes: 8192, codec: 0, payloadCrc32c: 5, tag: randomBytes(16, 9) } as const;
    encodeChunkHeader(buf, 0, chunk);
    expect(Buffer.from(buf.subarray(24, 40)).equals(Buffer.from(chunk.tag))).toBe(true);
    expect(decodeChunkHeader(buf, 0, true)).toEqual(chunk);
    expect(codeOf(() => decodeChunkHeader(buf, 0, false))).toBe('IMAGE_CORRUPT');
    expect(() => encodeChunkHeader(buf, 0, { ...chunk, tag: new Uint8Array(8) })).toThrow(RangeError);
  });
});
