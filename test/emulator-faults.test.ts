// Fault injection on the emulated machine, and how the emulated critical section recovers: every
// failure before the power-off leaves the machine thawed, the device closed, the swap pages given
// back and the on-disk image invalidated (docs/snapshot-device.md §8.1 step 10) — or says loudly that it could not be.
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, test, vi } from 'vitest';
import type { HibernateOutcome, HibernatePlan } from '../lib/backend.js';
import { PAGE_SIZE } from '../lib/ioctls.js';
import { resume } from '../lib/resume.js';
import type { MachineConfigInput } from '../emulator/config.js';
import type { FaultPlan } from '../emulator/faults.js';
import { createEmulatedMachine } from '../emulator/create.js';
import { openEmulatedMachine, type EmulatedMachine } from '../emulator/machine.js';
import { SWAP_SIGNATURE, parseSwapHeader } from '../lib/swap-header.js';

const MIB = 1 << 20;
const quiet = openSync('/dev/null', 'w');
afterAll(() => closeSync(quiet));

const dirs: string[] = [];
const opened: EmulatedMachine[] = [];
afterEach(() => {
  for (const machine of opened.splice(0)) if (machine.status === 'running') machine.shutdown();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function machineWith(faults: FaultPlan, config: MachineConfigInput = {}): EmulatedMachine {
  const dir = mkdtempSync(join(tmpdir(), 'hiberkit-faults-'));
  dirs.push(dir);
  createEmulatedMachine(dir, { config: { memoryBytes: 32 * MIB, ...config } });
  const machine = openEmulatedMachine(dir, { faults });
  opened.push(machine);
  return machine;
}

/** Runs the emulated critical section's hibernation on /dev/vda. */
async function hibernateOn(machine: EmulatedMachine, powerOff: HibernatePlan['powerOff'] = 'platform'): Promise<HibernateOutcome> {
  const { backend } = machine;
  const storage = backend.openBlockDevice('/dev/vda', { write: true, direct: true });
  const original = storage.allocAligned(PAGE_SIZE);
  storage.readSync(original, 0);
  const device = backend.openSnapshot('hibernate');
  device.setSwapArea(backend.system.deviceNumber('/dev/vda'), 0);
  try {
    return await backend.criticalSection.hibernate({
      device,
      storage,
      resumePage: 0,
      originalResumePage: original,
      header: { kernelRelease: backend.system.kernelRelease(), machineId: backend.system.machineId(), createdAtMs: 0, platformMode: powerOff === 'platform' },
      compression: 'lz4',
      chunkPages: 32,
      powerOff,
      progressFd: quiet,
    });
  } finally {
    storage.close();
  }
}

/** After a failed hibernation the machine must be exactly as usable as before. */
function expectRecovered(machine: EmulatedMachine, freeSwapBefore: number): void {
  expect(machine.status).toBe('running');
  expect(machine.kernel.freezer.userSpaceFrozen).toBe(false);
  expect(machine.kernel.freezer.kernelThreadsFrozen).toBe(false);
  expect(machine.kernel.openDevice).toBeNull();
  const header = parseSwapHeader(machine.disks.readPage(machine.disks.byDevice('/dev/vda')!, 0));
  expect(header.signature).toBe(SWAP_SIGNATURE);
  const [area] = machine.backend.system.swapAreas();
  expect(area!.sizeBytes - area!.usedBytes).toBe(freeSwapBefore);
  expect(machine.violations).toEqual([]);
}

function freeSwap(machine: EmulatedMachine): number {
  const [area] = machine.backend.system.swapAreas();
  return area!.sizeBytes - area!.usedBytes;
}

describe('faults before the image exists', () => {
  test('a PM notifier vetoes the open: its errno, and the device stays free', () => {
    const machine = machineWith({ notifierVeto: 16 });
    expect(() => machine.openSnapshot('read-only')).toThrow(expect.objectContaining({ code: 'EBUSY', syscall: 'open' }));
    machine.faults.plan.notifierVeto = undefined;
    machine.openSnapshot('write-only').close();
  });

  test('FREEZE refused (EBUSY): failed at "freeze", nothing frozen', async () => {
    const machine = machineWith({ freezeBusy: true });
    const before = freeSwap(machine);
    expect(await hibernateOn(machine)).toMatchObject({ kind: 'failed', stage: 'freeze', error: { code: 'EBUSY', ioctl: 'SNAPSHOT_FREEZE' } });
    expectRecovered(machine, before);
  });

  test('CREATE_IMAGE ENOMEM once: the critical section frees, asks for the smallest image, retries, and restores image_size after the resume', async () => {
    const machine = machineWith({ createImageEnomemOnce: true });
    const imageSize = machine.kernel.vars.imageSize;
    const outcome = hibernateOn(machine);
    await vi.waitFor(() => expect(machine.status).toBe('off'));
    const next = openEmulatedMachine(machine.dir);
    opened.push(next);
    await resume({ backend: next.backend });
    await expect(outcome).resolves.toEqual({ kind: 'resumed' });
    expect(machine.kernel.vars.imageSize).toBe(imageSize);
    expect(machine.state.readPower()).toMatchObject({ vars: { imageSize } });
  });

  test('a wakeup event skips the snapshot yet CREATE_IMAGE stores 0: the critical section tears down as after a resume', async () => {
    const machine = machineWith({ wakeupDuringSnapshotOnce: true });
    const before = freeSwap(machine);
    expect(await hibernateOn(machine)).toEqual({ kind: 'resumed' });
    expect(machine.sessions()).toEqual({});
    expectRecovered(machine, before);
  });

  test('CREATE_IMAGE ENOMEM for good (memory pressure): failed at "create-image", image_size put back', async () => {
    const machine = machineWith({}, { usage: { anon: 0.7, cache: 0.1 } });
    const before = freeSwap(machine);
    const imageSize = machine.kernel.vars.imageSize;
    expect(await hibernateOn(machine)).toMatchObject({ kind: 'failed', stage: 'create-image', error: { code: 'ENOMEM' } });
    expect(machine.kernel.vars.imageSize).toBe(imageSize);
    expectRecovered(machine, before);
  });
});

describe('faults once the image exists', () => {
  test('the Nth block write fails (EIO): failed at "write-image", image invalidated, swap pages back', async () => {
    const machine = machineWith({ failBlockWrite: 3 });
    const before = freeSwap(machine);
    expect(await hibernateOn(machine)).toMatchObject({ kind: 'failed', stage: 'write-image', error: { code: 'EIO', syscall: 'pwrite' } });
    expectRecovered(machine, before);
  });

  test('the swap runs out (ENOSPC from ALLOC_SWAP_PAGE): failed at "write-image"', async () => {
    const machine = machineWith({ swapPagesBeforeEnospc: 100 });
    const before = freeSwap(machine);
    expect(await hibernateOn(machine)).toMatchObject({ kind: 'failed', stage: 'write-image', error: { code: 'ENOSPC', ioctl: 'SNAPSHOT_ALLOC_SWAP_PAGE' } });
    expectRecovered(machine, before);
  });

  test('POWER_OFF comes back (EAGAIN, a wakeup event): failed at "power-off", image invalidated', async () => {
    const machine = machineWith({ powerOffReturns: true });
    const before = freeSwap(machine);
    expect(await hibernateOn(machine)).toMatchObject({ kind: 'failed', stage: 'power-off', error: { code: 'EAGAIN', ioctl: 'SNAPSHOT_POWER_OFF' } });
    expectRecovered(machine, before);
  });

  test('reboot(2) returns: failed at "power-off"', async () => {
    const machine = machineWith({ powerOffReturns: true });
    const before = freeSwap(machine);
    expect(await hibernateOn(machine, 'shutdown')).toMatchObject({ kind: 'failed', stage: 'power-off', error: { code: 'POWER_OFF_RETURNED' } });
    expectRecovered(machine, before);
  });

  test('no ACPI S4: POWER_OFF in platform mode is ENOSYS, failed at "power-off"', async () => {
    const machine = machineWith({}, { platformS4: false });
    const before = freeSwap(machine);
    expect(await hibernateOn(machine)).toMatchObject({ kind: 'failed', stage: 'power-off', error: { code: 'ENOSYS' } });
    expectRecovered(machine, before);
  });

  test('flushes fail: the image cannot even be invalidated, and the error says so (the one dangerous case)', async () => {
    const machine = machineWith({ flushFails: true });
    const outcome = await hibernateOn(machine);
    expect(outcome).toMatchObject({ kind: 'failed', stage: 'write-image', error: { code: 'IMAGE_NOT_INVALIDATED' } });
    expect(outcome.kind === 'failed' && (outcome.error.cause as { code?: string }).code).toBe('EIO');
    // Thawed and closed all the same.
    expect(machine.kernel.freezer.userSpaceFrozen).toBe(false);
    expect(machine.kernel.openDevice).toBeNull();
  });
});

test('the fault plan can change while the machine runs, and the write counter counts every block write', () => {
  const machine = machineWith({}, { disks: [{ device: '/dev/vdb', sizeBytes: MIB }] });
  expect(() => machine.backend.openBlockDevice('/dev/vdc')).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'open', path: '/dev/vdc' }));
  const disk = machine.backend.openBlockDevice('/dev/vdb', { write: true });
  machine.faults.plan.failBlockWrite = 2;
  const page = disk.allocAligned(PAGE_SIZE);
  expect(disk.writeSync(page, 0)).toBe(PAGE_SIZE);
  expect(() => disk.writeSync(page, 0)).toThrow(expect.objectContaining({ code: 'EIO' }));
  expect(disk.writeSync(page, 0)).toBe(PAGE_SIZE);
  disk.close();
});
