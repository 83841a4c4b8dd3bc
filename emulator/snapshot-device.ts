/**
 * The /dev/snapshot driver of the emulated kernel: kernel/power/user.c as a TypeScript state
 * machine (docs/snapshot-device.md §2, §3, §4). One object is one open file. Every method is one system call and
 * is synchronous; failures are SnapshotErrors with the errno the kernel returns, in the order the
 * kernel checks.
 *
 * Driver state (`snapshot_state`): mode, selected swap type, `dev` from SET_SWAP_AREA, `frozen`,
 * `ready`, `platform_support`, and the stream handle — the image reader in hibernate mode, the
 * image loader in restore mode — plus the file position, of which only `f_pos mod 4096` matters.
 */
import type { SnapshotDevice, SnapshotMode } from '../lib/backend.js';
import { ERRNO, HiberkitError, SnapshotError, errnoCode } from '../lib/errors.js';
import { IOCTLS, PAGE_SIZE, SNAPSHOT_IOC_MAGIC, SNAPSHOT_IOC_MAXNR, decodeRequest, ioctlByRequest, type IoctlSpec } from '../lib/ioctls.js';
import { LoaderError, StreamLoader, StreamReader, type SnapshotImage } from './image-stream.js';
import type { AccessMode, EmulatedKernel } from './kernel.js';

/** Where a pointer argument points: to memory the caller owns, or to an invalid address. */
type Pointer = 'valid' | 'bad';

/** What the kernel remembers of the device state at CREATE_IMAGE: the restored world sees it again. */
interface SnapshotTimeState {
  swap: number;
  dev: number;
  platformSupport: boolean;
}

export class EmulatedSnapshotDevice implements SnapshotDevice {
  readonly path: string;
  readonly mode: SnapshotMode;
  readonly #kernel: EmulatedKernel;
  readonly #access: AccessMode;
  #open = true;
  #fpos = 0;

  #swap = -1;
  #dev = 0;
  #frozen = false;
  #ready = false;
  #platformSupport = false;
  /** The image in kernel memory (hibernate mode): exists from CREATE_IMAGE until FREE/close. */
  #image: SnapshotImage | null = null;
  #reader: StreamReader | null = null;
  /** The page the read cursor is in (`data_of(handle)`), null after FREE. */
  #readBuffer: Uint8Array | null = null;
  #loader: StreamLoader;
  #atSnapshot: SnapshotTimeState | null = null;
  /** UNFREEZE freed the basic memory bitmaps (FREEZE makes new ones). */
  #bitmapsFreed = false;

  /**
   * open(2), with the checks of the VFS and of `snapshot_open` in the kernel's order (docs/snapshot-
   * device.md §3.1).
   */
  constructor(kernel: EmulatedKernel, path: string, access: AccessMode) {
    kernel.assertAlive();
    const fail = (errno: number) => SnapshotError.fromErrno(errno, 'open', { path });
    const denied = kernel.nodeAccess(access);
    if (denied) throw fail(denied);
    if (!kernel.hibernationAvailable()) throw fail(ERRNO.EPERM);
    blockIfMutexHeld(kernel, 'open');
    if (!kernel.acquireSnapshotDevice()) throw fail(ERRNO.EBUSY);
    if (access === 'read-write') {
      kernel.releaseSnapshotDevice();
      throw fail(ERRNO.ENOSYS);
    }
    // PM_HIBERNATION_PREPARE / PM_RESTORE_PREPARE: a driver may say no.
    const veto = kernel.faults.plan.notifierVeto;
    if (veto) {
      kernel.releaseSnapshotDevice();
      throw fail(veto);
    }
    this.#kernel = kernel;
    this.#access = access;
    this.path = path;
    this.mode = access === 'read-only' ? 'hibernate' : 'restore';
    // Only the resume device, with its header at page 0 (a partition), is preselected.
    if (access === 'read-only') this.#swap = kernel.resumeSwapType();
    this.#loader = this.#newLoader();
    kernel.openDevice = this;
  }

  get isOpen(): boolean {
    return this.#open;
  }

  freeze(): void {
    this.#ioctl(IOCTLS.SNAPSHOT_FREEZE, 0);
  }

  unfreeze(): void {
    this.#ioctl(IOCTLS.SNAPSHOT_UNFREEZE, 0);
  }

  createImage(): number {
    return this.#ioctl(IOCTLS.SNAPSHOT_CREATE_IMAGE, 0);
  }

