/**
 * Image storage through the addon: a block device (or a regular file standing in for one),
 * positional I/O straight into the caller's buffers, O_DIRECT where the device allows it.
 */
import type { BlockDevice, OpenBlockOptions } from '../backend.js';
import { ERRNO, SnapshotError } from '../errors.js';
import type { NativeBinding } from './binding.js';

export class NativeBlockDevice implements BlockDevice {
  readonly path: string;
  readonly size: number;
  readonly logicalBlockSize: number;
  readonly direct: boolean;
  readonly #native: NativeBinding;
  #fd: number;

  constructor(native: NativeBinding, path: string, options: OpenBlockOptions = {}) {
    const opened = native.blockOpen(path, { write: options.write ?? false, direct: options.direct ?? false });
    this.#native = native;
    this.path = path;
    this.#fd = opened.fd;
    this.size = opened.size;
    this.logicalBlockSize = opened.logicalBlockSize;
    this.direct = opened.direct;
  }

  /** The raw fd, for a critical section that writes through it from C++; -1 once closed. */
  get fd(): number {
    return this.#fd;
  }

  #open(syscall: string): number {
    if (this.#fd < 0) throw new SnapshotError({ code: 'EBADF', errno: ERRNO.EBADF, syscall, path: this.path }, 'the device is closed');
    return this.#fd;
  }

  allocAligned(bytes: number): Uint8Array {
    return this.#native.allocAligned(bytes);
  }

  readSync(buf: Uint8Array, position: number): number {
    return this.#native.blockPread(this.#open('pread'), buf, position);
  }

  writeSync(buf: Uint8Array, position: number): number {
    return this.#native.blockPwrite(this.#open('pwrite'), buf, position);
  }

  async read(buf: Uint8Array, position: number): Promise<number> {
    return this.#native.blockPreadAsync(this.#open('pread'), buf, position);
  }

  async write(buf: Uint8Array, position: number): Promise<number> {
    return this.#native.blockPwriteAsync(this.#open('pwrite'), buf, position);
  }

  flush(): void {
    this.#native.blockFlush(this.#open('fdatasync'));
  }

  close(): void {
    const fd = this.#open('close');
    this.#fd = -1;
    this.#native.blockClose(fd);
  }
}
