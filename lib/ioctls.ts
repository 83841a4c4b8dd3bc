/**
 * The /dev/snapshot ioctl table (docs/snapshot-device.md §2.2), as <linux/suspend_ioctls.h> defines it on x86_64.
 * The native addon takes its numbers from that header; a test checks both agree with this table.
 */

export const SNAPSHOT_IOC_MAGIC = 0x33; // '3'
export const SNAPSHOT_IOC_MAXNR = 20;
export const PAGE_SIZE = 4096;

const IOC_NONE = 0;
const IOC_WRITE = 1;
const IOC_READ = 2;

/** `_IOC(dir, type, nr, size)` as the kernel encodes it. */
export function ioc(dir: number, type: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}

/** What the argument of an ioctl is. */
export type IoctlArg =
  | 'none' // ignored
  | 'value' // an integer passed by value
  | 'int-out' // int * written by the kernel
  | 'loff-out' // loff_t * written by the kernel
  | 'swap-area-in'; // struct resume_swap_area * read by the kernel

export interface IoctlSpec {
  readonly name: SnapshotIoctl;
  readonly nr: number;
  readonly request: number;
  readonly arg: IoctlArg;
}

export type SnapshotIoctl =
  | 'SNAPSHOT_FREEZE'
  | 'SNAPSHOT_UNFREEZE'
  | 'SNAPSHOT_ATOMIC_RESTORE'
  | 'SNAPSHOT_FREE'
  | 'SNAPSHOT_FREE_SWAP_PAGES'
  | 'SNAPSHOT_S2RAM'
  | 'SNAPSHOT_SET_SWAP_AREA'
  | 'SNAPSHOT_GET_IMAGE_SIZE'
  | 'SNAPSHOT_PLATFORM_SUPPORT'
  | 'SNAPSHOT_POWER_OFF'
  | 'SNAPSHOT_CREATE_IMAGE'
  | 'SNAPSHOT_PREF_IMAGE_SIZE'
  | 'SNAPSHOT_AVAIL_SWAP_SIZE'
  | 'SNAPSHOT_ALLOC_SWAP_PAGE';

function entry(name: SnapshotIoctl, dir: number, nr: number, size: number, arg: IoctlArg): IoctlSpec {
  return { name, nr, request: ioc(dir, SNAPSHOT_IOC_MAGIC, nr, size), arg };
}

/** Every ioctl a current kernel accepts on /dev/snapshot, by name. */
export const IOCTLS: Readonly<Record<SnapshotIoctl, IoctlSpec>> = {
  SNAPSHOT_FREEZE: entry('SNAPSHOT_FREEZE', IOC_NONE, 1, 0, 'none'),
  SNAPSHOT_UNFREEZE: entry('SNAPSHOT_UNFREEZE', IOC_NONE, 2, 0, 'none'),
  SNAPSHOT_ATOMIC_RESTORE: entry('SNAPSHOT_ATOMIC_RESTORE', IOC_NONE, 4, 0, 'none'),
  SNAPSHOT_FREE: entry('SNAPSHOT_FREE', IOC_NONE, 5, 0, 'none'),
  SNAPSHOT_FREE_SWAP_PAGES: entry('SNAPSHOT_FREE_SWAP_PAGES', IOC_NONE, 9, 0, 'none'),
  SNAPSHOT_S2RAM: entry('SNAPSHOT_S2RAM', IOC_NONE, 11, 0, 'none'),
  SNAPSHOT_SET_SWAP_AREA: entry('SNAPSHOT_SET_SWAP_AREA', IOC_WRITE, 13, 12, 'swap-area-in'),
  SNAPSHOT_GET_IMAGE_SIZE: entry('SNAPSHOT_GET_IMAGE_SIZE', IOC_READ, 14, 8, 'loff-out'),
  SNAPSHOT_PLATFORM_SUPPORT: entry('SNAPSHOT_PLATFORM_SUPPORT', IOC_NONE, 15, 0, 'value'),
  SNAPSHOT_POWER_OFF: entry('SNAPSHOT_POWER_OFF', IOC_NONE, 16, 0, 'none'),
  SNAPSHOT_CREATE_IMAGE: entry('SNAPSHOT_CREATE_IMAGE', IOC_WRITE, 17, 4, 'int-out'),
  SNAPSHOT_PREF_IMAGE_SIZE: entry('SNAPSHOT_PREF_IMAGE_SIZE', IOC_NONE, 18, 0, 'value'),
  SNAPSHOT_AVAIL_SWAP_SIZE: entry('SNAPSHOT_AVAIL_SWAP_SIZE', IOC_READ, 19, 8, 'loff-out'),
  SNAPSHOT_ALLOC_SWAP_PAGE: entry('SNAPSHOT_ALLOC_SWAP_PAGE', IOC_READ, 20, 8, 'loff-out'),
};

const BY_REQUEST = new Map<number, IoctlSpec>(Object.values(IOCTLS).map((s) => [s.request, s]));

/** The ioctl a 32-bit request value names, or undefined for anything a current kernel rejects. */
export function ioctlByRequest(request: number): IoctlSpec | undefined {
  return BY_REQUEST.get(request >>> 0);
}

/** Splits a request value into its `_IOC` fields. */
export function decodeRequest(request: number): { dir: number; size: number; type: number; nr: number } {
  const r = request >>> 0;
  return { dir: r >>> 30, size: (r >>> 16) & 0x3fff, type: (r >>> 8) & 0xff, nr: r & 0xff };
}

/** Linux's "new" 32-bit dev_t encoding used by SNAPSHOT_SET_SWAP_AREA (glibc makedev for normal numbers). */
export function encodeDev(major: number, minor: number): number {
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

export function decodeDev(dev: number): { major: number; minor: number } {
  return { major: (dev >>> 8) & 0xfff, minor: (dev & 0xff) | ((dev >>> 12) & 0xfff00) };
}