  atomicRestore(): void {
    this.#ioctl(IOCTLS.SNAPSHOT_ATOMIC_RESTORE, 0);
  }

  free(): void {
    this.#ioctl(IOCTLS.SNAPSHOT_FREE, 0);
  }

  setPreferredImageSize(bytes: number): void {
    this.#ioctl(IOCTLS.SNAPSHOT_PREF_IMAGE_SIZE, bytes);
  }

  getImageSize(): number {
    return this.#ioctl(IOCTLS.SNAPSHOT_GET_IMAGE_SIZE, 0);
  }

  availableSwapSize(): number {
    return this.#ioctl(IOCTLS.SNAPSHOT_AVAIL_SWAP_SIZE, 0);
  }

  allocSwapPage(): number {
    return this.#ioctl(IOCTLS.SNAPSHOT_ALLOC_SWAP_PAGE, 0);
  }

  freeSwapPages(): void {
    this.#ioctl(IOCTLS.SNAPSHOT_FREE_SWAP_PAGES, 0);
  }

  setSwapArea(dev: number, offsetPages: number): void {
    this.#ioctl(IOCTLS.SNAPSHOT_SET_SWAP_AREA, 0, 'valid', { dev, offsetPages });
  }

  setPlatformSupport(enabled: boolean): void {
    this.#ioctl(IOCTLS.SNAPSHOT_PLATFORM_SUPPORT, enabled ? 1 : 0);
  }

  powerOff(): void {
    this.#ioctl(IOCTLS.SNAPSHOT_POWER_OFF, 0);
  }

  suspendToRam(): void {
    this.#ioctl(IOCTLS.SNAPSHOT_S2RAM, 0);
  }

  /**
   * Any request value, as the native backend passes it: known requests get their real argument
   * (a valid out-pointer, `arg` as the value, or the swap area `{offset 0, dev: arg}`) and return
   * what the kernel stored or 0; unknown values meet the prologue with `arg` as the argument.
   */
  ioctl(request: number, arg = 0): number {
    return this.#raw(request, arg, 'valid');
  }

  /**
   * The same request with an invalid user pointer as its argument (EFAULT where the kernel copies
   * to or from it): the one thing the emulator can do that a JavaScript caller of the real device
   * cannot, for the EFAULT rules of docs/snapshot-device.md §2.3.
   */
  ioctlWithBadPointer(request: number): number {
    return this.#raw(request, 0, 'bad');
  }

  read(buf: Uint8Array, length = buf.length): number {
    return this.#read(buf, length, 'read');
  }

  write(buf: Uint8Array, length = buf.length): number {
    return this.#write(buf, length, 'write');
  }

  readPages(buf: Uint8Array): number {
    return this.#transferPages(buf, 'readv', (page) => this.#read(page, PAGE_SIZE, 'readv'));
  }

  writePages(buf: Uint8Array): number {
    return this.#transferPages(buf, 'writev', (page) => this.#write(page, PAGE_SIZE, 'writev'));
  }

  /** lseek(2): the file was opened non-seekable (docs/snapshot-device.md §3.5). */
  seek(_offset: number): number {
    this.#assertOpen('lseek');
    throw this.#error(ERRNO.ESPIPE, 'lseek');
  }

  /**
   * close(2) → `snapshot_release` (docs/snapshot-device.md §3.2): frees image and swap slots, thaws if
   * frozen. Always succeeds.
   */
  close(): void {
    this.#assertOpen('close');
    this.#kernel.assertAlive();
    this.#open = false;
    this.#image = null;
    this.#reader = null;
    this.#dev = 0;
    this.#kernel.swaps.freeAllocated(this.#swap);
    if (this.#frozen) this.#kernel.freezer.thaw(this.#kernel.currentThread);
    this.#frozen = false;
    this.#ready = false;
    this.#kernel.openDevice = null;
    this.#kernel.releaseSnapshotDevice();
  }

  /**
   * The process that held this file is gone with its boot (replaced by a restored image, or
   * switched off for good): the file is closed without the kernel being involved.
   */
  abandon(): void {
    this.#open = false;
  }

  /** Whether write(2) to block device `dev` is allowed although it is active swap (`is_hibernate_resume_dev`). */
  permitsWritesTo(dev: number): boolean {
    return this.#open && this.#dev !== 0 && this.#dev === dev && this.#kernel.hibernationAvailable();
  }

  /**
   * The restored world: this file is the one that made the image, and CREATE_IMAGE "returns" a
   * second time, with 0. User space is still frozen, `ready` is set, the image memory is gone
   * (docs/snapshot-device.md §2.3, §4).
   */
  continueAfterRestore(): void {
    const state = this.#atSnapshot;
    if (state) {
      this.#swap = state.swap;
      this.#dev = state.dev;
      this.#platformSupport = state.platformSupport;
    }
    this.#frozen = true;
    this.#ready = true;
    this.#image = null;
    this.#reader = null;
    this.#readBuffer = null;
  }

  // ---- ioctl -----------------------------------------------------------------------------

  #raw(request: number, arg: number, pointer: Pointer): number {
    const spec = ioctlByRequest(request);
    if (spec?.arg === 'swap-area-in') return this.#ioctl(spec, 0, pointer, { dev: arg, offsetPages: 0 });
    return this.#ioctl(spec ?? request, arg, pointer);
  }

