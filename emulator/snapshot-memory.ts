/**
 * The memory side of CREATE_IMAGE: which pages go into an image and how the kernel makes room
 * for the copies (shrinking toward `image_size`). Simplified from `hibernate_preallocate_memory` and `swsusp_save`:
 *
 *  - every page in use is saveable; page cache can be dropped, anonymous and kernel pages cannot
 *    (the real kernel may also swap anonymous pages out; the emulator does not);
 *  - the image may use at most half of what remains after PAGES_FOR_IO, because every saved page
 *    needs a free page for its copy; if even the minimum image is larger, CREATE_IMAGE is ENOMEM;
 *  - otherwise the kernel shrinks toward `image_size` (0 = as small as possible), never below
 *    the minimum, never above what fits.
 */
import { ERRNO } from '../lib/errors.js';
import { PAGE_SIZE } from '../lib/ioctls.js';
import { SnapshotImage, metadataPagesFor, type RestoreRecord } from './image-stream.js';
import { PAGE_CACHE, PAGE_FREE, type Ram } from './ram.js';

/** Pages the kernel keeps free for I/O during hibernation (4 MiB). */
const PAGES_FOR_IO = 1024;
const ZERO_PAGE = Buffer.alloc(PAGE_SIZE);

interface SnapshotOptions {
  /** The kernel's image_size, in bytes. */
  imageSizeBytes: number;
  /** Leave zero pages out of the image (6.6+). */
  zeroPages: boolean;
  record: RestoreRecord;
}

interface SizingFacts {
  /** Pages in use before shrinking. */
  saveable: number;
  /** Pages that cannot be dropped. */
  minimum: number;
  /** The largest image that leaves room for its copies. */
  maximum: number;
}

/** What the kernel knows about the image it could make right now. */
export function sizing(ram: Ram): SizingFacts {
  const census = ram.census();
  const saveable = ram.map.numPhyspages - census.free;
  const maximum = Math.floor((ram.map.numPhyspages - PAGES_FOR_IO) / 2) - metadataPagesFor(saveable);
  return { saveable, minimum: saveable - census.cache, maximum };
}

/**
 * Makes the image: drops page cache toward image_size, then copies every page in use. Returns
 * the errno when it cannot (ENOMEM), leaving RAM untouched in that case.
 */
export function takeSnapshot(ram: Ram, options: SnapshotOptions): SnapshotImage | number {
  const facts = sizing(ram);
  if (facts.minimum > facts.maximum) return ERRNO.ENOMEM;
  const wanted = Math.ceil(options.imageSizeBytes / PAGE_SIZE);
  const target = Math.min(facts.saveable, facts.maximum, Math.max(wanted, facts.minimum));
  dropCache(ram, facts.saveable - target);

  const pfns: number[] = [];
  const zero: number[] = [];
  for (const range of ram.map.ranges) {
    for (let pfn = range.start; pfn < range.end; pfn++) {
      if (ram.pageState(pfn) === PAGE_FREE) continue;
      pfns.push(pfn);
      zero.push(options.zeroPages && ram.page(pfn).equals(ZERO_PAGE) ? 1 : 0);
    }
  }
  const copyCount = zero.length - zero.reduce((sum, z) => sum + z, 0);
  const copies = Buffer.allocUnsafe(copyCount * PAGE_SIZE);
  let copied = 0;
  pfns.forEach((pfn, i) => {
    if (zero[i]) return;
    ram.page(pfn).copy(copies, copied * PAGE_SIZE);
    copied++;
  });
  return new SnapshotImage({
    record: options.record,
    numPhyspages: ram.map.numPhyspages,
    pfns: Float64Array.from(pfns),
    zero: Uint8Array.from(zero),
    copies,
  });
}

/** Frees `count` page-cache pages, lowest PFNs first (the emulator's stand-in for LRU order). */
function dropCache(ram: Ram, count: number): void {
  let left = count;
  for (const range of ram.map.ranges) {
    for (let pfn = range.start; pfn < range.end && left > 0; pfn++) {
      if (ram.pageState(pfn) !== PAGE_CACHE) continue;
      ram.setPageState(pfn, PAGE_FREE);
      left--;
    }
  }
}
