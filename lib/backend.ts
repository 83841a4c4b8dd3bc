/**
 * The machine operations hiberkit needs, as one typed interface with two implementations:
 * `lib/native/` drives the real kernel through the C++ addon, `emulator/` emulates a machine
 * in TypeScript. Everything else in `lib/` receives a `Backend` and never asks which one it is.
 *
 * Failures of system calls are thrown as `SnapshotError` (lib/errors.ts) by both backends,
 * with the same `code` and `errno` in the same situations.
 */
import type { MachinePaths } from './machine-paths.js';

/** How /dev/snapshot is opened: O_RDONLY ("hibernate" mode) or O_WRONLY ("restore" mode). */
export type SnapshotMode = 'hibernate' | 'restore';

/**
 * One open file of /dev/snapshot. Every method is one system call, synchronous, on the calling
 * thread. That is deliberate (docs/snapshot-device.md §7): FREEZE, UNFREEZE, CREATE_IMAGE, ATOMIC_RESTORE and the
 * final close must run on the thread that froze user space, and every other thread of the
 * process (the libuv pool, V8's workers) is frozen with the rest of user space.
 *
 * While this device has user space frozen (between `freeze()` and `unfreeze()`/`close()`):
 *  - call only the methods of this object, synchronously;
 *  - do not await anything, do no async I/O (it would wait on a frozen thread forever), do not
 *    allocate much (the garbage collector may wait on its frozen helpers): run node with
 *    `--single-threaded` if you freeze from JavaScript at all;
 *  - if this process dies, user space stays frozen (docs/snapshot-device.md §7.3). Only tests and experts freeze
 *    from JavaScript; `hibernate()` and `resume()` run their critical section in a forked,
 *    single-threaded native child instead (see `CriticalSection`).
 * The native backend refuses asynchronous block I/O while a device of this process is frozen.
 */
export interface SnapshotDevice {
  readonly path: string;
  readonly mode: SnapshotMode;
  /** False once closed (or handed to a critical section). */
  readonly isOpen: boolean;

  /** SNAPSHOT_FREEZE: sync filesystems and freeze every user-space thread but this one. */
  freeze(): void;
  /** SNAPSHOT_UNFREEZE: thaw; a silent no-op when not frozen or while an image exists. */
  unfreeze(): void;
  /** SNAPSHOT_CREATE_IMAGE: returns 1 in the hibernating kernel, 0 after a restore. */
  createImage(): number;
  /** SNAPSHOT_ATOMIC_RESTORE: jumps into the loaded image; returns only on failure (throws). */
  atomicRestore(): void;
  /** SNAPSHOT_FREE: frees the image (never fails). */
  free(): void;
  /** SNAPSHOT_PREF_IMAGE_SIZE: preferred image size in bytes (the kernel's image_size). */
  setPreferredImageSize(bytes: number): void;
  /** SNAPSHOT_GET_IMAGE_SIZE: bytes read() will deliver (header + metadata + data pages). */
  getImageSize(): number;
  /** SNAPSHOT_AVAIL_SWAP_SIZE: free bytes in the selected swap area (0 if none). */
  availableSwapSize(): number;
  /** SNAPSHOT_ALLOC_SWAP_PAGE: reserves one swap page; returns its byte offset on the block device. */
  allocSwapPage(): number;
  /** SNAPSHOT_FREE_SWAP_PAGES: releases every page allocSwapPage handed out. */
  freeSwapPages(): void;
  /** SNAPSHOT_SET_SWAP_AREA: selects the swap area by device number and header page. */
  setSwapArea(dev: number, offsetPages: number): void;
  /** SNAPSHOT_PLATFORM_SUPPORT. */
  setPlatformSupport(enabled: boolean): void;
  /** SNAPSHOT_POWER_OFF: enters ACPI S4 if platform support is on (never returns then). */
  powerOff(): void;
  /** SNAPSHOT_S2RAM: suspends to RAM; returns after wake-up. */
  suspendToRam(): void;
  /** A raw ioctl by request number, for conformance tests: returns the value or throws. */
  ioctl(request: number, arg?: number): number;

