/**
 * The snapshot image stream exactly as /dev/snapshot delivers and accepts it (docs/snapshot-device.md §5):
 *
 *   page 0          struct swsusp_info, with the x86 restore record overlaid at offset 0
 *   pages 1..M      metadata: 64-bit PFNs, 512 per page, bit 63 = "zero page, no data"
 *                   (6.6+), BM_END_OF_MAP after the last one if it fits
 *   pages M+1..M+C  data pages, for the entries without bit 63, in ascending PFN order
 *
 * `SnapshotImage` is an image held in kernel memory after CREATE_IMAGE; `StreamReader` is the
 * hibernate-side cursor (`snapshot_read_next`); `StreamLoader` is the restore-side cursor
 * (`snapshot_write_next`, `snapshot_image_loaded`), including the one-page lag of its checks
 * and the trailing-zero-page behaviour of 6.6+ kernels.
 */
import { ERRNO } from '../lib/errors.js';
import { PAGE_SIZE } from '../lib/ioctls.js';
import type { MemoryMap } from './e820.js';

export const X86_RESTORE_MAGIC = 0x23456789abcdef02n;
export const ZERO_PFN_FLAG = 1n << 63n;
export const BM_END_OF_MAP = 0xffff_ffff_ffff_ffffn;
export const PFNS_PER_METADATA_PAGE = PAGE_SIZE / 8;

/** `struct restore_data_record` (arch/x86/power/hibernate.c), five u64 at header offset 0. */
export interface RestoreRecord {
  jumpAddress: bigint;
  jumpAddressPhys: bigint;
  cr3: bigint;
  magic: bigint;
  /** CRC32 of the firmware e820 table; stored in a u64 whose upper half is 0. */
  e820Checksum: number;
}

/** `struct swsusp_info` as x86_64 fills it. */
export interface ImageHeader {
  record: RestoreRecord;
  versionCode: number;
  numPhyspages: number;
  cpus: number;
  /** C: data pages in the stream. */
  imagePages: number;
  /** 1 + M + C. */
  pages: number;
  /** pages × 4096. */
  size: number;
}

const OFFSET = {
  jumpAddress: 0,
  jumpAddressPhys: 8,
  cr3: 16,
  magic: 24,
  e820Checksum: 32,
  versionCode: 392,
  numPhyspages: 400,
  cpus: 408,
  imagePages: 416,
  pages: 424,
  size: 432,
} as const;

export function encodeImageHeader(header: ImageHeader): Uint8Array {
  const page = new Uint8Array(PAGE_SIZE);
  const view = new DataView(page.buffer);
  view.setBigUint64(OFFSET.jumpAddress, header.record.jumpAddress, true);
  view.setBigUint64(OFFSET.jumpAddressPhys, header.record.jumpAddressPhys, true);
  view.setBigUint64(OFFSET.cr3, header.record.cr3, true);
  view.setBigUint64(OFFSET.magic, header.record.magic, true);
  view.setBigUint64(OFFSET.e820Checksum, BigInt(header.record.e820Checksum), true);
  view.setUint32(OFFSET.versionCode, header.versionCode, true);
  view.setBigUint64(OFFSET.numPhyspages, BigInt(header.numPhyspages), true);
  view.setInt32(OFFSET.cpus, header.cpus, true);
  view.setBigUint64(OFFSET.imagePages, BigInt(header.imagePages), true);
  view.setBigUint64(OFFSET.pages, BigInt(header.pages), true);
  view.setBigUint64(OFFSET.size, BigInt(header.size), true);
  return page;
}

