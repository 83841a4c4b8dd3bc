/**
 * The physical memory map of the emulated x86_64 machine: the firmware's e820 table (as QEMU's
 * SeaBIOS reports it), the page frames the kernel treats as present, and the two numbers the
 * hibernation header carries about them: `num_physpages` and the CRC32 of the e820 table
 * (docs/snapshot-device.md §5.2, §5.3).
 */
import { PAGE_SIZE } from '../lib/ioctls.js';

const E820_RAM = 1;
const E820_RESERVED = 2;

interface E820Entry {
  addr: number;
  size: number;
  type: number;
}

/** A run of present page frames [start, end). */
interface PfnRange {
  start: number;
  end: number;
}

const MIB = 1 << 20;
/** Above this, QEMU's pc machine moves RAM beyond the 32-bit PCI hole, to 4 GiB. */
const LOW_MEMORY_LIMIT = 3 * 1024 * MIB;
const FOUR_GIB = 4 * 1024 * MIB;
/** SeaBIOS keeps the top 128 KiB of low RAM for its ACPI tables. */
const BIOS_TABLES = 128 * 1024;

/** x86 zone boundaries (pfns): DMA below 16 MiB, DMA32 below 4 GiB, Normal above. */
const ZONE_LIMITS = [0x1000, 0x100000, Number.MAX_SAFE_INTEGER];
/** SPARSEMEM_VMEMMAP tracks validity in 2 MiB subsections (512 pages). */
const SUBSECTION_PAGES = 512;

/** The e820 table SeaBIOS gives a QEMU pc guest with `memoryBytes` of RAM. */
export function seabiosE820(memoryBytes: number): E820Entry[] {
  if (memoryBytes % MIB !== 0 || memoryBytes < 32 * MIB) {
    throw new RangeError(`memory must be a whole number of MiB, at least 32 MiB; got ${memoryBytes} bytes`);
  }
  const low = Math.min(memoryBytes, LOW_MEMORY_LIMIT);
  const entries: E820Entry[] = [
    { addr: 0, size: 0x9fc00, type: E820_RAM },
    { addr: 0x9fc00, size: 0x400, type: E820_RESERVED },
    { addr: 0xf0000, size: 0x10000, type: E820_RESERVED },
    { addr: 0x100000, size: low - BIOS_TABLES - 0x100000, type: E820_RAM },
    { addr: low - BIOS_TABLES, size: BIOS_TABLES, type: E820_RESERVED },
    { addr: 0xfeffc000, size: 0x4000, type: E820_RESERVED },
    { addr: 0xfffc0000, size: 0x40000, type: E820_RESERVED },
  ];
  if (memoryBytes > low) entries.push({ addr: FOUR_GIB, size: memoryBytes - low, type: E820_RAM });
  return entries;
}

/** crc32_le(0, buf, len) as the kernel computes it: reflected IEEE polynomial, no pre- or post-inversion. */
export function crc32Raw(data: Uint8Array, crc = 0): number {
  let c = crc >>> 0;
  for (let i = 0; i < data.length; i++) c = (CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)) >>> 0;
  return c;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export class MemoryMap {
  readonly e820: readonly E820Entry[];
  /** Present page frames, ascending. */
  readonly ranges: readonly PfnRange[];
  /** Sum of present pages: the header's `num_physpages`. */
  readonly numPhyspages: number;
  /** CRC32 of the firmware e820 table (`struct e820_table` up to its last used entry). */
  readonly e820Checksum: number;
  /** Where each range starts in the dense page index used for RAM storage. */
  readonly #denseStart: number[];
  /** The pfn span of every populated zone: what the kernel's memory bitmaps cover. */
  readonly #zoneSpans: PfnRange[];

  constructor(e820: readonly E820Entry[]) {
    this.e820 = e820;
    this.ranges = presentRanges(e820);
    this.#denseStart = [];
    let total = 0;
    for (const range of this.ranges) {
      this.#denseStart.push(total);
      total += range.end - range.start;
    }
    this.numPhyspages = total;
    this.e820Checksum = crc32Raw(encodeE820Table(e820));
    this.#zoneSpans = zoneSpans(this.ranges);
  }

  static forMemorySize(memoryBytes: number): MemoryMap {
    return new MemoryMap(seabiosE820(memoryBytes));
  }

  isPresent(pfn: number): boolean {
    return this.denseIndex(pfn) >= 0;
  }

  /** Position of `pfn` among the present pages (RAM storage order), or -1 for a hole. */
  denseIndex(pfn: number): number {
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const range = this.ranges[mid]!;
      if (pfn < range.start) hi = mid - 1;
      else if (pfn >= range.end) lo = mid + 1;
      else return this.#denseStart[mid]! + (pfn - range.start);
    }
    return -1;
  }

  /**
   * Whether the restore kernel accepts `pfn` from image metadata: `pfn_valid()` (its 2 MiB
   * subsection holds some RAM, so small holes such as the ISA window pass) and inside the span
   * of a populated zone (`memory_bm_pfn_present`). Anything else is "Memory map mismatch", EFAULT.
   */
  acceptsImagePfn(pfn: number): boolean {
    if (!this.#zoneSpans.some((span) => pfn >= span.start && pfn < span.end)) return false;
    const first = Math.floor(pfn / SUBSECTION_PAGES) * SUBSECTION_PAGES;
    const last = first + SUBSECTION_PAGES;
    return this.ranges.some((range) => range.start < last && range.end > first);
  }
}

/**
 * Page frames fully inside RAM entries, minus page 0, which x86 kernels take away from the
 * allocator at boot (its e820 copy, not the firmware's, turns it into "reserved").
 */
function presentRanges(e820: readonly E820Entry[]): PfnRange[] {
  const ranges: PfnRange[] = [];
  for (const entry of e820) {
    if (entry.type !== E820_RAM) continue;
    const start = Math.max(1, Math.ceil(entry.addr / PAGE_SIZE));
    const end = Math.floor((entry.addr + entry.size) / PAGE_SIZE);
    if (end > start) ranges.push({ start, end });
  }
  return ranges.sort((a, b) => a.start - b.start);
}

function zoneSpans(ranges: readonly PfnRange[]): PfnRange[] {
  const spans: PfnRange[] = [];
  let zoneStart = 0;
  for (const limit of ZONE_LIMITS) {
    const inZone = ranges
      .map((r) => ({ start: Math.max(r.start, zoneStart), end: Math.min(r.end, limit) }))
      .filter((r) => r.end > r.start);
    if (inZone.length > 0) spans.push({ start: inZone[0]!.start, end: inZone[inZone.length - 1]!.end });
    zoneStart = limit;
  }
  return spans;
}

/** `struct e820_table` bytes the checksum covers: u32 nr_entries, then packed {u64 addr, u64 size, u32 type}. */
function encodeE820Table(e820: readonly E820Entry[]): Uint8Array {
  const bytes = new Uint8Array(4 + 20 * e820.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, e820.length, true);
  e820.forEach((entry, i) => {
    const at = 4 + 20 * i;
    view.setBigUint64(at, BigInt(entry.addr), true);
    view.setBigUint64(at + 8, BigInt(entry.size), true);
    view.setUint32(at + 16, entry.type, true);
  });
  return bytes;
}
