/**
 * Full hibernate/resume cycles of the `hiberkit` command in the QEMU VM (Debian kernel, native
 * backend), the way a user runs it: `hiberkit hibernate` in one boot, `hiberkit resume` from the
 * initramfs of the next. After every resume three things must hold (guest/scenarios/cycle-common.sh):
 * the `hiberkit hibernate` process itself continued, printed `resumed` and exited 0; a tmpfs file
 * kept its SHA-256; a separate process kept a value it holds in memory only.
 *
 * Boots are shared where the scenario allows: the swap partition's first boot also checks
 * `hiberkit resume` with no image, and copies of its hibernated disk, damaged on the host, are
 * refused by both resume implementations (`hiberkit resume` and hiberkit-resume, each on its own
 * copy), which must give the same reason and leave the same bytes. The swap file cycle resumes
 * through hiberkit-resume, as an initramfs would.
 */
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, test } from 'vitest';

import {
  bootCycleVm,
  copyDisk,
  corruptChunkPayload,
  corruptHeader,
  cycleTimes,
  expectHibernated,
  expectRefused,
  expectResumed,
  formatTimes,
  hiberkitLines,
  locateImage,
  refusalReason,
  report,
  reports,
  resumePageOf,
  SWAP_MB,
  truncateImage,
  type StateReport,
} from './cycle-support.js';
import { createDisk, describeBoot, stampsOf, type BootResult } from '../../vm/vm.js';

