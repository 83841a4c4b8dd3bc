// Emulated memory: the e820 map and its checksum, RAM contents and bookkeeping, and how
// CREATE_IMAGE sizes an image (emulator/e820.ts, emulator/ram.ts, emulator/snapshot-memory.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ERRNO } from '../lib/errors.js';
import { PAGE_SIZE } from '../lib/ioctls.js';
import { MemoryMap, crc32Raw, seabiosE820 } from '../emulator/e820.js';
import { KERNEL_START_PFN, PAGE_ANON, PAGE_CACHE, PAGE_FREE, PAGE_KERNEL, Ram } from '../emulator/ram.js';
import { X86_RESTORE_MAGIC, type SnapshotImage } from '../emulator/image-stream.js';
import { sizing, takeSnapshot } from '../emulator/snapshot-memory.js';

const MIB = 1 << 20;
const dir = mkdtempSync(join(tmpdir(), 'hiberkit-memory-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const usage = { anon: 0.3, cache: 0.3, zero: 0.15 };
const record = (map: MemoryMap) => ({ jumpAddress: 1n, jumpAddressPhys: 1n, cr3: 0x1000n, magic: X86_RESTORE_MAGIC, e820Checksum: map.e820Checksum });

describe('memory map', () => {
  test('crc32Raw is the kernel crc32_le with seed 0 and no inversion', () => {
    expect(crc32Raw(new TextEncoder().encode('123456789'))).toBe(0x2dfd2d88);
  });

  test('e820 checksums match a Python reference of the same tables (binascii.crc32)', () => {
    expect(MemoryMap.forMemorySize(64 * MIB).e820Checksum).toBe(0xafe43ae2);
    expect(MemoryMap.forMemorySize(4096 * MIB).e820Checksum).toBe(0x2d875970);
  });

  test('present pages: low memory without page 0 and the ISA hole, then RAM up to the BIOS tables', () => {
    const map = MemoryMap.forMemorySize(64 * MIB);
    expect(map.ranges).toEqual([
      { start: 1, end: 0x9f },
      { start: 0x100, end: (64 * MIB - 128 * 1024) / PAGE_SIZE },
    ]);
    expect(map.numPhyspages).toBe(0x9e + (64 * MIB - 128 * 1024) / PAGE_SIZE - 0x100);
    expect(map.isPresent(0)).toBe(false);
    expect(map.isPresent(0xa0)).toBe(false);
    expect(map.denseIndex(0x100)).toBe(0x9e);
  });

  test('beyond 3 GiB, RAM continues above the PCI hole at 4 GiB', () => {
    const map = MemoryMap.forMemorySize(4096 * MIB);
    expect(map.ranges.at(-1)).toEqual({ start: 0x100000, end: 0x100000 + (1024 * MIB) / PAGE_SIZE });
    expect(map.isPresent(0xc0000)).toBe(false);
    expect(map.acceptsImagePfn(0xc0000)).toBe(false);
    expect(map.acceptsImagePfn(0x100000)).toBe(true);
  });

  test('machines must have whole MiB, at least 32', () => {
    expect(() => seabiosE820(16 * MIB)).toThrow(RangeError);
    expect(() => seabiosE820(64 * MIB + 4096)).toThrow(RangeError);
  });
});

describe('RAM', () => {
  const map = MemoryMap.forMemorySize(32 * MIB);

  test('contents and usage follow from (seed, boot): same inputs, same RAM; another boot, other RAM', () => {
    const a = Ram.boot(map, { seed: 7, boot: 1, usage });
    const b = Ram.boot(map, { seed: 7, boot: 1, usage });
    const c = Ram.boot(map, { seed: 7, boot: 2, usage });
    expect(a.fingerprint()).toBe(b.fingerprint());
    expect(a.fingerprint()).not.toBe(c.fingerprint());
    const census = a.census();
    expect(census.free + census.kernel + census.anon + census.cache).toBe(map.numPhyspages);
    expect(census.anon / map.numPhyspages).toBeCloseTo(usage.anon * (1 - census.kernel / map.numPhyspages), 1);
    expect(a.pageState(KERNEL_START_PFN)).toBe(PAGE_KERNEL);
  });

  test('free pages do not count in the fingerprint; in-use pages do', () => {
    const ram = Ram.boot(map, { seed: 1, boot: 1, usage });
    const before = ram.fingerprint();
    const free = findPage(ram, PAGE_FREE);
    ram.page(free).fill(0x55);
    expect(ram.fingerprint()).toBe(before);
    ram.writePage(free, new Uint8Array(PAGE_SIZE).fill(1));
    expect(ram.pageState(free)).toBe(PAGE_ANON);
    expect(ram.fingerprint()).not.toBe(before);
  });

  test('the kernel record lives in RAM and survives a save and load', () => {
    const file = join(dir, 'ram-record.bin');
    const ram = Ram.boot(map, { seed: 1, boot: 1, usage, file });
    expect(ram.readRecord()).toBeNull();
    ram.writeRecord({ session: 'abc', n: 3 });
    const cache = findPage(ram, PAGE_CACHE);
    ram.setPageState(cache, PAGE_FREE);
    ram.flush();
    const loaded = Ram.load(map, file);
    expect(loaded.readRecord()).toEqual({ session: 'abc', n: 3 });
    expect(loaded.pageState(cache)).toBe(PAGE_FREE);
    expect(loaded.fingerprint()).toBe(ram.fingerprint());
  });
});

describe('image sizing (CREATE_IMAGE)', () => {
  const map = MemoryMap.forMemorySize(32 * MIB);

  test('an image_size above what is in use keeps every page: nothing is dropped, RAM unchanged', () => {
    const ram = Ram.boot(map, { seed: 3, boot: 1, usage: { anon: 0.15, cache: 0.15, zero: 0.2 } });
    const before = ram.fingerprint();
    const facts = sizing(ram);
    expect(facts.saveable).toBeLessThan(facts.maximum);
    const image = takeSnapshot(ram, { imageSizeBytes: 1 << 30, zeroPages: true, record: record(map) }) as SnapshotImage;
    expect(image.pfns.length).toBe(facts.saveable);
    expect(ram.fingerprint()).toBe(before);
  });

  test('the kernel shrinks toward image_size by dropping page cache, never below the anonymous and kernel pages', () => {
    const ram = Ram.boot(map, { seed: 3, boot: 1, usage });
    const facts = sizing(ram);
    const small = takeSnapshot(ram, { imageSizeBytes: 0, zeroPages: true, record: record(map) }) as SnapshotImage;
    expect(small.pfns.length).toBe(facts.minimum);
    expect(ram.census().cache).toBe(0);
  });

  test('a target between the minimum and the maximum is met exactly', () => {
    const ram = Ram.boot(map, { seed: 3, boot: 1, usage });
    const facts = sizing(ram);
    const target = Math.floor((facts.minimum + Math.min(facts.saveable, facts.maximum)) / 2);
    const image = takeSnapshot(ram, { imageSizeBytes: target * PAGE_SIZE, zeroPages: true, record: record(map) }) as SnapshotImage;
    expect(image.pfns.length).toBe(target);
  });

  test('ENOMEM when what cannot be dropped exceeds half of memory; RAM is left alone', () => {
    const ram = Ram.boot(map, { seed: 3, boot: 1, usage: { anon: 0.6, cache: 0.1, zero: 0.1 } });
    const before = ram.fingerprint();
    expect(takeSnapshot(ram, { imageSizeBytes: 0, zeroPages: true, record: record(map) })).toBe(ERRNO.ENOMEM);
    expect(ram.fingerprint()).toBe(before);
  });

  test('zero pages are flagged and not copied from 6.6 on; before, they are copied like any page', () => {
    const ram = Ram.boot(map, { seed: 5, boot: 1, usage: { anon: 0.2, cache: 0.1, zero: 0.3 } });
    const withFlags = takeSnapshot(ram, { imageSizeBytes: 1 << 30, zeroPages: true, record: record(map) }) as SnapshotImage;
    const without = takeSnapshot(ram, { imageSizeBytes: 1 << 30, zeroPages: false, record: record(map) }) as SnapshotImage;
    expect(withFlags.zeroPages).toBeGreaterThan(0);
    expect(without.zeroPages).toBe(0);
    expect(withFlags.copyPages + withFlags.zeroPages).toBe(without.copyPages);
    // Every copy is the page it came from.
    let copy = 0;
    withFlags.pfns.forEach((pfn, i) => {
      if (withFlags.zero[i]) {
        expect(ram.page(pfn).every((b) => b === 0)).toBe(true);
        return;
      }
      expect(withFlags.copies.subarray(copy * PAGE_SIZE, (copy + 1) * PAGE_SIZE).equals(ram.page(pfn))).toBe(true);
      copy++;
    });
  });
});

function findPage(ram: Ram, state: number): number {
  for (const range of ram.map.ranges) for (let pfn = range.start; pfn < range.end; pfn++) if (ram.pageState(pfn) === state) return pfn;
  throw new Error(`no page in state ${state}`);
}
