/**
 * Loads the C++ addon (build/Release/hiberkit.node or a prebuild) and declares the type of
 * everything it exports. Loading is lazy and never throws: where the addon is absent (not
 * built, no compiler, not Linux) the package still imports and the emulator works; only
 * callers that need the real kernel ask for it, and get a clear error.
 *
 * The addon's functions are thin: one system call each (or one loop of them), synchronous
 * unless named `...Async`, failing with SnapshotError. The classes in this folder give them
 * the Backend interfaces' shape.
 */
import { createRequire } from 'node:module';

import { HiberkitError, SnapshotError } from '../errors.js';
import { packageRoot } from '../package-info.js';
import type { SnapshotMode } from '../backend.js';

/** A device number as the kernel encodes it for SNAPSHOT_SET_SWAP_AREA, with its parts. */
interface NativeDeviceNumber {
  major: number;
  minor: number;
}

/** One extent of a file, in bytes; `physical` is an offset on the filesystem's block device. */
interface FileExtent {
  logical: number;
  physical: number;
  length: number;
  /** FIEMAP_EXTENT_* flags (LAST = 0x1, UNKNOWN = 0x2, DELALLOC = 0x4, MERGED = 0x1000, …). */
  flags: number;
}

interface NativeBlockOpenResult {
  fd: number;
  size: number;
  logicalBlockSize: number;
  /** Whether O_DIRECT is in effect (false when asked for but unsupported there). */
  direct: boolean;
}

export interface NativeBinding {
  // ---- errors.cc
  /** Hands the addon the class it throws; called once by loadNative(). */
  setErrorClass(ctor: typeof SnapshotError): void;

  // ---- snapshot_device.cc: /dev/snapshot on raw fds (docs/snapshot-device.md §2, §3)
  snapshotOpen(path: string, mode: SnapshotMode): number;
  snapshotClose(fd: number): void;
  snapshotFreeze(fd: number): void;
  snapshotUnfreeze(fd: number): void;
  /** The value CREATE_IMAGE stored: 1 in the hibernating kernel, 0 after a restore. */
  snapshotCreateImage(fd: number): number;
  snapshotAtomicRestore(fd: number): void;
  snapshotFree(fd: number): void;
  snapshotPrefImageSize(fd: number, bytes: number): void;
  snapshotGetImageSize(fd: number): number;
  snapshotAvailSwapSize(fd: number): number;
  snapshotAllocSwapPage(fd: number): number;
  snapshotFreeSwapPages(fd: number): void;
  snapshotSetSwapArea(fd: number, dev: number, offsetPages: number): void;
  snapshotPlatformSupport(fd: number, enabled: boolean): void;
  snapshotPowerOff(fd: number): void;
  snapshotS2ram(fd: number): void;
  /**
   * Any request value. Known requests get their real argument (out-pointers to valid memory,
   * the value, or a swap area `{offset: 0, dev: arg}`) and return what the kernel stored or the
   * ioctl's result; unknown requests pass `arg` as the integer argument.
   */
  snapshotIoctl(fd: number, request: number, arg?: number): number;
  /** One read(2) of `length` bytes (default: all of `buf`), unchanged: 0 and partial lengths included. */
  snapshotRead(fd: number, buf: Uint8Array, length?: number): number;
  snapshotWrite(fd: number, buf: Uint8Array, length?: number): number;
  /** readv(2) in 4096-byte segments, looping; `buf.length` must be a non-zero multiple of 4096. */
  snapshotReadPages(fd: number, buf: Uint8Array): number;
  snapshotWritePages(fd: number, buf: Uint8Array): number;
  snapshotSeek(fd: number, offset: number): number;
  /** The fd of this process that has user space frozen, or -1. */
  snapshotFrozenFd(): number;