describe('hiberkit CLI on a swap partition (/dev/vda)', () => {
  let swap: string;
  let first: BootResult;
  let before: StateReport;
  /** Copies of the hibernated disk, damaged by the host before the refusal boots: a pair of each, one per implementation. */
  let damaged: { chunk: string; header: string; truncated: string; chunkIndex: number };
  let native: { chunk: string; header: string; truncated: string };

  beforeAll(async () => {
    swap = createDisk('cycle-partition.img', SWAP_MB);
    first = await bootCycleVm({ scenario: 'cycle-partition', boot: 1, disks: [{ path: swap }] });
    expectHibernated(first, 1);
    before = report<StateReport>(first, 'before', 1);
    // Taken before boot 2, whose restore invalidates the image on the original.
    const chunk = copyDisk(swap, 'cycle-damaged-chunk.img');
    const header = copyDisk(swap, 'cycle-damaged-header.img');
    const truncated = copyDisk(swap, 'cycle-damaged-truncated.img');
    const { chunk: chunkIndex } = corruptChunkPayload(chunk, 0, { fixChecksums: false });
    corruptHeader(header, 0);
    truncateImage(truncated, 0);
    damaged = { chunk, header, truncated, chunkIndex };
    native = {
      chunk: copyDisk(chunk, 'cycle-damaged-chunk-native.img'),
      header: copyDisk(header, 'cycle-damaged-header-native.img'),
      truncated: copyDisk(truncated, 'cycle-damaged-truncated-native.img'),
    };
  });

  test('resume with no image: exit 0 at once with "no hibernation image", and the boot continues', () => {
    const noImage = reports<{ phase: 'no-image'; how: string; status: number; signature: string }>(first, 'no-image');
    expect(noImage.map((r) => [r.how, r.status, r.signature])).toEqual([
      ['device', 0, 'SWAPSPACE2'],
      ['none', 0, 'SWAPSPACE2'],
    ]);
    const lines = hiberkitLines(first);
    expect(lines).toContain('hiberkit: no hibernation image on /dev/vda; the boot continues');
    expect(lines.some((l) => l.startsWith('hiberkit: no hibernation image: no resume device configured'))).toBe(true);
    const stamps = stampsOf(first.lines);
    const duration = (name: string): number => stamps.get(`${name}-returned`)! - stamps.get(name)!;
    const cliStart = duration('cli-start');
    const seconds = ['no-image-device', 'no-image-none'].map(duration);
    console.log(`resume with no image: ${seconds.map((s) => `${s.toFixed(2)} s`).join(', ')}; hiberkit --help ${cliStart.toFixed(2)} s`);
    // Starting node and the CLI is nearly all of it (a slow host slows both alike); loading an image takes many seconds.
    for (const s of seconds) expect(s).toBeLessThan(cliStart * 1.5 + 1);
    // The boot went on to the hibernation.
    expect(before.holder).not.toBe('none');
  });

  test('boot 1 hibernates (platform), boot 2 resumes with --resume-device /dev/vda: the session continues intact', async () => {
    expect(hiberkitLines(first)).toContain('hiberkit: swap /dev/vda on /dev/vda (header page 0), power-off: platform');
    expect(resumePageOf(swap).kind, 'the image is marked on the disk boot 1 left').toBe('hiberkit');
    const second = await bootCycleVm({ scenario: 'cycle-partition', boot: 2, disks: [{ path: swap }] });
    expectResumed(second, 1, before, '/dev/vda');
    expect(second.scenarioExit, describeBoot(second)).toBe(0);
    expect(resumePageOf(swap)).toEqual({ kind: 'swap', signature: 'SWAPSPACE2' });
    console.log(formatTimes('partition cycle', cycleTimes(first, second, 1)));
  });

  describe('a damaged or truncated image is refused (a damaged chunk part way through the upload) by both implementations alike; swap is usable and the boot goes on', () => {
    let chunkRefusal: BootResult;
    let nativeChunkRefusal: BootResult;
    let refusal: BootResult;

    beforeAll(async () => {
      [chunkRefusal, nativeChunkRefusal, refusal] = await Promise.all([
        // Chunks go to /dev/snapshot as they pass their checks, and the kernel checks the image's
        // header page against this machine first: these boots have the very disks of the hibernating
        // one, since the firmware's memory map (which the kernel compares) depends on them.
        bootCycleVm({ scenario: 'cycle-refused', disks: [{ path: damaged.chunk }], cmdline: ['hk.devices=/dev/vda'] }),
        bootCycleVm({ scenario: 'cycle-refused', disks: [{ path: native.chunk }], cmdline: ['hk.devices=/dev/vda', 'hk.native=/dev/vda'] }),
        // Refused before anything is uploaded: the other disks do not matter.
        bootCycleVm({
          scenario: 'cycle-refused',
          disks: [{ path: damaged.header }, { path: damaged.truncated }, { path: native.header }, { path: native.truncated }],
          cmdline: ['hk.devices=/dev/vda,/dev/vdb,/dev/vdc,/dev/vdd', 'hk.native=/dev/vdc,/dev/vdd'],
        }),
      ]);
    });

    /** Both refusals give the same reason, and the two copies of the disk end byte-identical. */
    function expectSameRefusal(message: string, nativeMessage: string, disk: string, nativeDisk: string): void {
      expect(nativeMessage).toMatch(/^hiberkit-resume: [A-Z_]+: the image on \/dev\/vd[a-d] was not restored: /);
      expect(refusalReason(nativeMessage).replace(/\/dev\/vd[a-d]/g, 'DEV')).toBe(refusalReason(message).replace(/\/dev\/vd[a-d]/g, 'DEV'));
      // cmp exits 0 only for identical files.
      execFileSync('cmp', ['--silent', disk, nativeDisk]);
    }

    test('a byte flipped inside the chunk data', () => {
      const message = expectRefused(chunkRefusal, 'vda');
      expect(message).toContain(`chunk ${damaged.chunkIndex} `);
      expect(message).toContain('fails its payload CRC');
      expect(resumePageOf(damaged.chunk).signature).toBe('SWAPSPACE2');
      expectSameRefusal(message, expectRefused(nativeChunkRefusal, 'vda'), damaged.chunk, native.chunk);
      console.log(`damaged chunk: ${message}`);
    });

    test('a byte flipped in the image header', () => {
      const message = expectRefused(refusal, 'vda');
      expect(message).toMatch(/header/);
      expect(resumePageOf(damaged.header).signature).toBe('SWAPSPACE2');
      expectSameRefusal(message, expectRefused(refusal, 'vdc'), damaged.header, native.header);
      console.log(`damaged header: ${message}`);
    });

    test('a device cut short in the middle of the image', () => {
      // Its swap header promises more pages than the device has, so the kernel's swapon refuses it.
      const message = expectRefused(refusal, 'vdb', { swapon: false });
      expect(message).toMatch(/past the end|cut short/);
      expect(resumePageOf(damaged.truncated).signature).toBe('SWAPSPACE2');
      expectSameRefusal(message, expectRefused(refusal, 'vdd', { swapon: false }), damaged.truncated, native.truncated);
      console.log(`truncated image: ${message}`);
    });
  });
});

