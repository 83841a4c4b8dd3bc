/**
 * /dev/snapshot through the addon: one open file, every method one synchronous system call on
 * the calling thread (see SnapshotDevice in lib/backend.ts for why, and for what not to do while
 * user space is frozen).
 */
import type { SnapshotDevice, SnapshotMode } from '../backend.js';
import { ERRNO, HiberkitError, SnapshotError } from '../errors.js';
import type { NativeBinding } from './binding.js';

export class NativeSnapshotDevice implements SnapshotDevice {
  readonly path: string;
  readonly mode: SnapshotMode;
  readonly #native: NativeBinding;
  /** -1 once closed or detached: the number may already name another file of this process. */
  #fd: number;

  constructor(native: NativeBinding, path: string, mode: SnapshotMode) {
    this.#native = native;
    this.path = path;
    this.mode = mode;
    this.#fd = native.snapshotOpen(path, mode);
  }

  get isOpen(): boolean {
    return this.#fd >= 0;
  }

  /** The open fd, or EBADF as the kernel would report a closed one. */
  #open(syscall: string, ioctl?: string): number {
    if (this.#fd < 0) throw new SnapshotError({ code: 'EBADF', errno: ERRNO.EBADF, syscall, ioctl, path: this.path }, 'the device is closed');
    return this.#fd;
  }

  freeze(): void {
    this.#native.snapshotFreeze(this.#open('ioctl', 'SNAPSHOT_FREEZE'));
  }

  unfreeze(): void {
    this.#native.snapshotUnfreeze(this.#open('ioctl', 'SNAPSHOT_UNFREEZE'));
  }

  createImage(): number {
    return this.#native.snapshotCreateImage(this.#open('ioctl', 'SNAPSHOT_CREATE_IMAGE'));
  }

  atomicRestore(): void {
    this.#native.snapshotAtomicRestore(this.#open('ioctl', 'SNAPSHOT_ATOMIC_RESTORE'));
  }

  free(): void {
    this.#native.snapshotFree(this.#open('ioctl', 'SNAPSHOT_FREE'));
  }

  setPreferredImageSize(bytes: number): void {
    this.#native.snapshotPrefImageSize(this.#open('ioctl', 'SNAPSHOT_PREF_IMAGE_SIZE'), bytes);
  }

  getImageSize(): number {
    return this.#native.snapshotGetImageSize(this.#open('ioctl', 'SNAPSHOT_GET_IMAGE_SIZE'));
  }

  availableSwapSize(): number {
    return this.#native.snapshotAvailSwapSize(this.#open('ioctl', 'SNAPSHOT_AVAIL_SWAP_SIZE'));
  }

  allocSwapPage(): number {
    return this.#native.snapshotAllocSwapPage(this.#open('ioctl', 'SNAPSHOT_ALLOC_SWAP_PAGE'));
  }

  freeSwapPages(): void {
    this.#native.snapshotFreeSwapPages(this.#open('ioctl', 'SNAPSHOT_FREE_SWAP_PAGES'));
  }

  setSwapArea(dev: number, offsetPages: number): void {
    this.#native.snapshotSetSwapArea(this.#open('ioctl', 'SNAPSHOT_SET_SWAP_AREA'), dev, offsetPages);
  }

  setPlatformSupport(enabled: boolean): void {
    this.#native.snapshotPlatformSupport(this.#open('ioctl', 'SNAPSHOT_PLATFORM_SUPPORT'), enabled);
  }

  powerOff(): void {
    this.#native.snapshotPowerOff(this.#open('ioctl', 'SNAPSHOT_POWER_OFF'));
  }

  suspendToRam(): void {
    this.#native.snapshotS2ram(this.#open('ioctl', 'SNAPSHOT_S2RAM'));
  }

  ioctl(request: number, arg?: number): number {
    return this.#native.snapshotIoctl(this.#open('ioctl'), request, arg);
  }

  read(buf: Uint8Array, length?: number): number {
    return this.#native.snapshotRead(this.#open('read'), buf, length);
  }

  write(buf: Uint8Array, length?: number): number {
    return this.#native.snapshotWrite(this.#open('write'), buf, length);
  }

  readPages(buf: Uint8Array): number {
    return this.#native.snapshotReadPages(this.#open('readv'), buf);
  }

  writePages(buf: Uint8Array): number {
    return this.#native.snapshotWritePages(this.#open('writev'), buf);
  }

  seek(offset: number): number {
    return this.#native.snapshotSeek(this.#open('lseek'), offset);
  }

  close(): void {
    const fd = this.#open('close');
    this.#fd = -1; // closed even if close(2) reports an error: Linux has released the fd
    this.#native.snapshotClose(fd);
  }

  /**
   * Hands the open fd to a critical section, which becomes its only owner: this object is closed
   * afterwards without closing the fd. Refused while this fd has user space frozen: FREEZE,
   * UNFREEZE and the last close belong to one thread (docs/snapshot-device.md §7.3), so the critical section must
   * do the freezing itself.
   */
  detach(): number {
    const fd = this.#open('detach');
    if (this.#native.snapshotFrozenFd() === fd) {
      throw new HiberkitError(
        'DEVICE_FROZEN',
        `${this.path} has user space frozen by this process; unfreeze it before handing it to a critical section`,
      );
    }
    this.#fd = -1;
    return fd;
  }
}
