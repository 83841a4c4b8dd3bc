/**
 * The TypeScript writer and reader together: every image the writer makes loads back to the exact
 * stream, the write order leaves no half image looking valid, and every kind of damage or mismatch
 * is refused with its own error code.
 */
import { describe, expect, it } from 'vitest';
import { HiberkitError } from '../lib/errors.js';
import { PAGE_SIZE } from '../lib/ioctls.js';
import { crc32c } from '../lib/codec/index.js';
import { ImageWriter, invalidateImage } from '../lib/image/writer.js';
import { loadImage, readMarker } from '../lib/image/reader.js';
import { markResumePage } from '../lib/image/format.js';
import {
  MemoryBlockDevice,
  allocationPatterns,
  codeOf,
  expectSame,
  expectSameBytes,
  listAllocator,
  randomBytes,
  seededRandom,
  snapshotLikeStream,
  streamOf,
  swapDevice,
  testIdentity,
  writeImage,
} from './image-support.js';

describe('TypeScript writer → reader round trip', () => {
  const streams: [string, Uint8Array][] = [
    ['snapshot-like 300 pages', snapshotLikeStream(300, 1)],
    ['zeros 100 pages', new Uint8Array(100 * PAGE_SIZE)],
    ['random 40 pages', randomBytes(40 * PAGE_SIZE, 2)],
    ['one page', randomBytes(PAGE_SIZE, 3)],
  ];
  const patterns: [string, (n: number) => number[]][] = [
    ['contiguous', (n) => allocationPatterns.contiguous(n, 1)],
    ['scattered', (n) => allocationPatterns.scattered(n, 3)],
    ['descending runs', (n) => allocationPatterns.descendingRuns(n, 2 * n + 10, 7)],
    ['shuffled', (n) => allocationPatterns.shuffled(n, 1, n)],
  ];
  const shapes = [
    { compression: 'lz4', chunkPages: 32, ioBytes: 64 * 1024, feedPages: 64 },
    { compression: 'lz4', chunkPages: 7, ioBytes: 4096, feedPages: 5 },
    { compression: 'none', chunkPages: 1, ioBytes: 3 * 4096, feedPages: 1 },
    { compression: 'lz4', chunkPages: 4096, ioBytes: 1 << 20, feedPages: 1000 },
  ] as const;

  for (const [streamLabel, stream] of streams) {
    for (const [patternLabel, pattern] of patterns) {
      for (const shape of shapes) {
        it(`${streamLabel}, ${patternLabel} pages, ${shape.compression} ${shape.chunkPages}-page chunks, ${shape.ioBytes}-byte batches`, async () => {
          const streamPages = stream.length / PAGE_SIZE;
          const pages = pattern(streamPages * 2 + 8);
          const { device, summary } = writeImage({ stream, pages, ...shape, devicePages: Math.max(...pages) + 2 });
          const image = await loadImage(device, 0, expectSame);
          expectSameBytes(await streamOf(image, 17), stream);
          expect(image.header).toMatchObject({
            streamPages,
            storedBytes: summary.storedBytes,
            compressed: shape.compression === 'lz4',
            chunkPages: shape.chunkPages,
            chunkCount: Math.ceil(streamPages / shape.chunkPages),
            extentCount: summary.extents,
            ...testIdentity,
          });
          if (patternLabel === 'contiguous') expect(summary.extents).toBe(1);
          if (patternLabel === 'scattered') expect(summary.extents).toBe(Math.ceil(summary.storedBytes / PAGE_SIZE));
        });
      }
    }
  }

  it('stores zero pages in a fraction of their size and random pages raw', () => {
    const zeros = writeImage({ stream: new Uint8Array(256 * PAGE_SIZE) }).summary;
    expect(zeros.storedBytes).toBeLessThan(256 * PAGE_SIZE * 0.01);
    const random = writeImage({ stream: randomBytes(64 * PAGE_SIZE, 5) }).summary;
    expect(random.storedBytes).toBe(64 * PAGE_SIZE + 2 * 48);
  });

  it('yields batches of any size that add up to the stream', async () => {
    const stream = snapshotLikeStream(97, 4);
    const { device } = writeImage({ stream, chunkPages: 8 });
    const image = await loadImage(device, 0, expectSame);
    for (const batch of [1, 3, 8, 97, 1000]) expectSameBytes(await streamOf(image, batch), stream);
  });

  it('spreads the extent map over chained pages when there are many extents', async () => {
    const stream = randomBytes(600 * PAGE_SIZE, 6);
    const pages = allocationPatterns.scattered(700, 2);
    const { device, summary } = writeImage({ stream, pages, devicePages: 1500, compression: 'none' });
    const image = await loadImage(device, 0, expectSame);
    expect(summary.extents).toBeGreaterThan(2 * 254);
    expect(image.header.extentMapPages).toBe(Math.ceil(summary.extents / 254));
    expectSameBytes(await streamOf(image), stream);
  });

  it('works with the resume page in the middle of the device (a swap file)', async () => {
    const stream = snapshotLikeStream(50, 7);
    const pages = [...allocationPatterns.contiguous(40, 1), ...allocationPatterns.contiguous(100, 101)];
    const { device } = writeImage({ stream, pages, resumePage: 100, devicePages: 300 });
    expectSameBytes(await streamOf(await loadImage(device, 100, expectSame)), stream);
  });
});

