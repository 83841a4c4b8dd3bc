// The emulated /dev/snapshot beyond what the conformance cases can reach through a Backend: bad
// user pointers (vector 7), a busy transition mutex (12), the same-thread rule (13), a restore
// that goes through, open-time checks that need a specially built machine, the freezer, and the
// block-device rule that keeps active swap partitions from being written.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { HiberkitError, SnapshotError } from '../lib/errors.js';
import { IOCTLS, PAGE_SIZE } from '../lib/ioctls.js';
import type { MachineConfigInput } from '../emulator/config.js';
import { decodeMetadataPage, encodeMetadataPage } from '../emulator/image-stream.js';
import { createEmulatedMachine } from '../emulator/create.js';
import { BootEnded, openEmulatedMachine, type EmulatedMachine, type OpenMachineOptions } from '../emulator/machine.js';
import { behaviourOfRelease } from '../emulator/profile.js';
import { PAGE_ANON } from '../emulator/ram.js';
import type { EmulatedSnapshotDevice } from '../emulator/snapshot-device.js';

const MIB = 1 << 20;
const machines: { machine: EmulatedMachine; dir: string }[] = [];

afterEach(() => {
  const done = machines.splice(0);
  for (const { machine } of done) if (machine.status === 'running') machine.shutdown();
  for (const { dir } of done) rmSync(dir, { recursive: true, force: true });
});

function machineWith(config: MachineConfigInput = {}, options: OpenMachineOptions = {}): EmulatedMachine {
  const dir = mkdtempSync(join(tmpdir(), 'hiberkit-device-'));
  createEmulatedMachine(dir, { config: { memoryBytes: 32 * MIB, ...config } });
  const machine = openEmulatedMachine(dir, options);
  machines.push({ machine, dir });
  return machine;
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

/** The whole stream of a fresh image of this machine. */
function takeImage(device: EmulatedSnapshotDevice): Uint8Array {
  device.freeze();
  expect(device.createImage()).toBe(1);
  const stream = new Uint8Array(device.getImageSize());
  expect(device.readPages(stream)).toBe(stream.length);
  return stream;
}

describe('open(2)', () => {
  test('no node: ENOENT; a node without a driver: ENODEV', () => {
    expect(code(() => machineWith({ snapshotNode: 'absent' }).openSnapshot('read-only'))).toBe('ENOENT');
    expect(code(() => machineWith({ snapshotNode: 'stale' }).openSnapshot('read-only'))).toBe('ENODEV');
  });

  test('node permissions come first (EACCES), then availability (EPERM), then the single-open slot (EBUSY), then O_RDWR (ENOSYS)', () => {
    expect(code(() => machineWith({ lockdown: 'integrity' }, { root: false }).openSnapshot('read-only'))).toBe('EACCES');
    const machine = machineWith();
    const device = machine.openSnapshot('read-only');
    expect(code(() => machine.openSnapshot('read-write'))).toBe('EBUSY');
    machine.config.lockdown = 'confidentiality';
    expect(code(() => machine.openSnapshot('read-only'))).toBe('EPERM');
    machine.config.lockdown = 'none';
    device.close();
    expect(code(() => machine.openSnapshot('read-write'))).toBe('ENOSYS');
  });

  test('hibernation is unavailable with nohibernate or hibernate=no…, but not with hibernate=noresume… or nocompress…', () => {
    expect(code(() => machineWith({ cmdline: ['nohibernate'] }).openSnapshot('write-only'))).toBe('EPERM');
    expect(code(() => machineWith({ cmdline: ['hibernate=nope'] }).openSnapshot('write-only'))).toBe('EPERM');
    machineWith({ cmdline: ['hibernate=noresume'] }).openSnapshot('write-only').close();
    // hibernate_setup() compares prefixes: "nocompress,no" is the nocompress option, not "no…".
    machineWith({ cmdline: ['hibernate=nocompress,no'] }).openSnapshot('write-only').close();
  });

  test('an unprivileged user who can open the node gets a file whose every ioctl is EPERM', () => {
    const device = machineWith({ snapshotNodeMode: 0o666 }, { root: false }).openSnapshot('write-only');
    expect(code(() => device.freeze())).toBe('EPERM');
    expect(device.write(new Uint8Array(PAGE_SIZE))).toBe(PAGE_SIZE);
    device.close();
  });

  test('access mode 3 opens in restore mode, but neither reads nor writes', () => {
    const device = machineWith().openSnapshot('ioctl-only');
    expect(device.mode).toBe('restore');
    expect(code(() => device.read(new Uint8Array(PAGE_SIZE)))).toBe('EBADF');
    expect(code(() => device.write(new Uint8Array(PAGE_SIZE)))).toBe('EBADF');
    device.freeze();
    device.unfreeze();
    device.close();
  });

  test('errors name the call: syscall, ioctl (by name, or by number when unknown) and path', () => {
    const device = machineWith({ snapshotNodeMode: 0o666 }, { root: false }).openSnapshot('read-only');
    expect(() => device.freeze()).toThrow(expect.objectContaining({ code: 'EPERM', errno: 1, syscall: 'ioctl', ioctl: 'SNAPSHOT_FREEZE', path: '/dev/snapshot' }));
    expect(() => device.ioctl(0x40083303)).toThrow(expect.objectContaining({ ioctl: '0x40083303' }));
    device.close();
    expect(() => device.close()).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'close' }));
  });
});