/** Reads a header page. Counts beyond 2^53 (only in forged headers) come out as inexact numbers. */
export function decodeImageHeader(page: Uint8Array): ImageHeader {
  const view = new DataView(page.buffer, page.byteOffset, PAGE_SIZE);
  const u64 = (at: number) => Number(view.getBigUint64(at, true));
  return {
    record: {
      jumpAddress: view.getBigUint64(OFFSET.jumpAddress, true),
      jumpAddressPhys: view.getBigUint64(OFFSET.jumpAddressPhys, true),
      cr3: view.getBigUint64(OFFSET.cr3, true),
      magic: view.getBigUint64(OFFSET.magic, true),
      e820Checksum: Number(view.getBigUint64(OFFSET.e820Checksum, true) & 0xffff_ffffn),
    },
    versionCode: view.getUint32(OFFSET.versionCode, true),
    numPhyspages: u64(OFFSET.numPhyspages),
    cpus: view.getInt32(OFFSET.cpus, true),
    imagePages: u64(OFFSET.imagePages),
    pages: u64(OFFSET.pages),
    size: u64(OFFSET.size),
  };
}

/** One metadata entry: a PFN, and whether it was a zero page (bit 63). */
export interface MetadataEntry {
  pfn: number;
  zero: boolean;
}

/** Packs up to 512 entries into a metadata page; BM_END_OF_MAP follows the last if there is room. */
export function encodeMetadataPage(entries: readonly MetadataEntry[]): Uint8Array {
  if (entries.length > PFNS_PER_METADATA_PAGE) throw new RangeError(`a metadata page holds ${PFNS_PER_METADATA_PAGE} entries`);
  const page = new Uint8Array(PAGE_SIZE);
  const view = new DataView(page.buffer);
  entries.forEach((entry, i) => view.setBigUint64(8 * i, BigInt(entry.pfn) | (entry.zero ? ZERO_PFN_FLAG : 0n), true));
  if (entries.length < PFNS_PER_METADATA_PAGE) view.setBigUint64(8 * entries.length, BM_END_OF_MAP, true);
  return page;
}

/**
 * The raw 64-bit entries of a metadata page up to BM_END_OF_MAP: what `unpack_orig_pfns` walks.
 * Kept raw because only the loader knows (from its kernel profile) what bit 63 means.
 */
function metadataWords(page: Uint8Array): bigint[] {
  const view = new DataView(page.buffer, page.byteOffset, PAGE_SIZE);
  const words: bigint[] = [];
  for (let i = 0; i < PFNS_PER_METADATA_PAGE; i++) {
    const word = view.getBigUint64(8 * i, true);
    if (word === BM_END_OF_MAP) break;
    words.push(word);
  }
  return words;
}

/** Decodes a metadata page as a 6.6+ kernel reads it. */
export function decodeMetadataPage(page: Uint8Array): MetadataEntry[] {
  return metadataWords(page).map((word) => ({ pfn: Number(word & ~ZERO_PFN_FLAG), zero: (word & ZERO_PFN_FLAG) !== 0n }));
}

/**
 * A hibernation image in kernel memory: what CREATE_IMAGE leaves behind. `pfns` lists every
 * saved page frame in ascending order; `zero[i]` says entry i is a zero page (no copy);
 * `copies` holds the data pages in the order of the non-zero entries.
 */
export class SnapshotImage {
  readonly header: ImageHeader;
  readonly pfns: Float64Array;
  readonly zero: Uint8Array;
  readonly copies: Buffer;

  constructor(fields: { record: RestoreRecord; numPhyspages: number; pfns: Float64Array; zero: Uint8Array; copies: Buffer }) {
    this.pfns = fields.pfns;
    this.zero = fields.zero;
    this.copies = fields.copies;
    const copyPages = fields.copies.length / PAGE_SIZE;
    const pages = 1 + metadataPagesFor(this.pfns.length) + copyPages;
    this.header = {
      record: fields.record,
      versionCode: 0,
      numPhyspages: fields.numPhyspages,
      cpus: 0,
      imagePages: copyPages,
      pages,
      size: pages * PAGE_SIZE,
    };
  }

  get copyPages(): number {
    return this.header.imagePages;
  }

  get metaPages(): number {
    return metadataPagesFor(this.pfns.length);
  }

  get zeroPages(): number {
    return this.pfns.length - this.copyPages;
  }