describe('write order', () => {
  it('writes chunks, flushes, writes map and header, flushes, then the resume page and flushes', () => {
    const { device, summary } = writeImage({ stream: snapshotLikeStream(200, 8), ioBytes: 16 * 4096 });
    const events = device.events;
    const last = events.length - 1;
    expect(events[last]).toEqual({ kind: 'flush' });
    expect(events[last - 1]).toEqual({ kind: 'write', page: 0, pages: 1 });
    expect(events[last - 2]).toEqual({ kind: 'flush' });
    expect(events[last - 3]).toEqual({ kind: 'write', page: summary.headerPage, pages: 1 });
    const flushes = events.flatMap((e, i) => (e.kind === 'flush' ? [i] : []));
    expect(flushes).toHaveLength(3);
    // Before the first flush: only chunk stream writes, in large batches (16 pages here).
    const chunkWrites = events.slice(0, flushes[0]);
    expect(chunkWrites.every((e) => e.kind === 'write' && e.page !== 0 && e.page !== summary.headerPage)).toBe(true);
    expect(chunkWrites.slice(0, -1).every((e) => e.kind === 'write' && e.pages === 16)).toBe(true);
  });

  it('leaves no image behind when the writer stops before finish()', async () => {
    const { device, original } = swapDevice(400);
    const writer = new ImageWriter({
      storage: device,
      allocator: listAllocator(allocationPatterns.contiguous(399)),
      resumePage: 0,
      originalResumePage: original,
      identity: testIdentity,
      compression: 'lz4',
      chunkPages: 8,
      streamPages: 100,
      ioBytes: 4096,
    });
    writer.writePages(snapshotLikeStream(99, 9));
    expect(readMarker(device, 0)).toBeNull();
    expect(await codeOf(loadImage(device, 0, expectSame))).toBe('NO_IMAGE');
    expect(() => writer.finish()).toThrow(RangeError);
  });
});