describe('bad user pointers (vector 7)', () => {
  test('CREATE_IMAGE with a bad pointer: EFAULT, no image to read, and the image leaks until FREE', () => {
    const machine = machineWith();
    const device = machine.openSnapshot('read-only');
    device.freeze();
    expect(code(() => device.ioctlWithBadPointer(IOCTLS.SNAPSHOT_CREATE_IMAGE.request))).toBe('EFAULT');
    expect(code(() => device.read(new Uint8Array(PAGE_SIZE)))).toBe('ENODATA');
    expect(device.createImage()).toBe(1);
    expect(machine.violations).toEqual([expect.stringMatching(/leaks until SNAPSHOT_FREE/)]);
    device.free();
    device.unfreeze();
    device.close();
  });

  test('ALLOC_SWAP_PAGE with a bad pointer: EFAULT, and the page stays handed out', () => {
    const device = machineWith({ cmdline: ['resume=/dev/vda'] }).openSnapshot('read-only');
    const before = device.availableSwapSize();
    expect(code(() => device.ioctlWithBadPointer(IOCTLS.SNAPSHOT_ALLOC_SWAP_PAGE.request))).toBe('EFAULT');
    expect(device.availableSwapSize()).toBe(before - PAGE_SIZE);
    expect(code(() => device.ioctlWithBadPointer(IOCTLS.SNAPSHOT_SET_SWAP_AREA.request))).toBe('EPERM');
    device.freeSwapPages();
    expect(code(() => device.ioctlWithBadPointer(IOCTLS.SNAPSHOT_SET_SWAP_AREA.request))).toBe('EFAULT');
    device.close();
  });
});

describe('system_transition_mutex (vector 12)', () => {
  test('while someone else holds it: ioctls are EBUSY after the cheaper checks; read, write and open would block', () => {
    const machine = machineWith();
    const device = machine.openSnapshot('read-only');
    const release = machine.holdTransitionMutex('a FREEZE on another thread');
    expect(code(() => device.freeze())).toBe('EBUSY');
    expect(code(() => device.ioctl(0x5401))).toBe('ENOTTY');
    expect(code(() => device.read(new Uint8Array(PAGE_SIZE)))).toBe('EMULATOR_WOULD_BLOCK');
    release();
    device.freeze();
    device.close();
  });
});

