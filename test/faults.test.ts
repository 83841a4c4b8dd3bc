// Failures in the middle of `hibernate`, injected by the emulator where a real machine would
// produce them: the swap runs out, a block write fails at each part of the image, a flush fails,
// FREEZE is refused, CREATE_IMAGE runs out of memory, the power-off comes back. After each the
// machine keeps running, thawed; no image is left and the swap header is mkswap's again; the call
// rejects with a code and a message that says what happened, and the CLI exits with 1.
import { describe, expect, test } from 'vitest';
import type { HibernateOptions } from '../lib/hibernate.js';
import { hibernate } from '../lib/hibernate.js';
import { inspect } from '../lib/inspect.js';
import { resume } from '../lib/resume.js';
import { main } from '../lib/cli.js';
import type { MachineConfigInput } from '../emulator/config.js';
import type { FaultPlan } from '../emulator/faults.js';
import type { EmulatedMachine } from '../emulator/machine.js';
import { SMALL, diskPage, imageLayout, useCliOutput, useMachines } from './flows-support.js';

const machines = useMachines('faults');
const output = useCliOutput();

/** More memory in use than SMALL: the chunk stream needs three batch writes, so there is a middle one. */
const BUSY: MachineConfigInput = { ...SMALL, usage: { anon: 0.35, cache: 0.2, zero: 0.05 } };

/** The block write numbers (1-based, per boot) at which a hibernation of a BUSY machine writes each part of its image. */
interface WritePositions {
  firstChunk: number;
  middleChunk: number;
  extentMap: number;
  header: number;
  marker: number;
}

let positions: Promise<WritePositions> | undefined;
const writePositions = () => (positions ??= findWritePositions());

/** Hibernates a BUSY machine with every block write logged, then tells the writes apart by where they went. */
async function findWritePositions(): Promise<WritePositions> {
  const machine = machines.machine(BUSY);
  const writes: number[] = [];
  const open = machine.backend.openBlockDevice;
  machine.backend.openBlockDevice = (path, options) => {
    const device = open(path, options);
    const write = device.writeSync.bind(device);
    device.writeSync = (buf, position) => {
      writes.push(position / 4096);
      return write(buf, position);
    };
    return device;
  };
  const pending = hibernate({ backend: machine.backend });
  await machine.switchedOff(pending);
  const layout = imageLayout(machine);
  const numberOf = (page: number) => writes.indexOf(page) + 1;
  const chunks = writes.filter((page) => ![0, layout.headerPage, layout.mapPage].includes(page)).map(numberOf);
  await resume({ backend: machines.boot(machine.dir).backend });
  await pending;
  expect(chunks.length).toBeGreaterThanOrEqual(3);
  return {
    firstChunk: chunks[0]!,
    middleChunk: chunks[Math.floor(chunks.length / 2)]!,
    extentMap: numberOf(layout.mapPage),
    header: numberOf(layout.headerPage),
    marker: numberOf(0),
  };
}

interface FaultCase {
  name: string;
  config?: MachineConfigInput;
  faults: FaultPlan | ((at: WritePositions) => FaultPlan);
  options?: Partial<HibernateOptions>;
  code: string;
  message: RegExp;
  /** Also run through the CLI: one case per stage that can fail is enough there. */
  viaCli?: boolean;
}

const FAILED = /The system kept running and was thawed; no image was left on \/dev\/vda and its swap is usable\.$/;

