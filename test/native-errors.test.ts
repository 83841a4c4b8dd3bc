/**
 * How the addon reports failures: SnapshotError instances built in C++, with the errno name,
 * number, system call, ioctl name and path, and arguments refused before any system call.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { ERRNO, SnapshotError, type ErrnoCode } from '../lib/errors.js';
import { requireNative } from '../lib/native/binding.js';
import { NativeSnapshotDevice } from '../lib/native/snapshot-device.js';
import { loadTestBinding } from './native-test-binding.js';

const native = requireNative();
const dir = mkdtempSync(join(tmpdir(), 'hiberkit-native-errors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A regular file with known content, standing in for /dev/snapshot where the call allows it. */
function sampleFile(name: string): string {
  const path = join(dir, name);
  writeFileSync(path, Buffer.from('0123456789abcdef'.repeat(512)));
  return path;
}

/** Runs `fn`, which must throw a SnapshotError, and returns that error. */
function thrown(fn: () => unknown): SnapshotError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SnapshotError);
    return err as SnapshotError;
  }
  throw new Error('expected a SnapshotError, but nothing was thrown');
}

describe('errno names', () => {
  it.each(Object.entries(ERRNO))('the addon names %s (%d) as lib/errors.ts does', (code, errno) => {
    expect(loadTestBinding().errnoName(errno)).toBe(code as ErrnoCode);
  });

  it('names a number libc does not know E<n>, like errnoCode()', () => {
    expect(loadTestBinding().errnoName(4000)).toBe('E4000');
  });
});

describe('SnapshotError from C++', () => {
  it('reports a missing device node as ENOENT from open, with the path', () => {
    const path = join(dir, 'no-such-snapshot');
    const err = thrown(() => new NativeSnapshotDevice(native, path, 'hibernate'));
    expect(err).toMatchObject({ name: 'SnapshotError', code: 'ENOENT', errno: 2, syscall: 'open', path });
    expect(err.ioctl).toBeUndefined();
    expect(err.message).toContain(path);
  });

  it('reports an ioctl on a regular file as ENOTTY with the ioctl name and the path', () => {
    const path = sampleFile('not-a-snapshot');
    const device = new NativeSnapshotDevice(native, path, 'hibernate');
    try {
      expect(thrown(() => device.freeze())).toMatchObject({ code: 'ENOTTY', errno: 25, syscall: 'ioctl', ioctl: 'SNAPSHOT_FREEZE', path });
      expect(thrown(() => device.getImageSize())).toMatchObject({ code: 'ENOTTY', ioctl: 'SNAPSHOT_GET_IMAGE_SIZE' });
      expect(thrown(() => device.setSwapArea(0xfe00, 0))).toMatchObject({ code: 'ENOTTY', ioctl: 'SNAPSHOT_SET_SWAP_AREA' });
      // A raw request the table does not know is named by its value.
      expect(thrown(() => device.ioctl(0x40083303, 0))).toMatchObject({ code: 'ENOTTY', ioctl: '0x40083303' });
      // FREEZE failed, so nothing of this process counts as frozen.
      expect(native.snapshotFrozenFd()).toBe(-1);
    } finally {
      device.close();
    }
  });

  it('reports lseek on a stream as ESPIPE, as /dev/snapshot does', () => {
    const fifo = join(dir, 'stream');
    execFileSync('mkfifo', [fifo]);
    // Held open for reading and writing so that opening the FIFO for reading does not wait.
    const holder = openSync(fifo, 'r+');
    const device = new NativeSnapshotDevice(native, fifo, 'hibernate');
    try {
      expect(thrown(() => device.seek(0))).toMatchObject({ code: 'ESPIPE', errno: 29, syscall: 'lseek', path: fifo });
    } finally {
      device.close();
      closeSync(holder);
    }
  });

  it('reports a write on a device opened for hibernation as EBADF from write', () => {
    const path = sampleFile('read-only');
    const device = new NativeSnapshotDevice(native, path, 'hibernate');
    try {
      expect(thrown(() => device.write(new Uint8Array(4096)))).toMatchObject({ code: 'EBADF', errno: 9, syscall: 'write', path });
    } finally {
      device.close();
    }
  });
});

describe('whole-page transfers', () => {
  it.each([100, 0, 4097])('refuses readPages with a %d-byte buffer before any system call', (length) => {
    const path = sampleFile(`pages-${length}`);
    const device = new NativeSnapshotDevice(native, path, 'hibernate');
    try {
      const err = thrown(() => device.readPages(new Uint8Array(length)));
      expect(err).toMatchObject({ code: 'EINVAL', errno: 22, syscall: 'readv', path });
      expect(err.message).toContain('multiple of 4096');
      // Nothing was read: the next read starts at the beginning of the file.
      const first = new Uint8Array(16);
      expect(device.read(first)).toBe(16);
      expect(Buffer.from(first).toString()).toBe('0123456789abcdef');
    } finally {
      device.close();
    }
  });

  it('refuses writePages with a partial page before any system call', () => {
    const path = sampleFile('write-partial');
    const before = readFileSync(path);
    const device = new NativeSnapshotDevice(native, path, 'restore');
    try {
      expect(thrown(() => device.writePages(new Uint8Array(4096 + 100).fill(0x55)))).toMatchObject({ code: 'EINVAL', syscall: 'writev' });
    } finally {
      device.close();
    }
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('moves whole pages in one call through the caller buffer', () => {
    const path = sampleFile('pages-ok');
    const device = new NativeSnapshotDevice(native, path, 'hibernate');
    try {
      const buf = new Uint8Array(3 * 4096);
      // The file holds two pages: readv stops at the end of the data.
      expect(device.readPages(buf)).toBe(2 * 4096);
      expect(Buffer.from(buf.subarray(4096, 4096 + 16)).toString()).toBe('0123456789abcdef');
      expect(device.readPages(buf)).toBe(0);
    } finally {
      device.close();
    }
  });

  it('passes raw read lengths through unchanged, 0 included', () => {
    const path = sampleFile('raw-read');
    const device = new NativeSnapshotDevice(native, path, 'hibernate');
    try {
      const buf = new Uint8Array(8);
      expect(device.read(buf, 0)).toBe(0);
      expect(device.read(buf, 3)).toBe(3);
      expect(Buffer.from(buf.subarray(0, 3)).toString()).toBe('012');
      expect(() => device.read(buf, 9)).toThrow(RangeError);
    } finally {
      device.close();
    }
  });
});

describe('device lifetime', () => {
  it('answers EBADF once closed, without touching the old fd number', () => {
    const path = sampleFile('closed');
    const device = new NativeSnapshotDevice(native, path, 'hibernate');
    device.close();
    expect(device.isOpen).toBe(false);
    expect(thrown(() => device.free())).toMatchObject({ code: 'EBADF', syscall: 'ioctl', ioctl: 'SNAPSHOT_FREE', path });
    expect(thrown(() => device.close())).toMatchObject({ code: 'EBADF', syscall: 'close' });
  });

  it('detach hands over the open fd and closes only the object', () => {
    const path = sampleFile('detached');
    const device = new NativeSnapshotDevice(native, path, 'hibernate');
    const fd = device.detach();
    expect(device.isOpen).toBe(false);
    expect(thrown(() => device.read(new Uint8Array(1)))).toMatchObject({ code: 'EBADF' });
    expect(fstatSync(fd).size).toBe(8192);
    closeSync(fd);
  });
});
