// Swap headers (lib/swap-header.ts) against util-linux mkswap itself: same bytes for the same UUID
// and label, and the parser reads what mkswap wrote; the kernel's swapon rules; and the UUID and
// label that resume=UUID=… / LABEL=… find.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { SWAP_SIGNATURE, parseSwapHeader, swapAreaProblem, swapIdentity, usableSwapPages, writeSwapHeader } from '../lib/swap-header.js';

const dir = mkdtempSync(join(tmpdir(), 'hiberkit-mkswap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the real mkswap on an empty (sparse) file of `sizeBytes` and returns its first page. */
function mkswap(sizeBytes: number, args: string[]): Uint8Array {
  const file = join(dir, `swap-${sizeBytes}-${args.join('_')}.img`);
  writeFileSync(file, '');
  truncateSync(file, sizeBytes);
  execFileSync('mkswap', [...args, file], { stdio: 'ignore' });
  const page = Buffer.alloc(4096);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, page, 0, 4096, 0);
  } finally {
    closeSync(fd);
  }
  return page;
}

const UUID = '0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b';

describe('swap headers', () => {
  test.each([
    { sizeBytes: 8 << 20, label: 'swap' },
    { sizeBytes: 40960, label: '' },
    { sizeBytes: 129 << 20, label: 'a-label-of-20-bytes!' },
  ])('writeSwapHeader matches mkswap byte for byte ($sizeBytes bytes, label "$label")', ({ sizeBytes, label }) => {
    const args = ['-U', UUID, ...(label ? ['-L', label] : [])];
    expect(Buffer.from(writeSwapHeader({ sizeBytes, uuid: UUID, label }))).toEqual(Buffer.from(mkswap(sizeBytes, args)));
  });

  test('parseSwapHeader reads what mkswap writes, with its random UUID', () => {
    const header = parseSwapHeader(mkswap(16 << 20, ['-L', 'data']));
    expect(header.signature).toBe(SWAP_SIGNATURE);
    expect(header.version).toBe(1);
    expect(header.lastPage).toBe((16 << 20) / 4096 - 1);
    expect(header.badPages).toEqual([]);
    expect(header.label).toBe('data');
    expect(header.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test('without a UUID the header gets a fresh random one each time', () => {
    const a = parseSwapHeader(writeSwapHeader({ sizeBytes: 1 << 20 })).uuid;
    const b = parseSwapHeader(writeSwapHeader({ sizeBytes: 1 << 20 })).uuid;
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test('a marked header still parses, and reports the foreign signature', () => {
    const page = writeSwapHeader({ sizeBytes: 1 << 20, uuid: UUID, label: 'x' });
    page.set(new TextEncoder().encode('S1SUSPEND\0'), 4086);
    const header = parseSwapHeader(page);
    expect(header.signature).toBe('S1SUSPEND\0');
    expect(header.uuid).toBe(UUID);
  });

  test('a long label is cut to 15 bytes, as mkswap cuts it', () => {
    expect(parseSwapHeader(writeSwapHeader({ sizeBytes: 1 << 20, label: 'a-label-of-20-bytes!' })).label).toBe('a-label-of-20-b');
  });

  test('too small an area is refused, as mkswap refuses it', () => {
    expect(() => writeSwapHeader({ sizeBytes: 9 * 4096 })).toThrow(/at least 10 pages/);
  });
});

describe("the kernel's swapon rules", () => {
  const MIB = 1 << 20;
  const partition = { sizeBytes: MIB, type: 'partition' } as const;
  /** A mkswap header of a 1 MiB area with one 32-bit field changed. */
  function headerWith(offset: number, value: number): Uint8Array {
    const page = writeSwapHeader({ sizeBytes: MIB, uuid: UUID });
    new DataView(page.buffer).setUint32(offset, value, true);
    return page;
  }

  test('accepts what mkswap writes, with every page but the header usable', () => {
    const header = parseSwapHeader(writeSwapHeader({ sizeBytes: MIB }));
    expect(swapAreaProblem(header, partition)).toBeNull();
    expect(swapAreaProblem(header, { ...partition, type: 'file' })).toBeNull();
    expect(usableSwapPages(header)).toBe(MIB / 4096 - 1);
  });

  test('refuses another signature, another version and an empty area', () => {
    const marked = writeSwapHeader({ sizeBytes: MIB });
    marked.set(new TextEncoder().encode('SWAP-SPACE'), 4086);
    expect(swapAreaProblem(parseSwapHeader(marked), partition)).toMatch(/no swap signature \(found "SWAP-SPACE"\)/);
    expect(swapAreaProblem(parseSwapHeader(headerWith(1024, 2)), partition)).toMatch(/version 2/);
    expect(swapAreaProblem(parseSwapHeader(headerWith(1028, 0)), partition)).toMatch(/empty/);
  });

  test('refuses an area shorter than last_page says', () => {
    const header = parseSwapHeader(writeSwapHeader({ sizeBytes: 2 * MIB }));
    expect(swapAreaProblem(header, partition)).toMatch(/shorter/);
    expect(swapAreaProblem(header, { ...partition, sizeBytes: 2 * MIB + 4096 })).toBeNull();
  });

  test('counts bad pages out of a partition, and refuses them in a file, past the page or outside the area', () => {
    const page = headerWith(1032, 2);
    new DataView(page.buffer).setUint32(1536, 7, true);
    new DataView(page.buffer).setUint32(1540, 9, true);
    const header = parseSwapHeader(page);
    expect(header.badPages).toEqual([7, 9]);
    expect(swapAreaProblem(header, partition)).toBeNull();
    expect(usableSwapPages(header)).toBe(MIB / 4096 - 1 - 2);
    expect(swapAreaProblem(header, { ...partition, type: 'file' })).toMatch(/bad pages/);
    expect(swapAreaProblem(parseSwapHeader(headerWith(1032, 638)), partition)).toMatch(/nr_badpages 638/);
    const outside = headerWith(1032, 1);
    new DataView(outside.buffer).setUint32(1536, MIB / 4096, true);
    expect(swapAreaProblem(parseSwapHeader(outside), partition)).toMatch(/bad page 256 is outside/);
  });
});

describe('swap identity (resume=UUID=… and LABEL=…)', () => {
  test('reads the UUID and label of a version-1 swap header', () => {
    expect(swapIdentity(writeSwapHeader({ sizeBytes: 1 << 20, uuid: UUID, label: 'myswap' }))).toEqual({ uuid: UUID, label: 'myswap' });
  });

  test('is null for a page marked by a hibernation tool, a version-0 area and a short buffer', () => {
    const marked = writeSwapHeader({ sizeBytes: 1 << 20, uuid: UUID });
    marked.set(new TextEncoder().encode('S1SUSPEND\0'), 4086);
    expect(swapIdentity(marked)).toBeNull();
    // Version 0 ("SWAP-SPACE") has no UUID or label fields: those bytes are its page bitmap.
    const legacy = new Uint8Array(4096).fill(0xff);
    legacy.set(new TextEncoder().encode('SWAP-SPACE'), 4086);
    expect(swapIdentity(legacy)).toBeNull();
    expect(swapIdentity(new Uint8Array(100))).toBeNull();
  });
});