  /**
   * One read(2) of `length` bytes (default buf.length) into `buf`: the raw device rule, at most
   * one page per call (docs/snapshot-device.md §3.3). Returns the byte count, 0 at the end of the image.
   */
  read(buf: Uint8Array, length?: number): number;
  /** One write(2): at most one page per call (docs/snapshot-device.md §3.4). */
  write(buf: Uint8Array, length?: number): number;
  /**
   * readv(2) with `buf.length / 4096` segments of one page each: whole pages only, many per call.
   * Returns bytes read (a multiple of 4096; 0 at the end).
   */
  readPages(buf: Uint8Array): number;
  /** writev(2) with 4096-byte segments. Returns bytes written; 0 when the image is complete. */
  writePages(buf: Uint8Array): number;
  /** lseek(2); always fails on this device (ESPIPE). */
  seek(offset: number): number;

  /** close(2). Frees the image and swap pages, thaws if frozen. */
  close(): void;
}

/** A block device (or a regular file standing in for one) opened for raw image I/O. */
export interface BlockDevice {
  readonly path: string;
  readonly size: number;
  /** Logical block size: the alignment O_DIRECT needs for offsets, lengths and buffers. */
  readonly logicalBlockSize: number;
  readonly direct: boolean;
  /** A buffer aligned for this device's direct I/O (page aligned). */
  allocAligned(bytes: number): Uint8Array;
  readSync(buf: Uint8Array, position: number): number;
  writeSync(buf: Uint8Array, position: number): number;
  read(buf: Uint8Array, position: number): Promise<number>;
  write(buf: Uint8Array, position: number): Promise<number>;
  /** fdatasync(2). */
  flush(): void;
  close(): void;
}

export interface OpenBlockOptions {
  write?: boolean;
  /** O_DIRECT where the device supports it. */
  direct?: boolean;
}

/** One line of /proc/swaps, with the device facts hibernation needs. */
export interface SwapArea {
  /** As /proc/swaps names it: '/dev/vda' or '/swapfile'. */
  path: string;
  type: 'partition' | 'file';
  sizeBytes: number;
  usedBytes: number;
  priority: number;
  /** The block device that holds the area (the partition itself, or the file's filesystem). */
  blockDevice: string;
  /** Its device number in the kernel's encoding (major << 8 | minor for small numbers). */
  dev: number;
  /** Page index of the swap header on `blockDevice`: 0 for a partition, the file's first physical page for a file. */
  offsetPages: number;
}

/** What the kernel says about hibernation on this machine (/sys/power and friends). */
export interface HibernationSupport {
  /** /dev/snapshot exists. */
  snapshotDevice: boolean;
  /** /sys/power/state lists "disk". */
  diskState: boolean;
  /** /sys/power/disk is not "[disabled]". */
  enabled: boolean;
  /** Kernel lockdown mode, if any ('none', 'integrity', 'confidentiality'). */
  lockdown: string;
  /** The power-off methods /sys/power/disk offers (platform, shutdown, reboot, …). */
  diskModes: string[];
  /** `nohibernate` or `hibernate=no…` on the kernel command line. */
  disabledOnCommandLine: boolean;
  /**
   * /sys/power/image_size: the image size the kernel aims for, in bytes (2/5 of RAM unless an
   * administrator set another); null where the kernel has no such file.
   */
  imageSizeBytes: number | null;
}

/** Facts about the running system, read from /proc, /sys and stat(2). */
export interface SystemInfo {
  kernelRelease(): string;
  /** A stable identity of this machine (/etc/machine-id, else DMI product UUID, else hostname). */
  machineId(): string;
  /** The kernel command line, split into words. */
  commandLine(): string[];
  /** Active swap areas from /proc/swaps, resolved to block device + header page. */
  swapAreas(): SwapArea[];
  /** The resume device from `resume=` / `/sys/power/resume` and `resume_offset=`, if set. */
  resumeSetting(): { device: string | null; dev: number; offsetPages: number };
  hibernationSupport(): HibernationSupport;
  /** Effective user is root (CAP_SYS_ADMIN in practice). */
  isPrivileged(): boolean;
  /** Device number of a block device node ('/dev/vda' → 254:0 encoded). */
  deviceNumber(path: string): number;
  /** Resolves `maj:min`, `UUID=…`, `LABEL=…`, or a path to a block device node path. */
  resolveBlockDevice(spec: string): string;
  /** Physical page of the first page of a swap file on its block device (FIEMAP). */
  swapFileOffset(path: string): { blockDevice: string; offsetPages: number };
  /**
   * Whether what is written to the block device `path` is encrypted below it: the device, or one it
   * is stacked on (LVM on LUKS), is a dm-crypt mapping.
   */
  isEncryptedBlockDevice(path: string): boolean;
  /** Total RAM in bytes. */
  memoryBytes(): number;
  /**
   * RAM the kernel cannot drop to make the image smaller (MemTotal − MemAvailable): the smallest
   * image hibernation can hope for, before compression.
   */
  memoryInUseBytes(): number;
}