  /**
   * `snapshot_ioctl`: the prologue (docs/snapshot-device.md §2.1), then the command. Returns the
   * stored value for out-requests.
   */
  #ioctl(request: IoctlSpec | number, arg: number, pointer: Pointer = 'valid', area?: { dev: number; offsetPages: number }): number {
    const spec = typeof request === 'number' ? undefined : request;
    const value = spec?.request ?? (request as number);
    const name = spec?.name ?? `0x${(value >>> 0).toString(16).padStart(8, '0')}`;
    this.#assertOpen('ioctl', name);
    this.#kernel.assertAlive();
    const fail = (errno: number) => this.#error(errno, 'ioctl', { ioctl: name });
    const { type, nr } = decodeRequest(value);
    if (type !== SNAPSHOT_IOC_MAGIC || nr > SNAPSHOT_IOC_MAXNR) throw fail(ERRNO.ENOTTY);
    if (!this.#kernel.root) throw fail(ERRNO.EPERM);
    if (this.#kernel.transitionMutexHolder !== null) throw fail(ERRNO.EBUSY);
    if (!spec) throw fail(ERRNO.ENOTTY);
    const result = this.#command(spec, arg, pointer, area);
    if (result.errno) throw fail(result.errno);
    return result.value;
  }

  #command(spec: IoctlSpec, arg: number, pointer: Pointer, area?: { dev: number; offsetPages: number }): { errno: number; value: number } {
    const ok = (value = 0) => ({ errno: 0, value });
    const err = (errno: number) => ({ errno, value: 0 });
    /** put_user() of an out-value: the action has happened either way. */
    const store = (value: number) => (pointer === 'bad' ? err(ERRNO.EFAULT) : ok(value));
    const kernel = this.#kernel;
    switch (spec.name) {
      case 'SNAPSHOT_FREEZE': {
        if (this.#frozen) return ok();
        kernel.sync();
        const errno = kernel.freezer.freezeUserSpace(kernel.currentThread, kernel.faults.plan.freezeBusy === true);
        if (errno) return err(errno);
        this.#bitmapsFreed = false;
        this.#frozen = true;
        return ok();
      }
      case 'SNAPSHOT_UNFREEZE':
        if (!this.#frozen || this.#ready) return ok();
        // Frees the basic bitmaps in both modes; the restore-mode loader needs them.
        this.#bitmapsFreed = true;
        kernel.freezer.thaw(kernel.currentThread);
        this.#frozen = false;
        return ok();
      case 'SNAPSHOT_CREATE_IMAGE': {
        if (this.mode !== 'hibernate' || !this.#frozen || this.#ready) return err(ERRNO.EPERM);
        if (this.#image) kernel.report('CREATE_IMAGE while an earlier image is still allocated (after an EFAULT): that image leaks until SNAPSHOT_FREE');
        const image = kernel.snapshot();
        if (typeof image === 'number') return err(image);
        this.#image = image;
        this.#atSnapshot = { swap: this.#swap, dev: this.#dev, platformSupport: this.#platformSupport };
        // A skipped snapshot stores the stale in_suspend (0) and still sets ready, with no image.
        const stored = store(image ? 1 : 0);
        this.#ready = stored.errno === 0;
        if (this.#ready && image) this.#reader = new StreamReader(image);
        return stored;
      }
      case 'SNAPSHOT_ATOMIC_RESTORE':
        return this.#atomicRestore();
      case 'SNAPSHOT_FREE':
        this.#image = null;
        this.#reader = null;
        this.#readBuffer = null;
        this.#loader = this.#newLoader();
        this.#ready = false;
        kernel.freezer.thawKernelThreads();
        return ok();
      case 'SNAPSHOT_PREF_IMAGE_SIZE':
        kernel.setImageSize(Math.max(0, Math.trunc(arg)));
        return ok();
      case 'SNAPSHOT_GET_IMAGE_SIZE': {
        if (!this.#ready) return err(ERRNO.ENODATA);
        // After a restore the image memory is gone and the kernel's page counters are 0.
        return store((this.#image?.header.pages ?? 1) * PAGE_SIZE);
      }
      case 'SNAPSHOT_AVAIL_SWAP_SIZE':
        return store(kernel.swaps.freePages(this.#swap) * PAGE_SIZE);
      case 'SNAPSHOT_ALLOC_SWAP_PAGE': {
        if (this.#swap < 0) return err(ERRNO.ENODEV);
        const offset = kernel.faults.swapAllocationRefused() ? null : kernel.swaps.allocate(this.#swap);
        return offset === null ? err(ERRNO.ENOSPC) : store(offset);
      }
      case 'SNAPSHOT_FREE_SWAP_PAGES':
        if (this.#swap < 0) return err(ERRNO.ENODEV);
        kernel.swaps.freeAllocated(this.#swap);
        return ok();
      case 'SNAPSHOT_S2RAM': {
        if (!this.#frozen) return err(ERRNO.EPERM);
        const errno = kernel.suspendToRam();
        // The image stays allocated but can no longer be read, whatever the outcome.
        this.#ready = false;
        return errno ? err(errno) : ok();
      }
      case 'SNAPSHOT_PLATFORM_SUPPORT':
        this.#platformSupport = arg !== 0;
        return ok();
      case 'SNAPSHOT_POWER_OFF': {
        if (!this.#platformSupport) return ok();
        const errno = kernel.enterPlatformS4();
        return err(errno);
      }
      case 'SNAPSHOT_SET_SWAP_AREA': {
        if (kernel.swaps.anyAllocated()) return err(ERRNO.EPERM);
        if (pointer === 'bad' || !area) return err(ERRNO.EFAULT);
        this.#swap = kernel.swaps.typeOf(area.dev, area.offsetPages);
        if (this.#swap < 0) return err(area.dev ? ERRNO.ENODEV : ERRNO.EINVAL);
        this.#dev = area.dev;
        return ok();
      }
    }
  }

  /** SNAPSHOT_ATOMIC_RESTORE in 6.17 order, with the 7.0/7.1 variants of the kernel profile. */
  #atomicRestore(): { errno: number; value: number } {
    const kernel = this.#kernel;
    const loader = this.#loader;
    const restoreMode = this.mode === 'restore';
    // snapshot_write_finalize() runs first, before any mode check.
    if (kernel.profile.drainOnFinalize && restoreMode && loader.inDataRegion() && !loader.loaded()) {
      // 734eba62cd32 lets the kernel pass trailing zero pages itself. The emulator peeks rather
      // than advancing the cursor when a data page is still due; either way the answer is ENODATA.
      if (!loader.onlyZeroPagesRemain()) return { errno: ERRNO.ENODATA, value: 0 };
      loader.drainZeroPages();
    }
    if (!restoreMode || !this.#frozen) return { errno: ERRNO.EPERM, value: 0 };
    if (!loader.loaded()) return { errno: kernel.profile.enodataIfNotLoaded ? ERRNO.ENODATA : ERRNO.EPERM, value: 0 };
    return kernel.restore(loader.result());
  }

  // ---- read / write ----------------------------------------------------------------------

  /**
   * `snapshot_read` + `simple_read_from_buffer` (docs/snapshot-device.md §3.3), including the partial-
   * page arithmetic.
   */
  #read(buf: Uint8Array, length: number, syscall: string): number {
    this.#assertOpen(syscall);
    this.#kernel.assertAlive();
    checkLength(buf, length);
    if (this.#access !== 'read-only') throw this.#error(ERRNO.EBADF, syscall);
    blockIfMutexHeld(this.#kernel, syscall);
    if (!this.#ready) throw this.#error(ERRNO.ENODATA, syscall);
    const offset = this.#fpos % PAGE_SIZE;
    let available: number;
    if (offset === 0) {
      const page = this.#reader?.next() ?? null;
      if (!page) return 0;
      this.#readBuffer = page;
      available = PAGE_SIZE;
    } else {
      // The read side never got the 5.16 fix: the total is taken as PAGE_SIZE - offset.
      available = PAGE_SIZE - offset;
    }
    if (!this.#readBuffer) {
      // Mid-page after SNAPSHOT_FREE + CREATE_IMAGE: the kernel would copy from NULL (docs/snapshot-device.md §3.5).
      throw this.#error(ERRNO.EINVAL, syscall);
    }
    if (offset >= available || length === 0) return 0;
    const count = Math.min(length, available - offset);
    buf.set(this.#readBuffer.subarray(offset, offset + count), 0);
    this.#fpos += count;
    return count;
  }

  /**
   * `snapshot_write` + `simple_write_to_buffer` (docs/snapshot-device.md §3.4): the cursor moves at
   * page boundaries only.
   */
  #write(buf: Uint8Array, length: number, syscall: string): number {
    this.#assertOpen(syscall);
    this.#kernel.assertAlive();
    checkLength(buf, length);
    if (this.#access !== 'write-only') throw this.#error(ERRNO.EBADF, syscall);
    blockIfMutexHeld(this.#kernel, syscall);
    if (this.#bitmapsFreed && this.#loader.cur > 0) {
      this.#kernel.report('write after UNFREEZE in restore mode: the image loader works on freed bitmaps, which can crash the kernel; close and reopen instead');
    }
    const offset = this.#fpos % PAGE_SIZE;
    let available: number;
    if (offset === 0) {
      let next: number;
      try {
        next = this.#loader.next();
      } catch (err) {
        if (err instanceof LoaderError) throw this.#error(err.errno, syscall, { detail: err.message });
        throw err;
      }
      if (next === 0) return 0;
      available = PAGE_SIZE;
    } else {
      available = this.#kernel.profile.partialWriteFix ? PAGE_SIZE : PAGE_SIZE - offset;
    }
    const target = this.#loader.buffer;
    if (!target) throw this.#error(ERRNO.EINVAL, syscall);
    if (offset >= available || length === 0) return 0;
    const count = Math.min(length, available - offset);
    target.set(buf.subarray(0, count), offset);
    this.#fpos += count;
    return count;
  }

  /** readv/writev with one 4096-byte segment per page: the driver runs once per segment, stopping at the first short one. */
  #transferPages(buf: Uint8Array, syscall: string, onePage: (page: Uint8Array) => number): number {
    this.#assertOpen(syscall);
    if (buf.length === 0 || buf.length % PAGE_SIZE !== 0) {
      throw this.#error(ERRNO.EINVAL, syscall, { detail: 'the buffer length must be a non-zero multiple of 4096: the device moves whole pages only' });
    }
    let done = 0;
    while (done < buf.length) {
      let moved: number;
      try {
        moved = onePage(buf.subarray(done, done + PAGE_SIZE));
      } catch (err) {
        if (done > 0 && err instanceof SnapshotError) break;
        throw err;
      }
      done += moved;
      if (moved < PAGE_SIZE) break;
    }
    return done;
  }

  // ---- helpers ---------------------------------------------------------------------------

  #newLoader(): StreamLoader {
    return new StreamLoader({ map: this.#kernel.map, zeroPages: this.#kernel.profile.zeroPages });
  }

  #assertOpen(syscall: string, ioctl?: string): void {
    if (!this.#open) throw this.#error(ERRNO.EBADF, syscall, { ioctl, detail: 'the device is closed' });
  }

  #error(errno: number, syscall: string, extra: { ioctl?: string; detail?: string } = {}): SnapshotError {
    const info = { code: errnoCode(errno), errno, syscall, path: this.path, ...(extra.ioctl ? { ioctl: extra.ioctl } : {}) };
    return new SnapshotError(info, extra.detail);
  }
}

/**
 * open/read/write take system_transition_mutex with a *blocking* lock: while another holder keeps
 * it, a real call would wait. A synchronous emulator cannot wait for a holder that only the
 * caller can release, so it says so instead of hanging.
 */
function blockIfMutexHeld(kernel: EmulatedKernel, syscall: string): void {
  if (kernel.transitionMutexHolder !== null) {
    throw new HiberkitError(
      'EMULATOR_WOULD_BLOCK',
      `${syscall} would block until ${kernel.transitionMutexHolder} releases system_transition_mutex`,
    );
  }
}

function checkLength(buf: Uint8Array, length: number): void {
  if (!Number.isInteger(length) || length < 0 || length > buf.length) {
    throw new RangeError(`length ${length} does not fit the ${buf.length}-byte buffer`);
  }
}
