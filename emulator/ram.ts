/**
 * The emulated machine's RAM: the contents of every present page frame, and the kernel's own
 * bookkeeping kept *inside* that RAM, as a real kernel keeps it:
 *
 *  - a kernel image at 16 MiB (where x86_64 kernels load),
 *  - a kernel record (a few pages of JSON: boot id, hibernation session, kernel variables),
 *  - `mem_map`: one byte per present page saying whether it is free, kernel, anonymous or cache.
 *
 * Because the bookkeeping lives in RAM, a hibernation image carries it like any other page, and
 * a restore brings back exactly the machine state of the moment of the snapshot.
 *
 * Storage: one file of present pages in pfn order (`ram.bin`), read and written whole or in
 * coalesced runs of changed pages; no per-page files, no JSON for page data.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { PAGE_SIZE } from '../lib/ioctls.js';
import type { MemoryMap } from './e820.js';
import { fillPage, hash32, unit, type ContentKind } from './page-content.js';

export const PAGE_FREE = 0;
export const PAGE_KERNEL = 1;
export const PAGE_ANON = 2;
export const PAGE_CACHE = 3;
export type PageState = typeof PAGE_FREE | typeof PAGE_KERNEL | typeof PAGE_ANON | typeof PAGE_CACHE;

/** What the running system does with its memory at boot. */
export interface MemoryUsage {
  /** Fraction of pages holding anonymous memory: always part of the image. */
  anon: number;
  /** Fraction holding page cache: dropped first when the image has to shrink toward image_size. */
  cache: number;
  /** Fraction of in-use pages that are all zeros (the 6.6+ kernel leaves them out of the image). */
  zero: number;
}

/** x86_64 kernels load at 16 MiB. */
export const KERNEL_START_PFN = 0x1000;
const KERNEL_IMAGE_PAGES = 1024;
const RECORD_PAGES = 16;
const RECORD_MAGIC = 'HKEMUREC';
const RECORD_HEADER_BYTES = 12;
/** Stream number for the kernel image contents: the same in every boot, like a kernel binary. */
const KERNEL_IMAGE_STREAM = 0xffff_ffff;
/** Free pages hold leftovers; a constant byte keeps them cheap to make and easy to spot. */
const FREE_PAGE_POISON = 0xf4;
/** Two thirds of non-zero pages are text-like, the rest random. */
const TEXT_SHARE = 2 / 3;

export class Ram {
  readonly map: MemoryMap;
  /** Present pages in pfn order. */
  readonly contents: Buffer;
  readonly #file: string | undefined;
  readonly #dirty = new Set<number>();
  readonly #recordOffset: number;
  readonly #memMapOffset: number;

  private constructor(map: MemoryMap, contents: Buffer, file: string | undefined) {
    const regionEnd = KERNEL_START_PFN + kernelRegionPages(map);
    if (map.denseIndex(KERNEL_START_PFN) < 0 || map.denseIndex(regionEnd - 1) - map.denseIndex(KERNEL_START_PFN) !== regionEnd - 1 - KERNEL_START_PFN) {
      throw new RangeError('the memory map has no contiguous RAM at 16 MiB for the kernel');
    }
    if (contents.length !== map.numPhyspages * PAGE_SIZE) {
      throw new RangeError(`RAM contents are ${contents.length} bytes; this memory map needs ${map.numPhyspages * PAGE_SIZE}`);
    }
    this.map = map;
    this.contents = contents;
    this.#file = file;
    this.#recordOffset = map.denseIndex(KERNEL_START_PFN + KERNEL_IMAGE_PAGES) * PAGE_SIZE;
    this.#memMapOffset = this.#recordOffset + RECORD_PAGES * PAGE_SIZE;
  }

