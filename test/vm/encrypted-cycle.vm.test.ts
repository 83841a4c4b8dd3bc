/**
 * Encrypted hiberkit CLI cycles in the QEMU VM (guest/scenarios/cycle-encrypted.sh), one machine:
 *
 *   boot 1  hibernate --encrypt passphrase
 *   boot 2  resume with a wrong passphrase, --on-bad-passphrase keep: refused, the image stays
 *   boot 3  resume with the right passphrase: the session continues; it makes a key pair
 *           (hiberkit keygen) and hibernates again with --encrypt public-key
 *   boot 4  resume with --secret-key: the session continues again
 *
 * and, on a copy of boot 1's disk whose chunk data the host altered with every CRC recomputed (as
 * a deliberate attacker would), a resume that only the image's authentication can refuse.
 * The state checks after each resume are those of cycle.vm.test.ts.
 */
import { beforeAll, describe, expect, test } from 'vitest';

import {
  bootCycleVm,
  copyDisk,
  corruptChunkPayload,
  cycleTimes,
  expectHibernated,
  expectRefused,
  expectResumed,
  formatTimes,
  hiberkitLines,
  locateImage,
  report,
  resumePageOf,
  SWAP_MB,
  type RefusedReport,
  type StateReport,
} from './cycle-support.js';
import { createDisk, describeBoot, type BootResult } from '../../vm/vm.js';

const PASSPHRASE = 'correct-horse-battery-staple';

describe('encrypted hiberkit CLI cycles', () => {
  let swap: string;
  let keys: string;
  let first: BootResult;
  /** Resumes boot 1's image, then hibernates again encrypted to a public key. */
  let third: BootResult;
  let before: StateReport;
  let tampered: { disk: string; chunk: number };
  const boot = (number: number, role: string): Promise<BootResult> =>
    bootCycleVm({
      scenario: 'cycle-encrypted',
      boot: number,
      disks: [{ path: swap }, { path: keys }],
      cmdline: [`hk.pass=${PASSPHRASE}`, `hk.role=${role}`],
    });

  beforeAll(async () => {
    swap = createDisk('cycle-encrypted.img', SWAP_MB);
    // Boot 3 keeps the key pair here as a tar archive for boot 4.
    keys = createDisk('cycle-encrypted-keys.img', 4);
    first = await boot(1, 'hibernate');
    expectHibernated(first, 1);
    before = report<StateReport>(first, 'before', 1);
    const disk = copyDisk(swap, 'cycle-encrypted-tampered.img');
    tampered = { disk, chunk: corruptChunkPayload(disk, 0, { fixChecksums: true }).chunk };
  });

  test('the image on disk is encrypted', () => {
    expect(hiberkitLines(first)).toContain('hiberkit: image encrypted (passphrase, AES-256-GCM)');
    expect(locateImage(swap).header.encrypted).toBe(true);
  });

  test('a wrong passphrase is refused; with --on-bad-passphrase keep the image stays and the boot goes on', async () => {
    const wrong = await boot(2, 'wrong');
    expect(wrong.scenarioExit, describeBoot(wrong)).toBe(0);
    const refused = report<RefusedReport>(wrong, 'refused');
    expect(refused.status, describeBoot(wrong)).not.toBe(0);
    // Still marked: util-linux swapon does not know hiberkit's signature and refuses the area.
    expect(refused).toMatchObject({ signature: 'HIBERKIT01', swapon: false });
    expect(resumePageOf(swap).kind).toBe('hiberkit');
    const message = hiberkitLines(wrong).find((line) => line.startsWith('hiberkit: the image on /dev/vda was not restored: '));
    expect(message, describeBoot(wrong)).toContain('wrong passphrase');
    expect(message).toContain('The image is kept');
    console.log(`wrong passphrase: ${message}`);
  });

  test('the right passphrase in a later boot resumes it: the session continues intact', async () => {
    third = await boot(3, 'passphrase');
    expectResumed(third, 1, before, '/dev/vda');
    console.log(formatTimes('passphrase-encrypted cycle', cycleTimes(first, third, 1)));
  });

  test('a cycle encrypted to a public key (hiberkit keygen) resumes with --secret-key', async () => {
    // Boot 3's session went on to make the key pair and hibernate again, encrypted to it.
    expectHibernated(third, 2);
    expect(hiberkitLines(third)).toContain('hiberkit: image encrypted (public-key, AES-256-GCM)');
    expect(locateImage(swap).header.encrypted).toBe(true);
    const fourth = await boot(4, 'public-key');
    expectResumed(fourth, 2, before, '/dev/vda');
    expect(fourth.scenarioExit, describeBoot(fourth)).toBe(0);
    expect(resumePageOf(swap)).toEqual({ kind: 'swap', signature: 'SWAPSPACE2' });
    console.log(formatTimes('public-key-encrypted cycle', cycleTimes(third, fourth, 2)));
  });

  test('an encrypted image altered with its CRCs recomputed is refused by its authentication', async () => {
    // Two disks like the hibernating boots: the kernel checks the image's header page against the
    // firmware's memory map, which depends on them, before hiberkit reaches the altered chunk.
    const refusal = await bootCycleVm({
      scenario: 'cycle-refused',
      disks: [{ path: tampered.disk }, { path: createDisk('cycle-encrypted-blank.img', 4) }],
      cmdline: ['hk.devices=/dev/vda', `hk.pass=${PASSPHRASE}`],
    });
    const message = expectRefused(refusal, 'vda');
    expect(message).toContain(`chunk ${tampered.chunk}`);
    expect(message).not.toMatch(/passphrase|CRC/);
    console.log(`tampered encrypted image: ${message}`);
  });
});