const CASES: FaultCase[] = [
  {
    name: 'the swap runs out while the image is written (ALLOC_SWAP_PAGE: ENOSPC)',
    faults: { swapPagesBeforeEnospc: 1500 },
    code: 'HIBERNATE_FAILED',
    message: /^hibernation failed at stage write-image: SNAPSHOT_ALLOC_SWAP_PAGE failed on \/dev\/snapshot: ENOSPC \(the swap area is full/,
    viaCli: true,
  },
  ...(['firstChunk', 'middleChunk', 'extentMap', 'header', 'marker'] as const).map((part) => ({
    name: `the block write of the ${part} fails (EIO)`,
    config: BUSY,
    faults: (at: WritePositions) => ({ failBlockWrite: at[part] }),
    code: 'HIBERNATE_FAILED',
    message: /^hibernation failed at stage write-image: pwrite failed on \/dev\/vda: EIO \(injected fault: this write failed\)/,
    viaCli: part === 'marker',
  })),
  ...[1, 2, 3].map((n) => ({
    name: `flush ${n} of 3 fails (EIO), then the disk works again`,
    faults: { failFlush: n },
    code: 'HIBERNATE_FAILED',
    message: /^hibernation failed at stage write-image: fdatasync failed on \/dev\/vda: EIO \(injected fault: the flush failed\)/,
  })),
  {
    name: 'FREEZE is refused (EBUSY)',
    faults: { freezeBusy: true },
    code: 'HIBERNATE_FAILED',
    message: /^hibernation failed at stage freeze: SNAPSHOT_FREEZE failed on \/dev\/snapshot: EBUSY \(a task refused to freeze/,
    viaCli: true,
  },
  {
    name: 'a process in uninterruptible sleep refuses to freeze',
    config: { ...SMALL, processes: [{ pid: 1, name: 'init' }, { pid: 733, name: 'nfs-reader', refusesFreeze: true }] },
    faults: {},
    code: 'HIBERNATE_FAILED',
    message: /^hibernation failed at stage freeze: SNAPSHOT_FREEZE failed on \/dev\/snapshot: EBUSY/,
  },
  {
    name: 'CREATE_IMAGE runs out of memory twice (memory pressure: the smaller retry fails too)',
    config: { ...SMALL, usage: { anon: 0.7, cache: 0.1 } },
    faults: {},
    code: 'HIBERNATE_FAILED',
    message: /^hibernation failed at stage create-image: SNAPSHOT_CREATE_IMAGE failed on \/dev\/snapshot: ENOMEM \(not enough free memory/,
    viaCli: true,
  },
  {
    name: 'the platform power-off comes back (POWER_OFF: EAGAIN, a wakeup event)',
    faults: { powerOffReturns: true },
    code: 'HIBERNATE_FAILED',
    message: /^hibernation failed at stage power-off: SNAPSHOT_POWER_OFF failed on \/dev\/snapshot: EAGAIN/,
  },
  {
    name: 'reboot(2) returns without switching off (--power-off shutdown)',
    faults: { powerOffReturns: true },
    options: { powerOff: 'shutdown' },
    code: 'HIBERNATE_FAILED',
    message: /^hibernation failed at stage power-off: reboot\(2\) returned without switching the machine off/,
    viaCli: true,
  },
  {
    name: 'every flush fails: even the invalidation cannot be made durable, and the error says so',
    faults: { flushFails: true },
    code: 'IMAGE_NOT_INVALIDATED',
    message: /fdatasync failed on \/dev\/vda: EIO .*; the image could NOT be invalidated .*put the original swap signature back \(mkswap\) before rebooting$/,
    viaCli: true,
  },
];

async function faultyMachine(fault: FaultCase): Promise<EmulatedMachine> {
  const faults = typeof fault.faults === 'function' ? fault.faults(await writePositions()) : fault.faults;
  return machines.machine(fault.config ?? SMALL, { faults });
}

/** Everything a failed hibernation must leave as it found it. */
async function expectUnharmed(machine: EmulatedMachine, original: Buffer): Promise<void> {
  expect(machine.status).toBe('running');
  expect(machine.kernel.freezer.userSpaceFrozen).toBe(false);
  expect(machine.kernel.freezer.kernelThreadsFrozen).toBe(false);
  expect(machine.kernel.openDevice).toBeNull();
  expect(diskPage(machine).equals(original)).toBe(true);
  expect(await inspect({ backend: machine.backend })).toMatchObject({ present: false });
  expect(machine.backend.system.swapAreas()).toEqual([expect.objectContaining({ path: '/dev/vda', usedBytes: 0 })]);
  expect(machine.violations).toEqual([]);
}

describe('hibernate() when something fails on the way', () => {
  test.each(CASES)('$name: $code', async (fault) => {
    const machine = await faultyMachine(fault);
    const original = diskPage(machine);
    const failure = hibernate({ backend: machine.backend, ...fault.options });
    await expect(failure).rejects.toMatchObject({ name: 'HiberkitError', code: fault.code, message: expect.stringMatching(fault.message) });
    if (fault.code === 'HIBERNATE_FAILED') await expect(failure).rejects.toThrow(FAILED);
    await expectUnharmed(machine, original);
  });

  test('CREATE_IMAGE out of memory once: the retry with the smallest image succeeds, and the resumed machine keeps its image_size', async () => {
    const machine = machines.machine(SMALL, { faults: { createImageEnomemOnce: true } });
    const pending = hibernate({ backend: machine.backend, imageSize: 8 << 20 });
    await machine.switchedOff(pending);
    expect(await resume({ backend: machines.boot(machine.dir).backend })).toMatchObject({ status: 'restored' });
    await expect(pending).resolves.toMatchObject({ resumed: true });
    // hibernate() asked for 8 MiB before the freeze and the retry for 0: the 0 must not outlive the retry.
    expect(machine.kernel.vars.imageSize).toBe(8 << 20);
  });

  test('after a failure the same boot hibernates and resumes normally', async () => {
    const machine = machines.machine(SMALL, { faults: { failFlush: 1 } });
    await expect(hibernate({ backend: machine.backend })).rejects.toMatchObject({ code: 'HIBERNATE_FAILED' });
    const pending = hibernate({ backend: machine.backend });
    await machine.switchedOff(pending);
    expect(await resume({ backend: machines.boot(machine.dir).backend })).toMatchObject({ status: 'restored' });
    await expect(pending).resolves.toMatchObject({ resumed: true });
  });
});

describe('the image size hibernate() asks the kernel for', () => {
  test("its own image_size, as an administrator set it, and left as it is; imageSize replaces it", async () => {
    const tuned = 6 << 20;
    for (const imageSize of [undefined, 7 << 20]) {
      const machine = machines.machine(SMALL);
      machine.kernel.vars.imageSize = tuned;
      const progress: string[] = [];
      const pending = hibernate({ backend: machine.backend, imageSize, onProgress: (m) => progress.push(m) });
      await machine.switchedOff(pending);
      const expected = imageSize ?? tuned;
      expect(progress.some((line) => line.endsWith(`preferred image size ${expected >> 20}.0 MiB`)), progress.join('\n')).toBe(true);
      expect(machine.kernel.vars.imageSize).toBe(expected);
      expect(await resume({ backend: machines.boot(machine.dir).backend })).toMatchObject({ status: 'restored' });
      await expect(pending).resolves.toMatchObject({ resumed: true });
    }
  });
});

describe('the CLI when something fails on the way', () => {
  test.each(CASES.filter((fault) => fault.viaCli))('$name: exit code 1 and the message on stderr', async (fault) => {
    const machine = await faultyMachine(fault);
    const original = diskPage(machine);
    const flags = fault.options?.powerOff ? ['--power-off', fault.options.powerOff] : [];
    expect(await main(['hibernate', '--emulate', machine.dir, ...flags])).toBe(1);
    expect(output.stderr).toMatch(new RegExp(`^hiberkit: ${fault.message.source.replace(/^\^/, '')}`, 'm'));
    expect(output.stdout).not.toMatch(/resumed/);
    await expectUnharmed(machine, original);
  });
});
