// The emulator's swap headers against util-linux mkswap itself: same bytes for the same UUID and
// label, and the parser reads what mkswap wrote.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { SWAP_SIGNATURE, parseSwapHeader, writeSwapHeader } from '../emulator/swap-header.js';

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
