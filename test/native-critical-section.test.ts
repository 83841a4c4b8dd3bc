/**
 * The native critical section on the host, where /dev/snapshot does not exist: the fork, the go
 * pipe, the child's memory locking, its report, the parent's invalidation of the image and the
 * mapping to HibernateOutcome/RestoreOutcome. /dev/null stands in for the device: every ioctl on
 * it fails with ENOTTY, so the child gets as far as SNAPSHOT_FREEZE. What happens from the freeze
 * on (kill points, a real cycle) is proven in the VM: test/vm/critical-section.vm.test.ts.
 */
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

import { afterAll, describe, expect, it } from 'vitest';

import type { HibernatePlan } from '../lib/backend.js';
import { ERRNO, HiberkitError, SnapshotError } from '../lib/errors.js';
import { requireNative, type NativeCriticalResult } from '../lib/native/binding.js';
import { NativeBlockDevice } from '../lib/native/block-device.js';
import { createNativeCriticalSection, errorOf } from '../lib/native/critical-section.js';
import { NativeSnapshotDevice } from '../lib/native/snapshot-device.js';

const native = requireNative();
const dir = mkdtempSync(join(tmpdir(), 'hk-critical-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PAGE = 4096;
const RESUME_PAGE = 1;

/** A swap header page as mkswap leaves it: the signature at 4086, zeros before it. */
function swapHeaderPage(): Buffer {
  const page = Buffer.alloc(PAGE);
  page.write('SWAPSPACE2', 4086, 'latin1');
  return page;
}

/** A storage file whose resume page carries a marker, as if an image had been written. */
function markedStorage(name: string): { path: string; original: Buffer } {
  const original = swapHeaderPage();
  const marked = Buffer.from(original);
  marked.write('HIBERKIT01', 4086, 'latin1');
  const file = Buffer.alloc(16 * PAGE);
  marked.copy(file, RESUME_PAGE * PAGE);
  const path = join(dir, name);
  writeFileSync(path, file);
  return { path, original };
}

function resumePageOf(path: string): Buffer {
  return readFileSync(path).subarray(RESUME_PAGE * PAGE, (RESUME_PAGE + 1) * PAGE);
}

function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

function commonParams(snapshotFd: number, storageFd: number, original: Buffer) {
  return {
    snapshotFd,
    // Nothing there: the parent's reselection of the swap area is skipped, the write still happens.
    snapshotPath: join(dir, 'no-snapshot-device'),
    storageFd,
    resumePage: RESUME_PAGE,
    originalResumePage: original,
    progressFd: -1,
  };
}

function hibernateParams(snapshotFd: number, storageFd: number, original: Buffer) {
  return {
    ...commonParams(snapshotFd, storageFd, original),
    kernelRelease: '6.1.0-test',
    machineId: 'host-test',
    createdAtMs: Date.now(),
    platformMode: false,
    compress: true,
    chunkPages: 32,
    maxStoredPages: 64,
    ioBytes: 1 << 20,
    powerOff: 'shutdown' as const,
  };
}

describe('criticalHibernate', () => {
  it('reports the refused freeze, closes the device, and puts the original resume page back', async () => {
    const { path, original } = markedStorage('hibernate.img');
    const storageFd = openSync(path, 'r+');
    const snapshotFd = openSync('/dev/null', 'r');
    try {
      const result = await native.criticalHibernate!(hibernateParams(snapshotFd, storageFd, original));
      expect(result).toMatchObject({
        outcome: 'failed',
        stage: 'freeze',
        errno: ERRNO.ENOTTY,
        syscall: 'ioctl',
        ioctl: 'SNAPSHOT_FREEZE',
        writerStage: null,
        signal: null,
        exitCode: 1,
        invalidateErrno: 0,
      });
      // The child locked itself before it tried to freeze.
      expect(result.stats.lockMs).toBeGreaterThan(0);
      expect(result.stats.residentKiB).toBeGreaterThan(0);
      expect(resumePageOf(path).equals(original)).toBe(true);
      expect(isOpen(snapshotFd)).toBe(false);
    } finally {
      closeSync(storageFd);
    }
  });

  it('fails in the parent, before any fork, when the storage is not open', async () => {
    const snapshotFd = openSync('/dev/null', 'r');
    const closedFd = openSync('/dev/null', 'r');
    closeSync(closedFd);
    const result = await native.criticalHibernate!(hibernateParams(snapshotFd, closedFd, swapHeaderPage()));
    expect(result).toMatchObject({ outcome: 'failed', stage: 'prepare', syscall: 'fcntl', errno: ERRNO.EBADF, invalidateErrno: null });
    expect(isOpen(snapshotFd)).toBe(false);
  });

  it('throws a TypeError naming a bad parameter, and still closes the device it was given', () => {
    const snapshotFd = openSync('/dev/null', 'r');
    const params = { ...hibernateParams(snapshotFd, 0, swapHeaderPage()), powerOff: 'hibernate' };
    expect(() => native.criticalHibernate!(params as never)).toThrow(
      new TypeError("criticalHibernate: powerOff must be one of 'platform', 'shutdown', 'reboot'"),
    );
    expect(isOpen(snapshotFd)).toBe(false);
    const short = { ...hibernateParams(openSync('/dev/null', 'r'), 0, swapHeaderPage()), originalResumePage: new Uint8Array(100) };
    expect(() => native.criticalHibernate!(short)).toThrow(/originalResumePage must be a Uint8Array of 4096 bytes/);
  });
});

describe('criticalRestore', () => {
  it('reports the refused freeze and puts the original resume page back', async () => {
    const { path, original } = markedStorage('restore.img');
    const storageFd = openSync(path, 'r+');
    try {
      const result = await native.criticalRestore!({
        ...commonParams(openSync('/dev/null', 'w'), storageFd, original),
        platformMode: true,
      });
      expect(result).toMatchObject({ outcome: 'failed', stage: 'freeze', errno: ERRNO.ENOTTY, ioctl: 'SNAPSHOT_FREEZE', invalidateErrno: 0 });
      expect(resumePageOf(path).equals(original)).toBe(true);
    } finally {
      closeSync(storageFd);
    }
  });
});

describe('createNativeCriticalSection', () => {
  // The real addon, with /dev/null opened where /dev/snapshot would be.
  const nullDevice = {
    ...native,
    snapshotOpen: () => openSync('/dev/null', 'r'),
    snapshotAvailSwapSize: () => 64 * PAGE,
  };

  function plan(storage: NativeBlockDevice, original: Buffer): HibernatePlan {
    return {
      device: new NativeSnapshotDevice(nullDevice, '/dev/null', 'hibernate'),
      storage,
      resumePage: RESUME_PAGE,
      originalResumePage: original,
      header: { kernelRelease: '6.1.0-test', machineId: 'host-test', createdAtMs: Date.now(), platformMode: false },
      compression: 'lz4',
      chunkPages: 32,
      powerOff: 'shutdown',
      progressFd: -1,
    };
  }

  it('turns the report into a failed outcome with the SnapshotError of the refused call', async () => {
    const { path, original } = markedStorage('outcome.img');
    const storage = new NativeBlockDevice(native, path, { write: true });
    const reports: NativeCriticalResult[] = [];
    try {
      const hibernation = plan(storage, original);
      const outcome = await createNativeCriticalSection(nullDevice, { onReport: (r) => reports.push(r) }).hibernate(hibernation);
      expect(outcome.kind).toBe('failed');
      if (outcome.kind !== 'failed') return;
      expect(outcome.stage).toBe('freeze');
      expect(outcome.error).toBeInstanceOf(SnapshotError);
      expect(outcome.error).toMatchObject({ code: 'ENOTTY', syscall: 'ioctl', ioctl: 'SNAPSHOT_FREEZE', path: '/dev/null' });
      expect(reports.map((r) => r.outcome)).toEqual(['failed']);
      // The device now belongs to the (ended) child: the caller's object is closed.
      expect(hibernation.device.isOpen).toBe(false);
      expect(resumePageOf(path).equals(original)).toBe(true);
    } finally {
      storage.close();
    }
  });

  it('refuses a plan it cannot carry out before taking the device', async () => {
    const { path, original } = markedStorage('refuse.img');
    const storage = new NativeBlockDevice(native, path, { write: true });
    try {
      const section = createNativeCriticalSection(nullDevice);
      const foreign = { ...plan(storage, original), storage: { ...storage, path } as never };
      await expect(section.hibernate(foreign)).rejects.toMatchObject({ code: 'WRONG_BACKEND' });
      foreign.device.close();
    } finally {
      storage.close();
    }
  });
});

describe('errorOf', () => {
  const base: NativeCriticalResult = {
    outcome: 'died',
    stage: 'write-image',
    errno: null,
    syscall: null,
    ioctl: null,
    writerStage: null,
    signal: 9,
    exitCode: null,
    invalidateErrno: 0,
    stats: {
      streamBytes: 0,
      storedBytes: 0,
      extents: 0,
      imageAttempts: 1,
      lockMs: 1,
      residentKiB: 1,
      privateDirtyKiB: 1,
      snapshotMs: 1,
      writeMs: 1,
      freezeToPowerOffMs: 0,
    },
  };

  it('says how the child died, where, and that the machine was cleaned up', () => {
    const error = errorOf(base, '/dev/snapshot', '/dev/vda');
    expect(error).toBeInstanceOf(HiberkitError);
    expect(error.message).toBe(
      "the critical section died from signal 9 (SIGKILL) at stage 'write-image'; user space was thawed and the image invalidated",
    );
    const exited = errorOf({ ...base, signal: null, exitCode: 2, stage: 'wait-go' }, '/dev/snapshot', '/dev/vda');
    expect(exited.message).toMatch(/exited unexpectedly with status 2 at stage 'wait-go'/);
  });

  it('blames the storage for a failed image write, with the writer step', () => {
    const error = errorOf(
      { ...base, outcome: 'failed', signal: null, exitCode: 1, errno: ERRNO.EIO, syscall: 'write-image', writerStage: 'writing chunks' },
      '/dev/snapshot',
      '/dev/vda',
    );
    expect(error).toMatchObject({ code: 'EIO', syscall: 'write-image', path: '/dev/vda' });
    expect(error.message).toBe('write-image failed on /dev/vda: EIO (the image writer failed while writing chunks)');
  });

  it('raises the alarm when the image could not be invalidated', () => {
    const error = errorOf({ ...base, invalidateErrno: ERRNO.EIO }, '/dev/snapshot', '/dev/vda');
    expect(error).toMatchObject({ code: 'IMAGE_NOT_INVALIDATED' });
    expect(error.message).toMatch(/could NOT be invalidated \(EIO\)/);
    expect((error as HiberkitError).cause).toMatchObject({ code: 'CRITICAL_SECTION_DIED' });
  });
});