  /** `pack_pfns` for metadata page `index` (0-based). */
  metadataPage(index: number): Uint8Array {
    const first = index * PFNS_PER_METADATA_PAGE;
    const last = Math.min(first + PFNS_PER_METADATA_PAGE, this.pfns.length);
    const entries: MetadataEntry[] = [];
    for (let i = first; i < last; i++) entries.push({ pfn: this.pfns[i]!, zero: this.zero[i] === 1 });
    return encodeMetadataPage(entries);
  }
}

export function metadataPagesFor(entries: number): number {
  return Math.ceil((entries * 8) / PAGE_SIZE);
}

/** `snapshot_read_next`: hands out the stream one page at a time, advancing before any copy. */
export class StreamReader {
  readonly image: SnapshotImage;
  /** Pages handed out so far (`handle->cur`). */
  cur = 0;

  constructor(image: SnapshotImage) {
    this.image = image;
  }

  /** The next page of the stream, or null at its end (and forever after). */
  next(): Uint8Array | null {
    const { metaPages, copyPages } = this.image;
    if (this.cur > metaPages + copyPages) return null;
    let page: Uint8Array;
    if (this.cur === 0) page = encodeImageHeader(this.image.header);
    else if (this.cur <= metaPages) page = this.image.metadataPage(this.cur - 1);
    else {
      const data = this.cur - metaPages - 1;
      page = this.image.copies.subarray(data * PAGE_SIZE, (data + 1) * PAGE_SIZE);
    }
    this.cur++;
    return page;
  }
}

/** What the restore kernel checks an incoming header against. */
interface RestoreTarget {
  map: MemoryMap;
  /** Zero pages in metadata are understood (6.6+); older kernels see bit 63 as an invalid PFN. */
  zeroPages: boolean;
}

/** A negative outcome of `StreamLoader.next()`: the errno `snapshot_write_next` returns. */
export class LoaderError extends Error {
  readonly errno: number;
  constructor(errno: number, reason: string) {
    super(reason);
    this.errno = errno;
  }
}

/**
 * `snapshot_write_next` and `snapshot_image_loaded`. The user writes each page into `buffer`;
 * the *next* call at a page boundary examines it (header check at the write that starts page 1,
 * metadata at the writes that start pages 2..M+1), then hands out the next buffer. Zero pages
 * are consumed inside a call, never on their own.
 */
export class StreamLoader {
  readonly #target: RestoreTarget;
  /** Slots handed out so far (`handle->cur`). */
  cur = 0;
  /** Where the user's next bytes go; null before the first call. */
  buffer: Uint8Array | null = null;
  #scratch: Uint8Array | null = null;
  nrMeta = 0;
  nrCopy = 0;
  nrZero = 0;
  #orig = new Set<number>();
  #zero = new Set<number>();
  /** After the metadata: the saved PFNs in ascending order and their contents, slot by slot. */
  #pfns: number[] = [];
  #pages: Buffer | null = null;
  #position = 0;

  constructor(target: RestoreTarget) {
    this.#target = target;
  }

  /** Page size when a buffer for the next page is ready, 0 when the image is complete. Throws LoaderError. */
  next(): number {
    for (;;) {
      if (this.cur > 1 && this.cur > this.nrMeta + this.nrCopy + this.nrZero) return 0;
      if (this.cur === 0) {
        this.#scratch ??= new Uint8Array(PAGE_SIZE);
        this.buffer = this.#scratch;
      } else if (this.cur === 1) {
        this.#loadHeader(this.#scratch!);
      } else if (this.cur <= this.nrMeta + 1) {
        this.#unpack(this.#scratch!);
        if (this.cur === this.nrMeta + 1) {
          this.#prepareImage();
          this.buffer = this.#nextSlot();
        }
      } else {
        this.buffer = this.#nextSlot();
      }
      this.cur++;
      if (this.cur > this.nrMeta + 1 && this.#zero.has(this.#pfns[this.#position - 1]!)) {
        this.buffer!.fill(0);
        continue;
      }
      return PAGE_SIZE;
    }
  }

  /** `snapshot_image_loaded`: every slot (header, metadata, data and zero pages) has been passed. */
  loaded(): boolean {
    return this.nrCopy !== 0 && this.cur > this.nrMeta + this.nrCopy + this.nrZero;
  }

