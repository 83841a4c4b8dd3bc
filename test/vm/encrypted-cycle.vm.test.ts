/**
 * Encrypted hiberkit CLI cycles in the QEMU VM (guest/scenarios/cycle-encrypted.sh), one machine:
 *
 *   boot 1  hibernate --encrypt passphrase
 *   boot 2  resume with a wrong passphrase, --on-bad-passphrase keep: refused, the image stays
 *   boot 3  resume with the right passphrase: the session continues; it makes a key pair
 *           (hiberkit keygen) and hibernates again with --encrypt public-key
 *   boot 4  resume with --secret-key through hiberkit-resume, the native program: the session
 *           continues again
 *
 * and, on a copy of boot 1's disk whose chunk data the host altered with every CRC recomputed (as
 * a deliberate attacker would), a resume that only the image's authentication can refuse; then
 * one boot with two attacks of issue #10 on copies of the disk after boot 4: an image forged with
 * only the public key (IMAGE_FORGED), and boot 3's image re-marked after boot 4 resumed it (its
 * header was destroyed by the resume: refused), each also on a copy refused by hiberkit-resume,
 * with the same reason and byte-identical disks. Both refused before anything is uploaded, and
 * the boot goes on normally.
 * The state checks after each resume are those of cycle.vm.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, test } from 'vitest';

import { decodeMarker, pageContentCrc } from '../../lib/image/format.js';
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
  readDiskPage,
  refusalReason,
  report,
  resumePageOf,
  SWAP_MB,
  type RefusedReport,
  type StateReport,
  writeDiskPage,
  writeForgedImage,
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
  /** Copies of the swap disk after boot 4, attacked by the host. */
  let forged: string;
  let replayed: string;
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

  test('a cycle encrypted to a public key (hiberkit keygen) resumes with --secret-key through hiberkit-resume', async () => {
    // Boot 3's session went on to make the key pair and hibernate again, encrypted to it.
    expectHibernated(third, 2);
    expect(hiberkitLines(third)).toContain('hiberkit: image encrypted (public-key, AES-256-GCM, signed)');
    expect(locateImage(swap).header.encrypted).toBe(true);
    // The attacker copies the marked resume page of image 2 (one page, all of it public).
    const marked = readDiskPage(swap, 0);
    const { headerPage, headerCrc32c } = decodeMarker(marked);
    const identity = { ...locateImage(swap).header, platformMode: false };
    const fourth = await boot(4, 'public-key');
    expectResumed(fourth, 2, before, '/dev/vda');
    expect(fourth.scenarioExit, describeBoot(fourth)).toBe(0);
    expect(resumePageOf(swap)).toEqual({ kind: 'swap', signature: 'SWAPSPACE2' });
    expect(hiberkitLines(fourth).some((line) => /^hiberkit-resume: image made \S+Z by kernel .*, authenticated$/.test(line)), describeBoot(fourth)).toBe(true);
    // The native resume destroyed image 2's header before restoring: re-marking cannot revive it.
    expect(pageContentCrc(readDiskPage(swap, headerPage))).not.toBe(headerCrc32c);
    replayed = copyDisk(swap, 'cycle-encrypted-replayed.img');
    writeDiskPage(replayed, 0, marked);
    forged = copyDisk(swap, 'cycle-encrypted-forged.img');
    const publicKeyText = execFileSync('tar', ['-xOf', keys, 'cycle-keys/key.pub'], { encoding: 'utf8' });
    writeForgedImage(forged, publicKeyText, identity);
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

  test('an image forged with the public key alone, and a resumed image re-marked, are refused at boot; the boot goes on', async () => {
    const native = { forged: copyDisk(forged, 'cycle-encrypted-forged-native.img'), replayed: copyDisk(replayed, 'cycle-encrypted-replayed-native.img') };
    const attacks = await bootCycleVm({
      scenario: 'cycle-refused',
      disks: [{ path: forged }, { path: replayed }, { path: keys }, { path: native.forged }, { path: native.replayed }],
      cmdline: [
        'hk.devices=/dev/vda:public-key,/dev/vdb:public-key,/dev/vdd:public-key,/dev/vde:public-key',
        'hk.native=/dev/vdd,/dev/vde',
        'hk.keys=/dev/vdc',
        `hk.pass=${PASSPHRASE}`,
      ],
    });
    const forgery = expectRefused(attacks, 'vda');
    expect(forgery).toContain('carries no origin signature');
    const replay = expectRefused(attacks, 'vdb');
    expect(replay).toContain('not the one the marker was written for');
    // hiberkit-resume refuses each for the same reason, leaving the same bytes.
    for (const [message, name, disk, nativeDisk] of [
      [forgery, 'vdd', forged, native.forged],
      [replay, 'vde', replayed, native.replayed],
    ] as const) {
      const nativeMessage = expectRefused(attacks, name);
      expect(nativeMessage).toMatch(/^hiberkit-resume: IMAGE_(FORGED|CORRUPT): /);
      expect(refusalReason(nativeMessage).replace(/\/dev\/vd[a-e]/g, 'DEV')).toBe(refusalReason(message).replace(/\/dev\/vd[a-e]/g, 'DEV'));
      execFileSync('cmp', ['--silent', disk, nativeDisk]);
    }
    expect(hiberkitLines(attacks).some((line) => line.includes('loaded and verified')), describeBoot(attacks)).toBe(false);
    console.log(`forged image: ${forgery}\nreplayed image: ${replay}`);
  });
});