describe('hiberkit CLI on a swap file on ext4 (/dev/vdb)', () => {
  test('boot 2 resumes through hiberkit-resume from the kernel command line (resume=/dev/vdb resume_offset=N) without mounting the filesystem', async () => {
    const blank = createDisk('cycle-swapfile-blank.img', 16);
    const filesystem = createDisk('cycle-swapfile-ext4.img', 1024);
    const disks = [{ path: blank }, { path: filesystem }];
    const first = await bootCycleVm({ scenario: 'cycle-swapfile', boot: 1, disks });
    expectHibernated(first, 1);
    const { offset, signature } = report<{ phase: 'swap-file'; offset: number; signature: string }>(first, 'swap-file');
    expect(offset, describeBoot(first)).toBeGreaterThan(0);
    expect(signature).toBe('SWAPSPACE2');
    // hibernate chose the swap file by itself, at the offset swap-offset printed, and the default power-off.
    expect(hiberkitLines(first)).toContain(`hiberkit: swap /mnt/swapfs/swapfile on /dev/vdb (header page ${offset}), power-off: platform`);
    expect(resumePageOf(filesystem, offset).kind).toBe('hiberkit');
    expect(locateImage(filesystem, offset).header.platformMode).toBe(true);
    expect(resumePageOf(blank).signature, 'the blank disk is untouched').toBe('');

    const second = await bootCycleVm({
      scenario: 'cycle-swapfile',
      boot: 2,
      disks,
      cmdline: ['resume=/dev/vdb', `resume_offset=${offset}`],
    });
    const resumeBoot = report<{ phase: 'resume-boot'; vdbMounts: number }>(second, 'resume-boot');
    expect(resumeBoot.vdbMounts).toBe(0);
    expect(hiberkitLines(second)).toContain('hiberkit-resume: image found on /dev/vdb; loading it');
    expectResumed(second, 1, report<StateReport>(first, 'before', 1), '/dev/vdb');
    expect(report(second, 'swap-file-after')).toMatchObject({ signature: 'SWAPSPACE2', swapCycle: true, filesystem: 'still-writable' });
    expect(second.scenarioExit, describeBoot(second)).toBe(0);
    console.log(formatTimes(`swap file cycle (offset ${offset})`, cycleTimes(first, second, 1)));
  });
});

describe('three hiberkit CLI cycles in a row on one machine', () => {
  test('platform, then shutdown without compression, then reboot with image-size 0 from a config file', async () => {
    const swap = createDisk('cycle-three.img', SWAP_MB);
    const options = { scenario: 'cycle-three', disks: [{ path: swap }] };
    const boots = [await bootCycleVm({ ...options, boot: 1 })];
    const before = report<StateReport>(boots[0]!, 'before', 1);
    const powerOffs = ['platform', 'shutdown', 'reboot'];
    for (let cycle = 1; cycle <= 3; cycle++) {
      const hibernating = boots[cycle - 1]!;
      expectHibernated(hibernating, cycle);
      expect(hiberkitLines(hibernating)).toContain(`hiberkit: swap /dev/vda on /dev/vda (header page 0), power-off: ${powerOffs[cycle - 1]}`);
      const resuming = await bootCycleVm({ ...options, boot: cycle + 1 });
      boots.push(resuming);
      expectResumed(resuming, cycle, before, '/dev/vda');
      console.log(formatTimes(`three cycles, cycle ${cycle} (${powerOffs[cycle - 1]})`, cycleTimes(hibernating, resuming, cycle)));
    }
    expect(boots[3]!.scenarioExit, describeBoot(boots[3]!)).toBe(0);
    expect(resumePageOf(swap)).toEqual({ kind: 'swap', signature: 'SWAPSPACE2' });
  });
});