  /** RAM as a fresh boot leaves it: contents from (seed, boot), usage as configured. Saved to `file` if given. */
  static boot(map: MemoryMap, options: { seed: number; boot: number; usage: MemoryUsage; file?: string }): Ram {
    const ram = new Ram(map, Buffer.alloc(map.numPhyspages * PAGE_SIZE), options.file);
    const { seed, boot, usage } = options;
    const kernelEnd = KERNEL_START_PFN + kernelRegionPages(map);
    let dense = 0;
    for (const range of map.ranges) {
      for (let pfn = range.start; pfn < range.end; pfn++, dense++) {
        const page = ram.contents.subarray(dense * PAGE_SIZE, (dense + 1) * PAGE_SIZE);
        if (pfn >= KERNEL_START_PFN && pfn < kernelEnd) {
          ram.#setState(dense, PAGE_KERNEL);
          // Record and mem_map pages start zeroed; the kernel image is the same every boot.
          if (pfn < KERNEL_START_PFN + KERNEL_IMAGE_PAGES) fillPage(page, contentKind(seed, KERNEL_IMAGE_STREAM, pfn, 0), seed, KERNEL_IMAGE_STREAM, pfn);
          continue;
        }
        const r = unit(hash32(seed, boot, pfn, 0x57a7e));
        const state: PageState = r < usage.anon ? PAGE_ANON : r < usage.anon + usage.cache ? PAGE_CACHE : PAGE_FREE;
        if (state === PAGE_FREE) page.fill(FREE_PAGE_POISON);
        else fillPage(page, contentKind(seed, boot, pfn, usage.zero), seed, boot, pfn);
        ram.#setState(dense, state);
      }
    }
    if (options.file) writeFileSync(options.file, ram.contents);
    ram.#dirty.clear();
    return ram;
  }

  /** RAM saved earlier by `boot`/`flush`. */
  static load(map: MemoryMap, file: string): Ram {
    return new Ram(map, readFileSync(file), file);
  }

  /** The bytes of one page, as a view (no copy): for the kernel's own use. */
  page(pfn: number): Buffer {
    const dense = this.#dense(pfn);
    return this.contents.subarray(dense * PAGE_SIZE, (dense + 1) * PAGE_SIZE);
  }

  /** A copy of one page. */
  readPage(pfn: number): Buffer {
    return Buffer.from(this.page(pfn));
  }

  /** Overwrites one page; a free page becomes anonymous memory (someone allocated it). */
  writePage(pfn: number, data: Uint8Array): void {
    if (data.length !== PAGE_SIZE) throw new RangeError(`a page is ${PAGE_SIZE} bytes, got ${data.length}`);
    const dense = this.#dense(pfn);
    this.contents.set(data, dense * PAGE_SIZE);
    this.#dirty.add(dense);
    if (this.pageState(pfn) === PAGE_FREE) this.setPageState(pfn, PAGE_ANON);
  }

