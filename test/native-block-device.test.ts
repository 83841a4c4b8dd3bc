/**
 * Image storage through the addon, on temporary files: aligned buffers, direct and buffered
 * positional I/O, flush, the O_DIRECT fallback, and file extents for swap files.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { SnapshotError } from '../lib/errors.js';
import { requireNative } from '../lib/native/binding.js';
import { NativeBlockDevice } from '../lib/native/block-device.js';

const native = requireNative();
// Under the package directory rather than os.tmpdir(): it must be a disk filesystem that maps
// file extents (tmpfs does not), which /tmp is not everywhere.
const dir = mkdtempSync(join(process.cwd(), '.native-block-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fileOf(name: string, bytes: number): string {
  const path = join(dir, name);
  writeFileSync(path, Buffer.alloc(bytes));
  return path;
}

async function rejection(promise: Promise<unknown>): Promise<SnapshotError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SnapshotError);
  return err as SnapshotError;
}

describe('allocAligned', () => {
  it('returns zeroed memory of the requested size', () => {
    const buf = native.allocAligned(3 * 4096);
    expect(buf.length).toBe(3 * 4096);
    expect(buf.every((b) => b === 0)).toBe(true);
    expect(native.allocAligned(0).length).toBe(0);
  });

  it('is aligned well enough for O_DIRECT, where an offset view is not', () => {
    const device = new NativeBlockDevice(native, fileOf('aligned', 8 * 4096), { direct: true });
    try {
      expect(device.direct).toBe(true);
      const buf = device.allocAligned(2 * 4096);
      expect(device.readSync(buf.subarray(0, 4096), 0)).toBe(4096);
      const misaligned = buf.subarray(1, 4097);
      expect(() => device.readSync(misaligned, 0)).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'pread' }));
    } finally {
      device.close();
    }
  });
});

describe('NativeBlockDevice on a regular file', () => {
  it('reports size, a power-of-two logical block size and direct I/O', () => {
    const device = new NativeBlockDevice(native, fileOf('facts', 16 * 4096), { write: true, direct: true });
    try {
      expect(device.size).toBe(16 * 4096);
      expect(device.direct).toBe(true);
      expect([512, 1024, 2048, 4096]).toContain(device.logicalBlockSize);
      expect(device.fd).toBeGreaterThan(2);
    } finally {
      device.close();
    }
    expect(device.fd).toBe(-1);
  });

  it('round-trips pages with synchronous direct I/O and flushes them to the file', () => {
    const path = fileOf('sync', 16 * 4096);
    const device = new NativeBlockDevice(native, path, { write: true, direct: true });
    const out = device.allocAligned(2 * 4096);
    out.set(randomBytes(out.length));
    const back = device.allocAligned(2 * 4096);
    try {
      expect(device.writeSync(out, 3 * 4096)).toBe(2 * 4096);
      device.flush();
      expect(device.readSync(back, 3 * 4096)).toBe(2 * 4096);
    } finally {
      device.close();
    }
    expect(Buffer.from(back).equals(Buffer.from(out))).toBe(true);
    expect(readFileSync(path).subarray(3 * 4096, 5 * 4096).equals(Buffer.from(out))).toBe(true);
  });

  it('round-trips pages with asynchronous I/O on the thread pool', async () => {
    const device = new NativeBlockDevice(native, fileOf('async', 16 * 4096), { write: true, direct: true });
    const out = device.allocAligned(4 * 4096);
    out.set(randomBytes(out.length));
    const back = device.allocAligned(4 * 4096);
    try {
      await expect(device.write(out, 8 * 4096)).resolves.toBe(4 * 4096);
      await expect(device.read(back, 8 * 4096)).resolves.toBe(4 * 4096);
    } finally {
      device.close();
    }
    expect(Buffer.from(back).equals(Buffer.from(out))).toBe(true);
  });

  it('returns a short count at the end of the file', async () => {
    const device = new NativeBlockDevice(native, fileOf('short', 4096));
    const buf = device.allocAligned(2 * 4096);
    try {
      expect(device.readSync(buf, 0)).toBe(4096);
      expect(device.readSync(buf, 4096)).toBe(0);
      await expect(device.read(buf, 0)).resolves.toBe(4096);
    } finally {
      device.close();
    }
  });

  it('reports failures as SnapshotError, synchronously and through the promise', async () => {
    const path = fileOf('readonly', 4096);
    const device = new NativeBlockDevice(native, path);
    const buf = device.allocAligned(4096);
    try {
      expect(() => device.writeSync(buf, 0)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'pwrite', path }));
      const err = await rejection(device.write(buf, 0));
      expect(err).toMatchObject({ code: 'EBADF', errno: 9, syscall: 'pwrite', path });
    } finally {
      device.close();
    }
    expect(() => device.readSync(buf, 0)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'pread' }));
    await rejection(device.read(buf, 0));
  });
});

describe('blockOpen', () => {
  it('falls back to buffered I/O where O_DIRECT is refused, and says so', () => {
    // procfs files cannot be opened with O_DIRECT (EINVAL).
    const device = new NativeBlockDevice(native, '/proc/version', { direct: true });
    try {
      expect(device.direct).toBe(false);
      const buf = new Uint8Array(64);
      expect(device.readSync(buf, 0)).toBeGreaterThan(0);
      expect(Buffer.from(buf).toString()).toMatch(/^Linux version/);
    } finally {
      device.close();
    }
  });

  it('refuses what is neither a block device nor a regular file', () => {
    expect(() => new NativeBlockDevice(native, '/dev/null')).toThrow(
      expect.objectContaining({ code: 'EINVAL', path: '/dev/null', message: expect.stringContaining('block device or a regular file') }),
    );
  });

  it('reports a missing path as ENOENT from open', () => {
    const path = join(dir, 'missing');
    expect(() => new NativeBlockDevice(native, path)).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'open', path }));
  });
});

describe('fiemap', () => {
  it('maps a written file with extents that cover it contiguously, ending with LAST', () => {
    const path = join(dir, 'extents');
    const length = 3 * 1024 * 1024 + 1234;
    writeFileSync(path, randomBytes(length));
    const extents = native.fiemap(path);
    expect(extents.length).toBeGreaterThan(0);
    let next = 0;
    for (const extent of extents) {
      expect(Object.keys(extent).sort()).toEqual(['flags', 'length', 'logical', 'physical']);
      expect(extent.logical).toBe(next);
      expect(extent.length).toBeGreaterThan(0);
      expect(extent.physical % 512).toBe(0);
      next = extent.logical + extent.length;
    }
    expect(next).toBeGreaterThanOrEqual(statSync(path).size);
    expect(extents.at(-1)!.flags & 0x1).toBe(0x1);
  });

  it('names the failing ioctl where the filesystem cannot map files', () => {
    // tmpfs has neither FIEMAP nor FIBMAP: FIEMAP's EOPNOTSUPP is the error that explains it.
    const shm = mkdtempSync('/dev/shm/hiberkit-fiemap-');
    const path = join(shm, 'data');
    writeFileSync(path, randomBytes(8192));
    try {
      expect(() => native.fiemap(path)).toThrow(expect.objectContaining({ code: 'EOPNOTSUPP', syscall: 'ioctl', ioctl: 'FS_IOC_FIEMAP', path }));
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  });

  it('maps an empty file to no extents', () => {
    expect(native.fiemap(fileOf('empty', 0))).toEqual([]);
  });
});