  /** The cursor is among the data pages (the metadata has been processed). */
  inDataRegion(): boolean {
    return this.#pages !== null && this.cur > this.nrMeta + 1;
  }

  /** Whether every slot still ahead is a zero page (so consuming them completes the image). */
  onlyZeroPagesRemain(): boolean {
    for (let i = this.#position; i < this.#pfns.length; i++) if (!this.#zero.has(this.#pfns[i]!)) return false;
    return true;
  }

  /** Passes the remaining zero pages, as a further `snapshot_write_next` call would. */
  drainZeroPages(): void {
    while (this.#position < this.#pfns.length && this.#zero.has(this.#pfns[this.#position]!)) {
      this.#slot(this.#position).fill(0);
      this.#position++;
      this.cur++;
    }
  }

  /** The loaded image: saved PFNs ascending, and their contents in the same order. */
  result(): { pfns: readonly number[]; pages: Buffer } {
    if (!this.#pages) throw new Error('the image metadata has not been loaded');
    return { pfns: this.#pfns, pages: this.#pages };
  }

  /** `load_header` → `check_header`: arch record (magic, e820), then memory size. All mismatches are EPERM. */
  #loadHeader(page: Uint8Array): void {
    const header = decodeImageHeader(page);
    const { map } = this.#target;
    if (header.record.magic !== X86_RESTORE_MAGIC) throw new LoaderError(ERRNO.EPERM, 'Unrecognized hibernate image header format');
    if (header.record.e820Checksum !== map.e820Checksum) throw new LoaderError(ERRNO.EPERM, 'inconsistent memory map');
    if (header.numPhyspages !== map.numPhyspages) throw new LoaderError(ERRNO.EPERM, 'Image mismatch: memory size');
    // The kernel computes nr_meta_pages = pages - image_pages - 1 unchecked (an unsigned wrap, or
    // zero metadata pages, leads into undefined behaviour); the emulator refuses such headers.
    if (!(header.pages >= header.imagePages + 2) || !Number.isSafeInteger(header.pages)) {
      throw new LoaderError(ERRNO.EINVAL, 'header page counts are inconsistent (undefined behaviour in the kernel)');
    }
    this.nrCopy = header.imagePages;
    this.nrMeta = header.pages - header.imagePages - 1;
    this.nrZero = 0;
    this.#orig = new Set();
    this.#zero = new Set();
  }

  /** `unpack_orig_pfns`: every PFN must be valid for this machine, else EFAULT ("Memory map mismatch"). */
  #unpack(page: Uint8Array): void {
    for (const word of metadataWords(page)) {
      const zero = this.#target.zeroPages && (word & ZERO_PFN_FLAG) !== 0n;
      const pfn = Number(zero ? word & ~ZERO_PFN_FLAG : word);
      if (!Number.isSafeInteger(pfn) || !this.#target.map.acceptsImagePfn(pfn)) {
        throw new LoaderError(ERRNO.EFAULT, `Memory map mismatch at pfn 0x${word.toString(16)}`);
      }
      this.#orig.add(pfn);
      if (zero) {
        this.#zero.add(pfn);
        this.nrZero++;
      }
    }
  }

  /** `prepare_image`: from now on slots follow the saved PFNs in ascending order. */
  #prepareImage(): void {
    this.#pfns = [...this.#orig].sort((a, b) => a - b);
    this.#pages = Buffer.alloc(this.#pfns.length * PAGE_SIZE);
    this.#position = 0;
  }

  /** `get_buffer`: the slot of the next saved PFN; more slots than PFNs is EFAULT. */
  #nextSlot(): Uint8Array {
    if (this.#position >= this.#pfns.length) throw new LoaderError(ERRNO.EFAULT, 'more image data than metadata');
    return this.#slot(this.#position++);
  }

  #slot(index: number): Uint8Array {
    return this.#pages!.subarray(index * PAGE_SIZE, (index + 1) * PAGE_SIZE);
  }
}