  // ---- block_device.cc: image storage
  blockOpen(path: string, options: { write?: boolean; direct?: boolean }): NativeBlockOpenResult;
  /** pread(2) until `buf` is full or end of file; returns the bytes read. */
  blockPread(fd: number, buf: Uint8Array, position: number): number;
  /** pwrite(2) until all of `buf` is written. */
  blockPwrite(fd: number, buf: Uint8Array, position: number): number;
  /** The same on the libuv pool; refused (EBUSY) while this process has user space frozen. */
  blockPreadAsync(fd: number, buf: Uint8Array, position: number): Promise<number>;
  blockPwriteAsync(fd: number, buf: Uint8Array, position: number): Promise<number>;
  blockFlush(fd: number): void;
  blockClose(fd: number): void;
  /** Zeroed memory aligned to 4096 bytes, freed when the Buffer is collected. */
  allocAligned(bytes: number): Buffer;
  /** The file's extents (FIEMAP, or FIBMAP where FIEMAP is missing). */
  fiemap(path: string): FileExtent[];

  // ---- system.cc
  sync(): void;
  /** The device a node stands for (st_rdev), in the kernel's encoding. */
  statRdev(path: string): NativeDeviceNumber & { rdev: number; isBlockDevice: boolean };
  /** The device of the filesystem holding a file (st_dev), in the kernel's encoding. */
  statDev(path: string): NativeDeviceNumber & { dev: number };
  geteuid(): number;
  /** sysconf(_SC_PAGESIZE). */
  pageSize(): number;
  /** flock(fd, LOCK_EX | LOCK_NB): true when taken, false when another open file holds it. */
  flockExclusive(fd: number): boolean;

  // ---- codec.cc: the image format's codecs (lib/codec/index.ts uses them when present: an
  // addon built from an older tree may lack them)
  /** CRC32C (SSE4.2 where the CPU has it), continuing from `seed` (0 to start). */
  crc32c?: (data: Uint8Array, seed?: number) => number;
  /** CRC32C(A ++ B) from crc32c(A), crc32c(B) and B's length in bytes. */
  crc32cCombine?: (crcA: number, crcB: number, lengthB: number) => number;
  /** One LZ4 block of `src` into `dst`: its length, or 0 when it does not fit. */
  lz4Compress?: (src: Uint8Array, dst: Uint8Array) => number;
  /** The decompressed length, or -1 for a malformed block or one that does not fit in `dst`. */
  lz4Decompress?: (src: Uint8Array, dst: Uint8Array) => number;

  // ---- critical_section.cc: the forked single-threaded child (lib/native/critical-section.ts)
  /** Takes ownership of `snapshotFd` in every case, forks, and resolves when the child has ended. */
  criticalHibernate?: (params: NativeCriticalHibernateParams) => Promise<NativeCriticalResult>;
  criticalRestore?: (params: NativeCriticalRestoreParams) => Promise<NativeCriticalResult>;
}

/** What criticalHibernate and criticalRestore share (native/critical_section.cc). */
interface NativeCriticalCommonParams {
  /** Open /dev/snapshot; the call owns it (closes it, or hands it to the child). */
  snapshotFd: number;
  /** Where the parent reopens the device to select the swap area again for its invalidation. */
  snapshotPath: string;
  /** The image storage; duplicated, so the caller keeps its own descriptor. */
  storageFd: number;
  resumePage: number;
  /** The swap header page as it was (4096 bytes): written back to invalidate the image. */
  originalResumePage: Uint8Array;
  /** Status lines go here with write(2); -1 for none. */
  progressFd: number;
  /** Measurement only: 'everything' locks with plain mlockall (native/child_memory.h). */
  lockMode?: 'precise' | 'everything';
}

interface NativeCriticalHibernateParams extends NativeCriticalCommonParams {
  kernelRelease: string;
  machineId: string;
  createdAtMs: number;
  platformMode: boolean;
  compress: boolean;
  chunkPages: number;
  maxStoredPages: number;
  ioBytes: number;
  powerOff: 'platform' | 'shutdown' | 'reboot';
  /** Encrypt and authenticate the image; the call copies the keys (wipe yours after it). */
  encryption?: NativeImageEncryption;
  /** Test only: where the child kills itself. */
  testKillAt?: NativeKillPoint;
  testKillMethod?: 'sigkill' | 'sigsegv' | 'abort';
}