  /**
   * Overwrites the given pages wholesale, mem_map pages included: the atomic copy at the heart of
   * ATOMIC_RESTORE. `pages` holds their contents in the order of `pfns`.
   */
  restorePages(pfns: readonly number[], pages: Uint8Array): void {
    pfns.forEach((pfn, i) => {
      const dense = this.#dense(pfn);
      this.contents.set(pages.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE), dense * PAGE_SIZE);
      this.#dirty.add(dense);
    });
  }

  pageState(pfn: number): PageState {
    return this.contents[this.#memMapOffset + this.#dense(pfn)] as PageState;
  }

  /** Changes a page's state in mem_map; a page that becomes free keeps only leftovers. */
  setPageState(pfn: number, state: PageState): void {
    const dense = this.#dense(pfn);
    this.#setState(dense, state);
    if (state === PAGE_FREE) {
      this.contents.fill(FREE_PAGE_POISON, dense * PAGE_SIZE, (dense + 1) * PAGE_SIZE);
      this.#dirty.add(dense);
    }
  }

  /** How many present pages are in each state. */
  census(): Record<'free' | 'kernel' | 'anon' | 'cache', number> {
    const counts = [0, 0, 0, 0];
    const memMap = this.contents.subarray(this.#memMapOffset, this.#memMapOffset + this.map.numPhyspages);
    for (const state of memMap) counts[state]!++;
    return { free: counts[PAGE_FREE]!, kernel: counts[PAGE_KERNEL]!, anon: counts[PAGE_ANON]!, cache: counts[PAGE_CACHE]! };
  }

  /**
   * SHA-256 over every page in use (pfn, state and contents), in pfn order. Two RAMs with the
   * same fingerprint hold the same running system; free pages (leftovers) do not count.
   */
  fingerprint(): string {
    const hash = createHash('sha256');
    const tag = Buffer.alloc(9);
    let dense = 0;
    for (const range of this.map.ranges) {
      for (let pfn = range.start; pfn < range.end; pfn++, dense++) {
        const state = this.contents[this.#memMapOffset + dense]!;
        if (state === PAGE_FREE) continue;
        tag.writeDoubleLE(pfn, 0);
        tag[8] = state;
        hash.update(tag);
        hash.update(this.contents.subarray(dense * PAGE_SIZE, (dense + 1) * PAGE_SIZE));
      }
    }
    return hash.digest('hex');
  }

  /** The page frames holding the kernel record: an image without them carries no kernel. */
  recordPfns(): number[] {
    const first = KERNEL_START_PFN + KERNEL_IMAGE_PAGES;
    return Array.from({ length: RECORD_PAGES }, (_, i) => first + i);
  }

  /** The kernel record kept in RAM, or null when none was written this boot. */
  readRecord<T>(): T | null {
    const header = this.contents.subarray(this.#recordOffset, this.#recordOffset + RECORD_HEADER_BYTES);
    if (header.toString('latin1', 0, 8) !== RECORD_MAGIC) return null;
    const length = header.readUInt32LE(8);
    const start = this.#recordOffset + RECORD_HEADER_BYTES;
    return JSON.parse(this.contents.toString('utf8', start, start + length)) as T;
  }

  writeRecord(record: unknown): void {
    const json = Buffer.from(JSON.stringify(record), 'utf8');
    const capacity = RECORD_PAGES * PAGE_SIZE - RECORD_HEADER_BYTES;
    if (json.length > capacity) throw new RangeError(`the kernel record needs ${json.length} bytes; it has room for ${capacity}`);
    const region = this.contents.subarray(this.#recordOffset, this.#recordOffset + RECORD_PAGES * PAGE_SIZE);
    region.fill(0);
    region.write(RECORD_MAGIC, 0, 'latin1');
    region.writeUInt32LE(json.length, 8);
    json.copy(region, RECORD_HEADER_BYTES);
    const first = this.#recordOffset / PAGE_SIZE;
    for (let i = 0; i < RECORD_PAGES; i++) this.#dirty.add(first + i);
  }

  /** Writes the pages changed since the last save to the RAM file, in coalesced runs. */
  flush(): void {
    if (!this.#file || this.#dirty.size === 0) return;
    const pages = [...this.#dirty].sort((a, b) => a - b);
    const fd = openSync(this.#file, 'r+');
    try {
      let first = 0;
      while (first < pages.length) {
        let end = first + 1;
        while (end < pages.length && pages[end] === pages[end - 1]! + 1) end++;
        const from = pages[first]! * PAGE_SIZE;
        const to = (pages[end - 1]! + 1) * PAGE_SIZE;
        writeSync(fd, this.contents, from, to - from, from);
        first = end;
      }
    } finally {
      closeSync(fd);
    }
    this.#dirty.clear();
  }

  #dense(pfn: number): number {
    const dense = this.map.denseIndex(pfn);
    if (dense < 0) throw new RangeError(`pfn ${pfn} is not present RAM`);
    return dense;
  }

  #setState(dense: number, state: PageState): void {
    this.contents[this.#memMapOffset + dense] = state;
    this.#dirty.add((this.#memMapOffset + dense) / PAGE_SIZE | 0);
  }
}

/** Pages of the kernel region: kernel image, record, and one mem_map byte per present page. */
function kernelRegionPages(map: MemoryMap): number {
  return KERNEL_IMAGE_PAGES + RECORD_PAGES + Math.ceil(map.numPhyspages / PAGE_SIZE);
}

function contentKind(seed: number, stream: number, pfn: number, zeroShare: number): ContentKind {
  const r = unit(hash32(seed, stream, pfn, 0xc0de));
  if (r < zeroShare) return 'zero';
  return r < zeroShare + (1 - zeroShare) * TEXT_SHARE ? 'text' : 'random';
}