describe('the freezer (docs/snapshot-device.md §7, vector 13)', () => {
  test('FREEZE freezes user space once (and syncs once); CREATE_IMAGE freezes kernel threads; FREE thaws them; UNFREEZE thaws all', () => {
    const machine = machineWith();
    const { freezer } = machine.kernel;
    const device = machine.openSnapshot('read-only');
    device.freeze();
    device.freeze();
    expect(machine.kernel.syncCount).toBe(1);
    expect(freezer.frozenProcesses().map((p) => p.name)).toEqual(['init', 'sshd', 'cron']);
    device.createImage();
    expect(freezer.kernelThreadsFrozen).toBe(true);
    device.unfreeze();
    expect(freezer.userSpaceFrozen).toBe(true);
    device.free();
    expect(freezer.kernelThreadsFrozen).toBe(false);
    device.unfreeze();
    expect(freezer.userSpaceFrozen).toBe(false);
    device.close();
    expect(machine.violations).toEqual([]);
  });

  test('a task that refuses to freeze makes FREEZE fail with EBUSY and leaves everything running', () => {
    const machine = machineWith({ processes: [{ pid: 1, name: 'init' }, { pid: 900, name: 'fuse-daemon', refusesFreeze: true }] });
    const device = machine.openSnapshot('read-only');
    expect(code(() => device.freeze())).toBe('EBUSY');
    expect(machine.kernel.freezer.userSpaceFrozen).toBe(false);
    device.close();
  });

  test('thawing from another thread than the freezer is a protocol violation; the freezer keeps its exemption', () => {
    const machine = machineWith();
    const device = machine.openSnapshot('read-only');
    device.freeze();
    machine.currentThread = 2;
    device.unfreeze();
    expect(machine.violations).toEqual([expect.stringMatching(/thread 2, but thread 1 froze/)]);
    expect(machine.kernel.freezer.exemptThreads.has(1)).toBe(true);
    machine.currentThread = 1;
    device.freeze();
    machine.currentThread = 3;
    device.close();
    expect(machine.violations).toHaveLength(2);
  });
});

describe('CREATE_IMAGE and the image', () => {
  test('PREF_IMAGE_SIZE 0 asks for the smallest image; the setting is global and persisted', () => {
    const machine = machineWith();
    const device = machine.openSnapshot('read-only');
    device.freeze();
    device.createImage();
    const defaultSize = device.getImageSize();
    device.free();
    device.setPreferredImageSize(0);
    expect(machine.state.readPower()).toMatchObject({ state: 'running', vars: { imageSize: 0 } });
    device.createImage();
    expect(device.getImageSize()).toBeLessThan(defaultSize);
    device.close();
  });

  test('under memory pressure CREATE_IMAGE is ENOMEM, kernel threads stay frozen until FREE', () => {
    const machine = machineWith({ usage: { anon: 0.7, cache: 0.1 } });
    const device = machine.openSnapshot('read-only');
    device.freeze();
    expect(code(() => device.createImage())).toBe('ENOMEM');
    expect(machine.kernel.freezer.kernelThreadsFrozen).toBe(true);
    expect(code(() => device.getImageSize())).toBe('ENODATA');
    device.free();
    expect(machine.kernel.freezer.kernelThreadsFrozen).toBe(false);
    device.close();
  });

  test('S2RAM wakes up at once and leaves the image unreadable (ready = 0) but allocated', () => {
    const machine = machineWith();
    const device = machine.openSnapshot('read-only');
    device.freeze();
    device.createImage();
    device.suspendToRam();
    expect(code(() => device.read(new Uint8Array(PAGE_SIZE)))).toBe('ENODATA');
    // Not refused (ready is 0), but the first image is still allocated.
    expect(device.createImage()).toBe(1);
    expect(machine.violations).toEqual([expect.stringMatching(/leaks until SNAPSHOT_FREE/)]);
    device.free();
    device.close();
  });

  test('a read continuing a page after FREE + CREATE_IMAGE has no buffer: EINVAL (a NULL dereference in the kernel)', () => {
    const device = machineWith().openSnapshot('read-only');
    device.freeze();
    device.createImage();
    expect(device.read(new Uint8Array(PAGE_SIZE), 100)).toBe(100);
    device.free();
    device.createImage();
    expect(code(() => device.read(new Uint8Array(PAGE_SIZE), 100))).toBe('EINVAL');
    device.close();
  });

  test('a 6.1 kernel copies zero pages; a 6.17 kernel flags them in the metadata', () => {
    const flags = (kernel: '6.1' | '6.17') => {
      const device = machineWith({ kernel, seed: 4 }).openSnapshot('read-only');
      const stream = takeImage(device);
      device.close();
      return decodeMetadataPage(stream.subarray(PAGE_SIZE, 2 * PAGE_SIZE)).filter((e) => e.zero).length;
    };
    expect(flags('6.1')).toBe(0);
    expect(flags('6.17')).toBeGreaterThan(0);
  });
});