export type NativeKillPoint = 'none' | 'after-freeze' | 'after-create-image' | 'mid-write' | 'after-marker' | 'before-power-off';

interface NativeCriticalRestoreParams extends NativeCriticalCommonParams {
  platformMode: boolean;
}

/** How the child ended, what it reported, and what the parent did after it. */
export interface NativeCriticalResult {
  /** 'resumed': back from hibernation; 'failed': the child gave up cleanly; 'died': signal or unexpected exit. */
  outcome: 'resumed' | 'failed' | 'died';
  /** The last stage the child entered ('prepare' when it never ran). */
  stage: string;
  /** For 'failed': the errno, the failing call ('ioctl', 'readv', 'write-image', …) and ioctl name. */
  errno: number | null;
  syscall: string | null;
  ioctl: string | null;
  /** For a failed WriteImage: the writer's step. */
  writerStage: string | null;
  signal: number | null;
  exitCode: number | null;
  /** The parent's own invalidation after the child (0 = done); null after a resume. */
  invalidateErrno: number | null;
  stats: NativeCriticalStats;
}

/** Measurements from the child (after a resume: those taken before the snapshot, plus snapshotMs). */
interface NativeCriticalStats {
  streamBytes: number;
  storedBytes: number;
  extents: number;
  imageAttempts: number;
  lockMs: number;
  /** The child's resident memory (all of it locked) and the part it owns alone, after locking. */
  residentKiB: number;
  privateDirtyKiB: number;
  snapshotMs: number;
  writeMs: number;
  freezeToPowerOffMs: number;
}

/** An encrypted image's keys (ImageEncryptionConfig in native/image_writer.h; lib/image/security.ts ImageKeys). */
export interface NativeImageEncryption {
  /** 32 bytes each, derived from the data key. */
  chunkKey: Uint8Array;
  headerKey: Uint8Array;
  /** 128 bytes: the data key sealed for its recipient, stored in the header as is. */
  keyBlock: Uint8Array;
  /** 16 random bytes (the signed ones of a signed image). */
  imageId: Uint8Array;
  /** 64 bytes: the origin signature over imageId and keyBlock; null for an unsigned image. */
  originSignature: Uint8Array | null;
}

/** What the addon exports on a platform it does not support (native/unsupported.cc). */
interface UnsupportedAddon {
  unsupported: string;
}

const NOT_BUILT_ADVICE = 'the native addon is not built: run npm run build:native, or use the emulator with --emulate DIR';

let loaded: { binding: NativeBinding | null; reason: string | null } | undefined;

function load(): { binding: NativeBinding | null; reason: string | null } {
  try {
    const require = createRequire(import.meta.url);
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeBinding | UnsupportedAddon;
    const addon = nodeGypBuild(packageRoot());
    if ('unsupported' in addon) return { binding: null, reason: addon.unsupported };
    addon.setErrorClass(SnapshotError);
    return { binding: addon, reason: null };
  } catch (err) {
    const detail = err instanceof Error ? err.message.trim() : String(err);
    return { binding: null, reason: `${NOT_BUILT_ADVICE} (${detail})` };
  }
}

/** The addon, or null when it cannot be loaded here (see nativeUnavailableReason()). */
export function loadNative(): NativeBinding | null {
  loaded ??= load();
  return loaded.binding;
}

/** Why loadNative() returned null, or null when it did not. */
function nativeUnavailableReason(): string | null {
  loaded ??= load();
  return loaded.reason;
}

/** The addon, for callers that cannot work without it: throws HiberkitError('NATIVE_UNAVAILABLE'). */
export function requireNative(): NativeBinding {
  const binding = loadNative();
  if (binding === null) throw new HiberkitError('NATIVE_UNAVAILABLE', nativeUnavailableReason() ?? NOT_BUILT_ADVICE);
  return binding;
}