describe('what loadImage refuses, and why', () => {
  const stream = snapshotLikeStream(120, 10);

  it('NO_IMAGE on a plain swap header', async () => {
    const { device } = swapDevice(10);
    expect(readMarker(device, 0)).toBeNull();
    expect(await codeOf(loadImage(device, 0, expectSame))).toBe('NO_IMAGE');
  });

  it("FOREIGN_SIGNATURE on the kernel's, uswsusp's or a non-swap page, UNSUPPORTED_VERSION on another marker version", async () => {
    for (const [signature, code] of [
      ['S1SUSPEND\0', 'FOREIGN_SIGNATURE'],
      ['ULSUSPEND\0', 'FOREIGN_SIGNATURE'],
      ['\0\0\0\0\0\0\0\0\0\0', 'FOREIGN_SIGNATURE'],
      ['HIBERKIT99', 'UNSUPPORTED_VERSION'],
    ]) {
      const { device } = writeImage({ stream });
      device.bytes.set(Buffer.from(signature, 'latin1'), 4086);
      expect(await codeOf(loadImage(device, 0, expectSame)), signature).toBe(code);
      expect(() => readMarker(device, 0)).toThrow(HiberkitError);
    }
  });

  it('WRONG_MACHINE and WRONG_KERNEL, unless the check is skipped', async () => {
    const { device } = writeImage({ stream });
    expect(await codeOf(loadImage(device, 0, { ...expectSame, machineId: 'another' }))).toBe('WRONG_MACHINE');
    expect(await codeOf(loadImage(device, 0, { ...expectSame, kernelRelease: '6.12.0' }))).toBe('WRONG_KERNEL');
    expect(await codeOf(loadImage(device, 0, { kernelRelease: null, machineId: null }))).toBe('no error');
  });

  it('IMAGE_TRUNCATED when the device ends before the image does', async () => {
    const { device, summary } = writeImage({ stream, devicePages: 400 });
    const usedPages = Math.ceil(summary.storedBytes / PAGE_SIZE) + 1;
    for (const keep of [usedPages - 1, summary.headerPage, 1]) {
      const cut = new MemoryBlockDevice(device.bytes.subarray(0, keep * PAGE_SIZE));
      expect(await codeOf(loadImage(cut, 0, expectSame)), `${keep} pages`).toBe('IMAGE_TRUNCATED');
    }
  });

  it('IMAGE_CORRUPT for a changed byte anywhere in the image', async () => {
    const { device, summary } = writeImage({ stream, pages: allocationPatterns.shuffled(300, 1, 3), devicePages: 302 });
    const image = await loadImage(device, 0, expectSame);
    const used = [
      ...image.extents.flatMap((e) => Array.from({ length: e.pageCount }, (_, i) => e.startPage + i)),
      summary.headerPage,
      image.header.extentMapPage,
    ];
    const random = seededRandom(11);
    const clean = Uint8Array.from(device.bytes);
    for (let trial = 0; trial < 150; trial++) {
      const page = used[Math.floor(random() * used.length)];
      const at = page * PAGE_SIZE + Math.floor(random() * PAGE_SIZE);
      device.bytes[at] ^= 1 << Math.floor(random() * 8);
      expect(await codeOf(loadImage(device, 0, expectSame)), `page ${page} byte ${at % PAGE_SIZE}`).toBe('IMAGE_CORRUPT');
      device.bytes.set(clean);
    }
    for (let at = 4048; at < 4086; at++) {
      device.bytes[at] ^= 0x20;
      expect(await codeOf(loadImage(device, 0, expectSame)), `marker byte ${at}`).toBe('IMAGE_CORRUPT');
      device.bytes.set(clean);
    }
  });

  it('IMAGE_CORRUPT when the marker points the header at the resume page or a stale header', async () => {
    const { device, original, summary } = writeImage({ stream });
    device.bytes.set(markResumePage(original, 0, 1), 0);
    expect(await codeOf(loadImage(device, 0, expectSame))).toBe('IMAGE_CORRUPT');
    device.bytes.set(markResumePage(original, summary.headerPage, 12345), 0);
    expect(await codeOf(loadImage(device, 0, expectSame))).toBe('IMAGE_CORRUPT');
  });

  it('IMAGE_CORRUPT for a valid header or map page that is not the one the marker or header names', async () => {
    // Every page that ends with its own CRC32C has the same whole-page CRC32C (0x48674BC7), so the
    // marker and the header bind the pages they name by the CRC of their contents instead.
    const stale = (page: Uint8Array, offset: number) => {
      const other = Uint8Array.from(page);
      other[offset] ^= 1;
      new DataView(other.buffer).setUint32(4092, crc32c(other.subarray(0, 4092)), true);
      expect(crc32c(other)).toBe(crc32c(page));
      return other;
    };
    const { device, summary } = writeImage({ stream });
    const clean = Uint8Array.from(device.bytes);
    const pageAt = (index: number) => device.bytes.subarray(index * PAGE_SIZE, (index + 1) * PAGE_SIZE);
    const created = 72;
    pageAt(summary.headerPage).set(stale(pageAt(summary.headerPage), created));
    expect(await codeOf(loadImage(device, 0, expectSame))).toBe('IMAGE_CORRUPT');
    device.bytes.set(clean);
    const mapPage = (await loadImage(device, 0, expectSame)).header.extentMapPage;
    const firstExtentLength = 32;
    pageAt(mapPage).set(stale(pageAt(mapPage), firstExtentLength));
    expect(await codeOf(loadImage(device, 0, expectSame))).toBe('IMAGE_CORRUPT');
  });
});

