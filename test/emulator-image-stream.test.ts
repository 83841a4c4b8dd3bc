// The image stream of emulator/image-stream.ts on its own: header layout, metadata pages, the
// hibernate-side reader and the restore-side loader with its one-page lag and zero-page rules.
import { describe, expect, test } from 'vitest';
import { ERRNO } from '../lib/errors.js';
import { PAGE_SIZE } from '../lib/ioctls.js';
import { MemoryMap } from '../emulator/e820.js';
import {
  BM_END_OF_MAP,
  LoaderError,
  SnapshotImage,
  StreamLoader,
  StreamReader,
  X86_RESTORE_MAGIC,
  ZERO_PFN_FLAG,
  decodeImageHeader,
  decodeMetadataPage,
  encodeImageHeader,
  encodeMetadataPage,
  type ImageHeader,
  type MetadataEntry,
} from '../emulator/image-stream.js';

const map = MemoryMap.forMemorySize(32 << 20);
const record = { jumpAddress: 0xffffffff81234000n, jumpAddressPhys: 0x1234000n, cr3: 0x13f0000n, magic: X86_RESTORE_MAGIC, e820Checksum: map.e820Checksum };

function header(fields: Partial<ImageHeader> = {}): ImageHeader {
  return { record, versionCode: 0, numPhyspages: map.numPhyspages, cpus: 0, imagePages: 1, pages: 3, size: 3 * PAGE_SIZE, ...fields };
}

/** Pages of a stream: header, metadata for `entries`, and one data page per non-zero entry. */
function stream(entries: MetadataEntry[], fields: Partial<ImageHeader> = {}): Uint8Array[] {
  const data = entries.filter((e) => !e.zero).length;
  const meta = Math.ceil((entries.length * 8) / PAGE_SIZE);
  const pages = [encodeImageHeader(header({ imagePages: data, pages: 1 + meta + data, size: (1 + meta + data) * PAGE_SIZE, ...fields }))];
  for (let i = 0; i < meta; i++) pages.push(encodeMetadataPage(entries.slice(i * 512, (i + 1) * 512)));
  entries.filter((e) => !e.zero).forEach((e) => pages.push(new Uint8Array(PAGE_SIZE).fill(e.pfn & 0xff)));
  return pages;
}

/** Feeds pages the way write(2) does at page boundaries: next(), then copy into the buffer. */
function feed(loader: StreamLoader, pages: Uint8Array[]): number[] {
  return pages.map((page) => {
    const next = loader.next();
    if (next > 0) loader.buffer!.set(page);
    return next;
  });
}

describe('header page', () => {
  test('fields sit at the x86_64 offsets of struct swsusp_info, the arch record at 0', () => {
    const page = encodeImageHeader(header({ numPhyspages: 0x1122, imagePages: 7, pages: 9, size: 9 * PAGE_SIZE }));
    const view = new DataView(page.buffer);
    expect(view.getBigUint64(0, true)).toBe(record.jumpAddress);
    expect(view.getBigUint64(8, true)).toBe(record.jumpAddressPhys);
    expect(view.getBigUint64(16, true)).toBe(record.cr3);
    expect(view.getBigUint64(24, true)).toBe(0x23456789abcdef02n);
    expect(view.getBigUint64(32, true)).toBe(BigInt(map.e820Checksum));
    expect(view.getBigUint64(400, true)).toBe(0x1122n);
    expect(view.getBigUint64(416, true)).toBe(7n);
    expect(view.getBigUint64(424, true)).toBe(9n);
    expect(view.getBigUint64(432, true)).toBe(BigInt(9 * PAGE_SIZE));
    expect(page.subarray(440).every((b) => b === 0)).toBe(true);
    expect(decodeImageHeader(page)).toEqual(header({ numPhyspages: 0x1122, imagePages: 7, pages: 9, size: 9 * PAGE_SIZE }));
  });
});

describe('metadata pages', () => {
  test('BM_END_OF_MAP follows the last entry when there is room; bit 63 flags zero pages', () => {
    const page = encodeMetadataPage([{ pfn: 0x100, zero: false }, { pfn: 0x101, zero: true }]);
    const view = new DataView(page.buffer);
    expect(view.getBigUint64(0, true)).toBe(0x100n);
    expect(view.getBigUint64(8, true)).toBe(0x101n | ZERO_PFN_FLAG);
    expect(view.getBigUint64(16, true)).toBe(BM_END_OF_MAP);
    expect(page.subarray(24).every((b) => b === 0)).toBe(true);
    expect(decodeMetadataPage(page)).toEqual([{ pfn: 0x100, zero: false }, { pfn: 0x101, zero: true }]);
  });

  test('a full page of 512 entries has no end marker', () => {
    const entries = Array.from({ length: 512 }, (_, i) => ({ pfn: 0x100 + i, zero: false }));
    expect(decodeMetadataPage(encodeMetadataPage(entries))).toEqual(entries);
  });
});

describe('StreamReader', () => {
  test('hands out header, metadata, data pages in order, then nothing', () => {
    const pfns = Float64Array.from({ length: 600 }, (_, i) => 0x100 + i);
    const zero = Uint8Array.from(pfns, (_, i) => (i % 3 === 0 ? 1 : 0));
    const copies = Buffer.alloc(400 * PAGE_SIZE);
    for (let i = 0; i < 400; i++) copies.fill(i & 0xff, i * PAGE_SIZE, (i + 1) * PAGE_SIZE);
    const image = new SnapshotImage({ record, numPhyspages: map.numPhyspages, pfns, zero, copies });
    expect(image.metaPages).toBe(2);
    expect(image.zeroPages).toBe(200);
    expect(image.header.pages).toBe(1 + 2 + 400);

    const reader = new StreamReader(image);
    expect(decodeImageHeader(reader.next()!)).toEqual(image.header);
    const meta = [...decodeMetadataPage(reader.next()!), ...decodeMetadataPage(reader.next()!)];
    expect(meta).toEqual(Array.from(pfns, (pfn, i) => ({ pfn, zero: zero[i] === 1 })));
    for (let i = 0; i < 400; i++) expect(reader.next()![0]).toBe(i & 0xff);
    expect(reader.next()).toBeNull();
    expect(reader.next()).toBeNull();
  });
});