describe('ATOMIC_RESTORE that goes through (vector 10)', () => {
  function restoreSetup(kernel: '6.17' | '7.0') {
    const machine = machineWith({ kernel, usage: { anon: 0.15, cache: 0.15 } });
    const hibernating = machine.openSnapshot('read-only');
    const stream = takeImage(hibernating);
    const snapshotRam = machine.ram.fingerprint();
    hibernating.free();
    hibernating.unfreeze();
    hibernating.close();
    // The machine moves on after the snapshot: an anonymous page changes.
    machine.ram.writePage(firstPageIn(machine, PAGE_ANON), new Uint8Array(PAGE_SIZE).fill(0xee));
    expect(machine.ram.fingerprint()).not.toBe(snapshotRam);
    const restoring = machine.openSnapshot('write-only');
    expect(restoring.writePages(stream)).toBe(stream.length);
    return { machine, restoring, snapshotRam };
  }

  test('6.17: after the extra write (0) the image is complete; ATOMIC_RESTORE brings back the RAM of the snapshot', () => {
    const { machine, restoring, snapshotRam } = restoreSetup('6.17');
    expect(restoring.write(new Uint8Array(PAGE_SIZE))).toBe(0);
    restoring.freeze();
    expect(() => restoring.atomicRestore()).toThrow(BootEnded);
    expect(restoring.isOpen).toBe(false);
    expect(machine.status).toBe('replaced');
    const restored = openEmulatedMachine(machine.dir);
    machines.push({ machine: restored, dir: machine.dir });
    expect(restored.bootNumber).toBe(1);
    expect(restored.ram.fingerprint()).toBe(snapshotRam);
    expect(Object.values(restored.sessions())).toEqual([expect.objectContaining({ state: 'resumed', bootNumber: 1 })]);
  });

  test('7.0 drains trailing zero pages itself: no extra write needed', () => {
    const { restoring, snapshotRam, machine } = restoreSetup('7.0');
    restoring.freeze();
    expect(() => restoring.atomicRestore()).toThrow(BootEnded);
    const restored = openEmulatedMachine(machine.dir);
    machines.push({ machine: restored, dir: machine.dir });
    expect(restored.ram.fingerprint()).toBe(snapshotRam);
  });

  test('writing after UNFREEZE in restore mode is flagged: the loader would work on freed bitmaps', () => {
    const machine = machineWith();
    const device = machine.openSnapshot('write-only');
    device.write(new Uint8Array(PAGE_SIZE), 10);
    device.freeze();
    device.unfreeze();
    expect(machine.violations).toEqual([]);
    device.write(new Uint8Array(PAGE_SIZE), 10);
    expect(machine.violations).toEqual([expect.stringMatching(/freed bitmaps/)]);
    device.close();
  });

  test('a forged image with no kernel in it: the machine crashes, and the next open boots afresh', () => {
    const machine = machineWith();
    const hibernating = machine.openSnapshot('read-only');
    const stream = takeImage(hibernating);
    hibernating.close();
    const firstPfn = decodeMetadataPage(stream.subarray(PAGE_SIZE, 2 * PAGE_SIZE))[0]!.pfn;
    const header = stream.slice(0, PAGE_SIZE);
    new DataView(header.buffer).setBigUint64(416, 1n, true);
    new DataView(header.buffer).setBigUint64(424, 3n, true);
    const restoring = machine.openSnapshot('write-only');
    restoring.write(header);
    restoring.write(encodeMetadataPage([{ pfn: firstPfn, zero: false }]));
    restoring.write(new Uint8Array(PAGE_SIZE).fill(1));
    restoring.freeze();
    expect(() => restoring.atomicRestore()).toThrow(BootEnded);
    expect(machine.bootLog).toEqual([expect.stringMatching(/crashed/)]);
    const next = openEmulatedMachine(machine.dir);
    machines.push({ machine: next, dir: machine.dir });
    expect(next.bootNumber).toBe(2);
  });
});