describe('invalidateImage', () => {
  it('puts the exact original page back, from the marked page or the original', async () => {
    for (const fromMarked of [true, false]) {
      const { device, original } = writeImage({ stream: snapshotLikeStream(30, 12) });
      const found = readMarker(device, 0)!;
      expect(Buffer.from(found.originalPage).equals(Buffer.from(original))).toBe(true);
      invalidateImage(device, 0, fromMarked ? found.markedPage : original);
      expect(Buffer.from(device.bytes.subarray(0, PAGE_SIZE)).equals(Buffer.from(original))).toBe(true);
      expect(device.events.slice(-2)).toEqual([{ kind: 'write', page: 0, pages: 1 }, { kind: 'flush' }]);
      expect(readMarker(device, 0)).toBeNull();
      expect(await codeOf(loadImage(device, 0, expectSame))).toBe('NO_IMAGE');
    }
  });

  it('refuses to write a page that is not a swap header', () => {
    const { device } = swapDevice(4);
    expect(() => invalidateImage(device, 0, new Uint8Array(PAGE_SIZE))).toThrow(HiberkitError);
    expect(device.events).toEqual([]);
  });

  it('undoes a marker whose CRC is damaged (readMarker still finds the original)', () => {
    const { device, original } = writeImage({ stream: snapshotLikeStream(10, 13) });
    device.bytes[4060] ^= 0xff;
    const found = readMarker(device, 0)!;
    invalidateImage(device, 0, found.originalPage);
    expect(Buffer.from(device.bytes.subarray(0, PAGE_SIZE)).equals(Buffer.from(original))).toBe(true);
  });
});

describe('ImageWriter refuses misuse', () => {
  const base = () => {
    const { device, original } = swapDevice(64);
    return {
      storage: device,
      allocator: listAllocator(allocationPatterns.contiguous(63)),
      resumePage: 0,
      originalResumePage: original,
      identity: testIdentity,
      compression: 'lz4' as const,
      chunkPages: 4,
      streamPages: 8,
    };
  };

  it('checks its options before writing anything', () => {
    expect(() => new ImageWriter({ ...base(), chunkPages: 0 })).toThrow(RangeError);
    expect(() => new ImageWriter({ ...base(), chunkPages: 4097 })).toThrow(RangeError);
    expect(() => new ImageWriter({ ...base(), ioBytes: 1000 })).toThrow(RangeError);
    expect(() => new ImageWriter({ ...base(), streamPages: 0 })).toThrow(RangeError);
    expect(() => new ImageWriter({ ...base(), identity: { ...testIdentity, kernelRelease: 'k'.repeat(70) } })).toThrow(RangeError);
    expect(() => new ImageWriter({ ...base(), originalResumePage: new Uint8Array(PAGE_SIZE) })).toThrow(HiberkitError);
  });

  it('takes whole pages, no more than the stream has, and finishes once', () => {
    const writer = new ImageWriter(base());
    expect(() => writer.writePages(new Uint8Array(100))).toThrow(RangeError);
    expect(() => writer.writePages(new Uint8Array(9 * PAGE_SIZE))).toThrow(RangeError);
    writer.writePages(new Uint8Array(8 * PAGE_SIZE));
    writer.finish();
    expect(() => writer.finish()).toThrow();
    expect(() => writer.writePages(new Uint8Array(PAGE_SIZE))).toThrow();
  });

  it('refuses swap pages that are the resume page, unaligned or outside the device', () => {
    for (const offset of [0, 4097, 64 * PAGE_SIZE]) {
      const writer = new ImageWriter({ ...base(), allocator: { allocPage: () => offset }, chunkPages: 1, streamPages: 1, ioBytes: 4096 });
      writer.writePages(new Uint8Array(PAGE_SIZE));
      expect(() => writer.finish(), String(offset)).toThrow(expect.objectContaining({ code: 'BAD_SWAP_PAGE' }));
    }
  });
});