describe('StreamLoader', () => {
  const target = { map, zeroPages: true };
  const pfn = (i: number) => 0x1000 + i;

  test('the header is checked by the call that starts page 1, and the error repeats', () => {
    const loader = new StreamLoader(target);
    const [first] = stream([{ pfn: pfn(0), zero: false }], { numPhyspages: map.numPhyspages + 1 });
    expect(feed(loader, [first!])).toEqual([PAGE_SIZE]);
    for (let i = 0; i < 2; i++) expect(() => loader.next()).toThrow(expect.objectContaining({ errno: ERRNO.EPERM }));
  });

  test.each([
    ['magic', { record: { ...record, magic: 0x1234n } }],
    ['e820 checksum', { record: { ...record, e820Checksum: record.e820Checksum ^ 1 } }],
    ['memory size', { numPhyspages: 1 }],
  ] as const)('a header with another %s is EPERM', (_what, fields) => {
    const loader = new StreamLoader(target);
    feed(loader, stream([{ pfn: pfn(0), zero: false }], fields).slice(0, 1));
    expect(() => loader.next()).toThrow(LoaderError);
  });

  test('inconsistent page counts are refused (EINVAL): undefined behaviour in the kernel', () => {
    const loader = new StreamLoader(target);
    feed(loader, [encodeImageHeader(header({ imagePages: 5, pages: 5 }))]);
    expect(() => loader.next()).toThrow(expect.objectContaining({ errno: ERRNO.EINVAL }));
  });

  test('zero pages inside the image are passed within the call for the next data page', () => {
    const entries = [
      { pfn: pfn(0), zero: true },
      { pfn: pfn(1), zero: false },
      { pfn: pfn(2), zero: true },
      { pfn: pfn(3), zero: true },
      { pfn: pfn(4), zero: false },
    ];
    const loader = new StreamLoader(target);
    expect(feed(loader, stream(entries))).toEqual([PAGE_SIZE, PAGE_SIZE, PAGE_SIZE, PAGE_SIZE]);
    expect(loader.nrZero).toBe(3);
    expect(loader.loaded()).toBe(true);
    expect(loader.next()).toBe(0);
    const { pfns, pages } = loader.result();
    expect(pfns).toEqual(entries.map((e) => e.pfn));
    expect(pages[0]).toBe(0);
    expect(pages[PAGE_SIZE]).toBe(pfn(1) & 0xff);
    expect(pages[4 * PAGE_SIZE]).toBe(pfn(4) & 0xff);
  });

  test('trailing zero pages keep the image incomplete until one more call, which returns 0', () => {
    const loader = new StreamLoader(target);
    feed(loader, stream([{ pfn: pfn(0), zero: false }, { pfn: pfn(1), zero: true }, { pfn: pfn(2), zero: true }]));
    expect(loader.loaded()).toBe(false);
    expect(loader.inDataRegion()).toBe(true);
    expect(loader.onlyZeroPagesRemain()).toBe(true);
    expect(loader.next()).toBe(0);
    expect(loader.loaded()).toBe(true);
  });

  test('drainZeroPages passes them without a call, as 7.0 kernels do on ATOMIC_RESTORE', () => {
    const loader = new StreamLoader(target);
    feed(loader, stream([{ pfn: pfn(0), zero: false }, { pfn: pfn(1), zero: true }]));
    loader.drainZeroPages();
    expect(loader.loaded()).toBe(true);
  });

  test('data pages arrive in ascending PFN order whatever the metadata order', () => {
    const loader = new StreamLoader(target);
    feed(loader, stream([{ pfn: pfn(9), zero: false }, { pfn: pfn(3), zero: false }]));
    expect(loader.result().pfns).toEqual([pfn(3), pfn(9)]);
  });

  test('an invalid PFN or one in a large hole is EFAULT; a PFN in the ISA hole is accepted (its 2 MiB section has RAM)', () => {
    expect(map.acceptsImagePfn(0xa0)).toBe(true);
    expect(map.acceptsImagePfn(map.numPhyspages + 0x10000)).toBe(false);
    const loader = new StreamLoader(target);
    const pages = stream([{ pfn: pfn(0), zero: false }, { pfn: 2 ** 40, zero: false }]);
    feed(loader, pages.slice(0, 2));
    expect(() => loader.next()).toThrow(expect.objectContaining({ errno: ERRNO.EFAULT }));
  });

  test('before 6.6 bit 63 is part of the PFN, so a "zero page" entry is EFAULT', () => {
    const loader = new StreamLoader({ map, zeroPages: false });
    feed(loader, stream([{ pfn: pfn(0), zero: false }, { pfn: pfn(1), zero: true }]).slice(0, 2));
    expect(() => loader.next()).toThrow(expect.objectContaining({ errno: ERRNO.EFAULT }));
  });

  test('more data than the metadata lists is EFAULT', () => {
    const loader = new StreamLoader(target);
    const pages = stream([{ pfn: pfn(0), zero: false }], { imagePages: 2, pages: 4, size: 4 * PAGE_SIZE });
    feed(loader, [...pages, pages[2]!].slice(0, 3));
    expect(() => loader.next()).toThrow(expect.objectContaining({ errno: ERRNO.EFAULT }));
  });
});