export type PowerOffMethod = 'platform' | 'shutdown' | 'reboot';

export interface Power {
  /** sync(2). */
  sync(): void;
}

export type HibernateOutcome =
  /** The machine was hibernated and later resumed: this process continues. */
  | { kind: 'resumed' }
  /** Hibernation did not happen; the system is thawed, the image invalidated, swap usable. */
  | { kind: 'failed'; stage: string; error: Error };

export type RestoreOutcome =
  /** The emulator's way of saying "control passed to the image" (a real restore never returns). */
  | { kind: 'restored' }
  | { kind: 'failed'; stage: string; error: Error };

/**
 * The part of hibernation that runs with user space frozen. Native: a forked, single-threaded,
 * memory-locked child running C++ only, so that its death releases /dev/snapshot and thaws the
 * machine (docs/snapshot-device.md §7.3). Emulator: the same steps in TypeScript against the emulated device.
 */
export interface CriticalSection {
  hibernate(plan: HibernatePlan): Promise<HibernateOutcome>;
  restore(plan: RestorePlan): Promise<RestoreOutcome>;
}

/** Everything the hibernation critical section needs, prepared before the freeze. */
export interface HibernatePlan {
  /** Open in hibernate mode, swap area selected, preferred image size set; ownership passes to the critical section. */
  device: SnapshotDevice;
  /** The resume block device, opened for writing (direct I/O where possible). */
  storage: BlockDevice;
  /** Page index of the swap header page on `storage`. */
  resumePage: number;
  /** The swap header page as it is now (4096 bytes), to mark and to put back. */
  originalResumePage: Uint8Array;
  /** The image header fields known before the freeze (docs/image-format.md). */
  header: ImageIdentity;
  compression: 'lz4' | 'none';
  /** Uncompressed pages per chunk. */
  chunkPages: number;
  powerOff: PowerOffMethod;
  /** Encrypt and authenticate the image (absent: checksums only). */
  encryption?: ImageEncryption;
  /** Where the critical section prints its progress lines (a file descriptor; default: nowhere). */
  progressFd?: number;
}

/** How an image is encrypted (docs/image-format.md, "Encryption"; keys from lib/crypto/keys.ts). */
export interface ImageEncryption {
  /** The image's random data key, sealed for the recipient: stored in the image header. */
  keyBlock: Uint8Array;
  /** The data key itself; chunk and header keys are derived from it. Wiped after use. */
  dataKey: Uint8Array;
  /**
   * This machine's proof of origin (lib/crypto/origin.ts): the image id it signed, and the Ed25519
   * signature over that id and `keyBlock`. Absent: an unsigned image with a random id.
   */
  origin?: { imageId: Uint8Array; signature: Uint8Array };
}

/** What the image header records about where and when the image was made. */
export interface ImageIdentity {
  kernelRelease: string;
  machineId: string;
  createdAtMs: number;
  /** Restore must enable platform mode (image made for --power-off platform). */
  platformMode: boolean;
}

/** Everything the restore critical section needs: the image is already written and verified. */
export interface RestorePlan {
  /** Open in restore mode with the complete image written; ownership passes to the critical section. */
  device: SnapshotDevice;
  storage: BlockDevice;
  resumePage: number;
  /** The swap header page to write back (it invalidates the on-disk image). */
  originalResumePage: Uint8Array;
  platformMode: boolean;
  /** Where the critical section prints its progress lines (a file descriptor; default: nowhere). */
  progressFd?: number;
}

/** A machine: the one object a caller picks (native or emulated) and hands to the rest of hiberkit. */
export interface Backend {
  readonly name: 'native' | 'emulator';
  /** Path of the snapshot device ('/dev/snapshot'). */
  readonly snapshotPath: string;
  openSnapshot(mode: SnapshotMode): SnapshotDevice;
  openBlockDevice(path: string, options?: OpenBlockOptions): BlockDevice;
  readonly system: SystemInfo;
  readonly power: Power;
  readonly criticalSection: CriticalSection;
  /**
   * Takes the one-hibernation-at-a-time lock, or throws ALREADY_RUNNING naming its holder; returns
   * its release. A real machine: flock(2) on /run/hiberkit.lock; an emulated one: a pid file in its state directory.
   */
  lockHibernation(what: string): () => void;
  /** Where this machine keeps hiberkit's config file and keys: /etc, or DIR/etc on an emulated machine. */
  readonly paths: MachinePaths;
}
