/**
 * Active swap areas, as the kernel's swap_info array holds them: what `swapon` accepts, what
 * /proc/swaps shows, which area `swap_type_of()` finds for SNAPSHOT_SET_SWAP_AREA, and the
 * page slots SNAPSHOT_ALLOC_SWAP_PAGE hands out (docs/snapshot-device.md §2.3; mm/swapfile.c).
 *
 * Slot rules: slot 0 is the header and is never handed out; slots in use by swapped-out memory
 * are not either; the lowest free slot goes first; its address is a byte offset on the block
 * device that holds the area (for a swap file, an offset on the disk, not in the file).
 */
import type { SwapArea } from '../lib/backend.js';
import { PAGE_SIZE } from '../lib/ioctls.js';
import { swapAreaProblem, usableSwapPages, type SwapHeader } from '../lib/swap-header.js';

/** One active area: plain data, so it can be persisted and carried in the kernel record. */
export interface ActiveSwap {
  /** As /proc/swaps names it. */
  path: string;
  type: 'partition' | 'file';
  /** Block device holding the area. */
  device: string;
  dev: number;
  /** Page index of the header on `device`. */
  offsetPages: number;
  /** Usable slots: the area's pages minus the header and bad pages. */
  pages: number;
  /** Slots holding swapped-out memory (the first ones after the header). */
  usedPages: number;
  /** Slots handed out by ALLOC_SWAP_PAGE (after the used ones). */
  allocated: number;
  priority: number;
}

export interface SwapLocation {
  path: string;
  type: 'partition' | 'file';
  device: string;
  dev: number;
  offsetPages: number;
  /** Size of the partition or file. */
  sizeBytes: number;
}

/**
 * Signatures util-linux `swapon` recognises as hibernation images and rewrites to SWAPSPACE2
 * (docs/snapshot-device.md §6.3).
 */
export const FOREIGN_HIBERNATION_SIGNATURES = ['S1SUSPEND', 'S2SUSPEND', 'ULSUSPEND', 'LINHIB0001'];

export class SwapTable {
  readonly areas: ActiveSwap[];

  constructor(areas: ActiveSwap[] = []) {
    this.areas = areas;
  }

  /**
   * swapon(2) of an area whose header is `header`. Returns the reason when the kernel refuses
   * (a header it does not accept, lib/swap-header.ts swapAreaProblem; already active).
   */
  activate(location: SwapLocation, header: SwapHeader, options: { usedPages: number; priority?: number }): string | null {
    const problem = swapAreaProblem(header, location);
    if (problem !== null) return problem;
    if (this.areas.some((a) => a.dev === location.dev && a.offsetPages === location.offsetPages)) return 'already active';
    const pages = usableSwapPages(header);
    if (pages <= 0) return 'the area has no usable pages';
    this.areas.push({
      path: location.path,
      type: location.type,
      device: location.device,
      dev: location.dev,
      offsetPages: location.offsetPages,
      pages,
      usedPages: Math.min(options.usedPages, pages),
      allocated: 0,
      // The kernel numbers areas without an explicit priority -2, -3, …
      priority: options.priority ?? -2 - this.areas.length,
    });
    return null;
  }

  /** `swap_type_of(dev, offset)`: the index of the active area on `dev` whose header is at page `offset`, or -1. */
  typeOf(dev: number, offsetPages: number): number {
    if (dev === 0) return -1;
    return this.areas.findIndex((a) => a.dev === dev && a.offsetPages === offsetPages);
  }

  /** Free slots of area `type` (0 for none selected). */
  freePages(type: number): number {
    const area = this.areas[type];
    return area ? area.pages - area.usedPages - area.allocated : 0;
  }

  /** Byte offset of the next free slot of area `type` on its block device, or null when full. */
  allocate(type: number): number | null {
    const area = this.areas[type]!;
    if (this.freePages(type) === 0) return null;
    const slot = 1 + area.usedPages + area.allocated;
    area.allocated++;
    return (area.offsetPages + slot) * PAGE_SIZE;
  }

  /** `free_all_swap_pages`: gives back every slot ALLOC_SWAP_PAGE handed out from area `type`. */
  freeAllocated(type: number): void {
    const area = this.areas[type];
    if (area) area.allocated = 0;
  }

  /** `swsusp_swap_in_use`: some slot is handed out (SET_SWAP_AREA is refused meanwhile). */
  anyAllocated(): boolean {
    return this.areas.some((a) => a.allocated > 0);
  }

  /** An active swap partition on this block device (writes to it need SET_SWAP_AREA: docs/snapshot-device.md §2.3). */
  isActivePartition(dev: number): boolean {
    return this.areas.some((a) => a.type === 'partition' && a.dev === dev);
  }

  /** /proc/swaps. */
  view(): SwapArea[] {
    return this.areas.map((a) => ({
      path: a.path,
      type: a.type,
      sizeBytes: a.pages * PAGE_SIZE,
      usedBytes: (a.usedPages + a.allocated) * PAGE_SIZE,
      priority: a.priority,
      blockDevice: a.device,
      dev: a.dev,
      offsetPages: a.offsetPages,
    }));
  }
}