describe('block devices (writes to active swap, docs/snapshot-device.md §2.3)', () => {
  test('an active swap partition refuses writes (ETXTBSY) unless /dev/snapshot selected it; reads always work', () => {
    const machine = machineWith();
    const disk = machine.backend.openBlockDevice('/dev/vda', { write: true, direct: true });
    const page = disk.allocAligned(PAGE_SIZE);
    expect(disk.readSync(page, 0)).toBe(PAGE_SIZE);
    expect(code(() => disk.writeSync(page, PAGE_SIZE))).toBe('ETXTBSY');
    const device = machine.openSnapshot('read-only');
    device.setSwapArea(machine.backend.system.deviceNumber('/dev/vda'), 0);
    expect(disk.writeSync(page, PAGE_SIZE)).toBe(PAGE_SIZE);
    device.close();
    expect(code(() => disk.writeSync(page, PAGE_SIZE))).toBe('ETXTBSY');
    expect(code(() => disk.writeSync(page.subarray(0, 100), 0))).toBe('EINVAL');
    disk.close();
  });

  test('the disk holding a swap file is written freely; asynchronous I/O is refused while user space is frozen', async () => {
    const machine = machineWith({ disks: [{ device: '/dev/vdb', sizeBytes: 16 * MIB }], swaps: [{ type: 'file', path: '/swapfile', device: '/dev/vdb', offsetPages: 100, sizeBytes: 4 * MIB }] });
    const disk = machine.backend.openBlockDevice('/dev/vdb', { write: true });
    const page = disk.allocAligned(PAGE_SIZE);
    expect(await disk.write(page, 0)).toBe(PAGE_SIZE);
    const device = machine.openSnapshot('read-only');
    device.freeze();
    await expect(disk.read(page, 0)).rejects.toThrow(SnapshotError);
    expect(disk.writeSync(page, 16 * MIB - PAGE_SIZE)).toBe(PAGE_SIZE);
    expect(code(() => disk.writeSync(page, 16 * MIB))).toBe('ENOSPC');
    device.close();
    disk.close();
  });
});

describe('kernel profiles by release', () => {
  test.each([
    ['5.15.0-91-generic', { partialWriteFix: false, zeroPages: false, drainOnFinalize: false, enodataIfNotLoaded: false }],
    ['6.1.0-37-cloud-amd64', { partialWriteFix: true, zeroPages: false, drainOnFinalize: false, enodataIfNotLoaded: false }],
    ['6.6.0', { partialWriteFix: true, zeroPages: true, drainOnFinalize: false, enodataIfNotLoaded: false }],
    ['7.0.2-arch1', { partialWriteFix: true, zeroPages: true, drainOnFinalize: true, enodataIfNotLoaded: false }],
    ['7.1.0-rc1', { partialWriteFix: true, zeroPages: true, drainOnFinalize: true, enodataIfNotLoaded: true }],
  ])('%s', (release, behaviour) => {
    expect(behaviourOfRelease(release)).toEqual(behaviour);
  });

  test('a string that is no release is refused', () => {
    expect(() => behaviourOfRelease('linux')).toThrow(RangeError);
  });
});

test('a call on a boot that has ended is a caller bug, reported as such', () => {
  const machine = machineWith();
  const device = machine.openSnapshot('read-only');
  machine.shutdown();
  expect(device.isOpen).toBe(false);
  expect(() => machine.openSnapshot('read-only')).toThrow(HiberkitError);
});

function firstPageIn(machine: EmulatedMachine, state: number): number {
  for (const range of machine.map.ranges) for (let pfn = range.start; pfn < range.end; pfn++) if (machine.ram.pageState(pfn) === state) return pfn;
  throw new Error(`no page in state ${state}`);
}
