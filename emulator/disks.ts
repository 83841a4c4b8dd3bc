/**
 * Emulated block devices: each disk (/dev/vda, …) is a sparse image file in the state
 * directory. `EmulatedBlockDevice` is the BlockDevice a caller opens on one, with the rules of
 * a real block device that matter to hiberkit: O_DIRECT alignment, ENOSPC at the end, ETXTBSY for
 * writes to an active swap partition unless /dev/snapshot has selected it (docs/snapshot-device.md
 * §2.3), and the fault hooks for failed writes and flushes and for the power going out between two
 * writes.
 */
import { closeSync, ftruncateSync, fdatasyncSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { BlockDevice, OpenBlockOptions } from '../lib/backend.js';
import { ERRNO, SnapshotError, errnoCode } from '../lib/errors.js';
import { PAGE_SIZE } from '../lib/ioctls.js';
import { diskDeviceNumber, type DiskConfig } from './config.js';

const LOGICAL_BLOCK_SIZE = 512;

export interface Disk {
  device: string;
  dev: number;
  sizeBytes: number;
  /** The image file holding its contents. */
  file: string;
}

export class DiskSet {
  readonly disks: readonly Disk[];

  constructor(directory: string, configs: readonly DiskConfig[]) {
    this.disks = configs.map((c) => ({
      device: c.device,
      dev: diskDeviceNumber(c.device),
      sizeBytes: c.sizeBytes,
      file: join(directory, `${c.device.slice('/dev/'.length)}.img`),
    }));
  }

  /** Creates every disk as an empty (sparse, all-zero) image file. */
  createAll(): void {
    for (const disk of this.disks) {
      const fd = openSync(disk.file, 'w');
      try {
        ftruncateSync(fd, disk.sizeBytes);
      } finally {
        closeSync(fd);
      }
    }
  }

  byDevice(device: string): Disk | undefined {
    return this.disks.find((d) => d.device === device);
  }

  byDev(dev: number): Disk | undefined {
    return this.disks.find((d) => d.dev === dev);
  }

  /** Reads one page of a disk, bypassing everything: the machine's own access (firmware, mkswap, swapon). */
  readPage(disk: Disk, page: number): Buffer {
    const buf = Buffer.alloc(PAGE_SIZE);
    const fd = openSync(disk.file, 'r');
    try {
      readSync(fd, buf, 0, PAGE_SIZE, page * PAGE_SIZE);
    } finally {
      closeSync(fd);
    }
    return buf;
  }

  writePage(disk: Disk, page: number, data: Uint8Array): void {
    const fd = openSync(disk.file, 'r+');
    try {
      writeSync(fd, data, 0, PAGE_SIZE, page * PAGE_SIZE);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/** What a block device asks of the running kernel on each I/O. */
interface BlockDeviceKernel {
  assertAlive(): void;
  /** 0, or ETXTBSY when writing to `dev` is refused (active swap partition not selected by /dev/snapshot). */
  writeRefusal(dev: number): number;
  /** This process has user space frozen: the libuv pool would never run async I/O. */
  userSpaceFrozen(): boolean;
  /** Fault hooks: true when this write must fail with EIO. */
  blockWriteFails(): boolean;
  flushFails(): boolean;
  /** True when the power goes right after the write that just completed. */
  powerFailsAfterWrite(): boolean;
  /** A power loss drops the writes not flushed yet: the device must remember what they overwrote. */
  writeCacheIsVolatile(): boolean;
  /** The power is gone: the boot ends here. */
  losePower(): never;
  /** Called before each write; what it returns is called once the write is on the disk. */
  watchWrite(position: number, length: number): (() => void) | null;
}

/** What a write not yet flushed replaced, so that a power loss can take it back. */
interface UnflushedWrite {
  position: number;
  before: Buffer;
}

export class EmulatedBlockDevice implements BlockDevice {
  readonly path: string;
  readonly size: number;
  readonly logicalBlockSize = LOGICAL_BLOCK_SIZE;
  readonly direct: boolean;
  readonly #disk: Disk;
  readonly #writable: boolean;
  readonly #kernel: BlockDeviceKernel;
  #fd: number;
  /** Writes since the last flush, oldest first; kept only while the write cache is volatile. */
  readonly #unflushed: UnflushedWrite[] = [];

  constructor(disk: Disk, options: OpenBlockOptions, kernel: BlockDeviceKernel) {
    this.path = disk.device;
    this.size = disk.sizeBytes;
    this.direct = options.direct ?? false;
    this.#disk = disk;
    this.#writable = options.write ?? false;
    this.#kernel = kernel;
    this.#fd = openSync(disk.file, this.#writable ? 'r+' : 'r');
  }

  allocAligned(bytes: number): Uint8Array {
    return Buffer.alloc(bytes);
  }

  readSync(buf: Uint8Array, position: number): number {
    const fd = this.#check('pread', buf, position);
    if (position >= this.size) return 0;
    return readSync(fd, buf, 0, Math.min(buf.length, this.size - position), position);
  }

  writeSync(buf: Uint8Array, position: number): number {
    const fd = this.#check('pwrite', buf, position);
    if (!this.#writable) throw this.#error(ERRNO.EBADF, 'pwrite');
    const refusal = this.#kernel.writeRefusal(this.#disk.dev);
    if (refusal) throw this.#error(refusal, 'pwrite');
    if (position >= this.size) throw this.#error(ERRNO.ENOSPC, 'pwrite');
    if (this.#kernel.blockWriteFails()) throw this.#error(ERRNO.EIO, 'pwrite', 'injected fault: this write failed');
    const length = Math.min(buf.length, this.size - position);
    if (this.#kernel.writeCacheIsVolatile()) {
      const before = Buffer.alloc(length);
      readSync(fd, before, 0, length, position);
      this.#unflushed.push({ position, before });
    }
    const afterWrite = this.#kernel.watchWrite(position, length);
    const written = writeSync(fd, buf, 0, length, position);
    afterWrite?.();
    if (this.#kernel.powerFailsAfterWrite()) {
      this.#dropUnflushed(fd);
      this.#kernel.losePower();
    }
    return written;
  }

  async read(buf: Uint8Array, position: number): Promise<number> {
    this.#refuseWhileFrozen('pread');
    return this.readSync(buf, position);
  }

  async write(buf: Uint8Array, position: number): Promise<number> {
    this.#refuseWhileFrozen('pwrite');
    return this.writeSync(buf, position);
  }

  flush(): void {
    const fd = this.#fdFor('fdatasync');
    if (this.#kernel.flushFails()) throw this.#error(ERRNO.EIO, 'fdatasync', 'injected fault: the flush failed');
    fdatasyncSync(fd);
    this.#unflushed.length = 0;
  }

  /** Works after the machine's boot ended too: the process holding the file is what closes it. */
  close(): void {
    if (this.#fd < 0) throw this.#error(ERRNO.EBADF, 'close', 'the device is closed');
    const fd = this.#fd;
    this.#fd = -1;
    closeSync(fd);
  }

  /**
   * The power went before these writes left the disk's cache: put back what they overwrote, newest
   * first. (Only this file's writes: the emulated writers each flush through the file they wrote.)
   */
  #dropUnflushed(fd: number): void {
    for (const { position, before } of this.#unflushed.reverse()) writeSync(fd, before, 0, before.length, position);
    this.#unflushed.length = 0;
  }

  #fdFor(syscall: string): number {
    if (this.#fd < 0) throw this.#error(ERRNO.EBADF, syscall, 'the device is closed');
    this.#kernel.assertAlive();
    return this.#fd;
  }

  #check(syscall: string, buf: Uint8Array, position: number): number {
    const fd = this.#fdFor(syscall);
    if (!Number.isSafeInteger(position) || position < 0) throw this.#error(ERRNO.EINVAL, syscall, `bad offset ${position}`);
    if (this.direct && (position % LOGICAL_BLOCK_SIZE !== 0 || buf.length % LOGICAL_BLOCK_SIZE !== 0)) {
      throw this.#error(ERRNO.EINVAL, syscall, `O_DIRECT needs offsets and lengths in multiples of ${LOGICAL_BLOCK_SIZE}`);
    }
    return fd;
  }

  #refuseWhileFrozen(syscall: string): void {
    if (this.#kernel.userSpaceFrozen()) {
      throw this.#error(
        ERRNO.EBUSY,
        syscall,
        'user space is frozen by this process (SNAPSHOT_FREEZE): asynchronous I/O would wait on a frozen thread forever; use the synchronous calls',
      );
    }
  }

  #error(errno: number, syscall: string, detail?: string): SnapshotError {
    return new SnapshotError({ code: errnoCode(errno), errno, syscall, path: this.path }, detail);
  }
}
