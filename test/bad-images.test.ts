// Images that must not be restored: damaged (a byte flipped in the data, the header, the extent
// map or the marker), cut short, made by another kernel or on another machine, or another tool's.
// `resume` refuses each with its own code and a message that says what is wrong, before a single
// byte reaches /dev/snapshot; it puts the swap header back exactly as mkswap wrote it, so swapon
// works and the boot goes on.
import { truncateSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import { hibernate } from '../lib/hibernate.js';
import { inspect } from '../lib/inspect.js';
import { resume } from '../lib/resume.js';
import { KERNEL_PROFILES } from '../emulator/profile.js';
import type { EmulatedMachine } from '../emulator/machine.js';
import { changeMachine, diskPage, flipByte, imageLayout, signatureOf, useMachines } from './flows-support.js';

const machines = useMachines('bad-images');

/** A machine switched off by hiberkit with a valid image on /dev/vda, and the swap header page it had before. */
async function hibernated(): Promise<{ dir: string; first: EmulatedMachine; original: Buffer; pending: Promise<unknown> }> {
  const first = machines.machine();
  const original = diskPage(first);
  const pending = hibernate({ backend: first.backend });
  await first.switchedOff(pending);
  expect(signatureOf(diskPage(first))).toBe('HIBERKIT01');
  return { dir: first.dir, first, original, pending };
}

interface Damage {
  name: string;
  code: string;
  message: RegExp;
  damage: (first: EmulatedMachine, dir: string) => void;
  /** Found while reading the chunk stream, so after the upload to /dev/snapshot began. */
  inStream?: true;
}

const DAMAGES: Damage[] = [
  {
    name: 'a byte flipped in the chunk data',
    code: 'IMAGE_CORRUPT',
    message: /chunk \d+ .*fails its payload CRC/,
    damage: (first) => flipByte(first, imageLayout(first).extents[0]!.startPage + 100, 2000),
    inStream: true,
  },
  {
    name: 'a byte flipped in the image header',
    code: 'IMAGE_CORRUPT',
    message: /image header page is not the one the marker was written for/,
    damage: (first) => flipByte(first, imageLayout(first).headerPage, 20),
  },
  {
    name: 'a byte flipped in the extent map',
    code: 'IMAGE_CORRUPT',
    message: /extent map/,
    damage: (first) => flipByte(first, imageLayout(first).mapPage, 30),
  },
  {
    name: 'a byte flipped in the marker',
    code: 'IMAGE_CORRUPT',
    message: /marker fails its CRC/,
    damage: (first) => flipByte(first, 0, 4050),
  },
  {
    name: 'the image cut short (the disk ends inside its extents)',
    code: 'IMAGE_TRUNCATED',
    message: /returned 0 bytes/,
    damage: (first, dir) => truncateSync(join(dir, 'disks', 'vda.img'), (imageLayout(first).extents[0]!.startPage + 200) * 4096),
  },
  {
    name: 'made by another kernel release (the machine boots 7.0 now)',
    code: 'WRONG_KERNEL',
    message: /made by kernel 6\.17\.0-emulated, this is 7\.0\.0-emulated\. It was discarded/,
    damage: (_first, dir) => changeMachine(dir, (config) => ({ ...config, kernel: KERNEL_PROFILES['7.0'] })),
  },
  {
    name: 'made on another machine (the disk sits in a machine with another id)',
    code: 'WRONG_MACHINE',
    message: /made on machine "[0-9a-f]{32}", this is "0{32}"/,
    damage: (_first, dir) => changeMachine(dir, (config) => ({ ...config, machineId: '0'.repeat(32) })),
  },
];

describe('resume refuses a damaged or foreign-made hiberkit image', () => {
  test.each(DAMAGES)('$name: $code', async ({ code, message, damage, inStream }) => {
    const { dir, first, original, pending } = await hibernated();
    damage(first, dir);

    const second = machines.boot(dir);
    expect(second.phase).toBe('early');
    const openSnapshot = vi.spyOn(second.backend, 'openSnapshot');
    const refusal = resume({ backend: second.backend });
    await expect(refusal).rejects.toMatchObject({ name: 'HiberkitError', code, message: expect.stringMatching(message) });
    await expect(refusal).rejects.toThrow(/was not restored: .*It was discarded and the swap signature put back; the boot continues normally/);

    // Damage outside the chunk stream is refused before /dev/snapshot is opened; damage inside it
    // stops the upload part way. Either way the device is closed again, so the kernel holds no
    // part of the image, and this boot is still the one running.
    expect(openSnapshot).toHaveBeenCalledTimes(inStream ? 1 : 0);
    expect(second.kernel.openDevice).toBeNull();
    expect(second.status).toBe('running');
    // The swap header is mkswap's again, byte for byte: swapon takes the area.
    expect(diskPage(second).equals(original)).toBe(true);
    expect(await inspect({ backend: second.backend })).toMatchObject({ present: false });
    second.finishBoot();
    expect(second.backend.system.swapAreas()).toEqual([expect.objectContaining({ path: '/dev/vda', usedBytes: 0 })]);
    expect(second.bootLog).toEqual([]);
    // The refused image was discarded: the hibernated session is gone, and the process that made it learns so.
    await expect(pending).rejects.toMatchObject({ code: 'SESSION_LOST', message: expect.stringMatching(/not resumed from this image \(its image was discarded\)/) });
  });

  test('inspect reports the damage without changing anything', async () => {
    const { dir, first, pending } = await hibernated();
    flipByte(first, imageLayout(first).extents[0]!.startPage + 100, 2000);
    const second = machines.boot(dir);
    const marked = diskPage(second);
    expect(await inspect({ backend: second.backend })).toMatchObject({
      present: true,
      valid: false,
      problem: { code: 'IMAGE_CORRUPT', message: expect.stringMatching(/payload CRC/) },
    });
    expect(diskPage(second).equals(marked)).toBe(true);
    second.finishBoot();
    await expect(pending).rejects.toMatchObject({ code: 'SESSION_LOST', message: expect.stringMatching(/booted past its initramfs without resuming it/) });
  });
});

describe("another tool's hibernation image is not hiberkit's to touch", () => {
  test.each([
    ['S1SUSPEND', "the kernel's own hibernation"],
    ['ULSUSPEND', 'uswsusp (s2disk)'],
  ])('%s: resume says whose it is and boots on; swapon then rewrites it to SWAPSPACE2', async (signature, owner) => {
    const machine = machines.machine();
    const disk = machine.disks.byDevice('/dev/vda')!;
    const page = diskPage(machine);
    page.write(`${signature}\0`, 4086, 'latin1');
    machine.disks.writePage(disk, 0, page);

    const openSnapshot = vi.spyOn(machine.backend, 'openSnapshot');
    const progress: string[] = [];
    expect(await resume({ backend: machine.backend, onProgress: (m) => progress.push(m) })).toEqual({ status: 'no-image', blockDevice: '/dev/vda' });
    expect(progress).toEqual([expect.stringContaining(`holds an image of ${owner} (signature "${signature}"); hiberkit leaves it alone`)]);
    expect(openSnapshot).not.toHaveBeenCalled();
    expect(signatureOf(diskPage(machine))).toBe(signature);
    expect(await inspect({ backend: machine.backend })).toMatchObject({ present: false, valid: false, problem: { code: 'FOREIGN_SIGNATURE' } });
    await expect(hibernate({ backend: machine.backend })).rejects.toMatchObject({ code: 'FOREIGN_SIGNATURE', message: expect.stringMatching(/will not overwrite it/) });

    machine.shutdown();
    const next = machines.boot(machine.dir);
    expect(signatureOf(diskPage(next))).toBe('SWAPSPACE2');
    expect(next.bootLog).toEqual([`swapon /dev/vda: ${signature} signature found; rewritten to SWAPSPACE2`]);
    expect(next.backend.system.swapAreas()).toHaveLength(1);
  });
});
