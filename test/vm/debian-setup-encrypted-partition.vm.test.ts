/**
 * hiberkit on a real Debian 13 system (vm/debian/) with a swap partition and public-key
 * encryption: `hiberkit keygen`, `hiberkit setup --yes`, `systemctl hibernate`; the next boot's
 * initramfs asks for the private key's passphrase on the serial console (a wrong one first, then
 * the right one) and hiberkit-resume restores the session.
 */
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, test } from 'vitest';
import { TRIXIE } from '../../vm/debian/root.js';
import type { DebianSystem } from '../../vm/debian/system.js';
import { createDisk } from '../../vm/vm.js';
import { report, type StateReport } from './cycle-support.js';
import {
  bootSystem,
  commandStatus,
  expectHibernatedBySystemd,
  expectResumedBySystemd,
  type FactsReport,
  formatSystemTimes,
  hiberkitSavedLines,
  initramfsReport,
  preparedSystem,
  swapReport,
  systemCycleTimes,
  systemDisk,
  TWO_BOOT_TEST_TIMEOUT_MS,
} from './debian-support.js';

const PASSPHRASE = 'debian-vm-passphrase';
const KEY_PROMPT = /Passphrase of the hiberkit private key: $/;

/** A disk with a GPT and one Linux swap partition over all of it (the guest runs mkswap). */
function partitionedDisk(name: string, sizeMB: number): string {
  const disk = createDisk(name, sizeMB);
  execFileSync('sfdisk', ['--quiet', disk], { input: 'label: gpt\n,,S\n' });
  return disk;
}

describe('hiberkit setup on Debian 13 with a swap partition and an encrypted image', () => {
  let system: DebianSystem;
  beforeAll(() => {
    system = preparedSystem(TRIXIE);
  });

  test('keygen and setup; systemctl hibernate; the initramfs asks for the passphrase on the console (wrong, then right) and resumes', async () => {
    const root = systemDisk(system, 'debian-encrypted-partition.img');
    const swap = partitionedDisk('debian-encrypted-partition-swap.img', 768);
    const options = { scenario: 'debian-encrypted-partition', step: 'setup-encrypted-partition', root, disks: [{ path: swap }], cmdline: [`hk.pass=${PASSPHRASE}`] };

    const hibernated = await bootSystem({ ...options, boot: 1 });
    expectHibernatedBySystemd(hibernated, 1);
    expect(commandStatus(hibernated, 'keygen')).toBe(0);
    expect(commandStatus(hibernated, 'setup')).toBe(0);
    const initramfs = initramfsReport(hibernated, 'after-setup');
    expect(initramfs).toMatchObject({ hiberkitResume: 1, key: 1 });
    const facts = report<FactsReport>(hibernated, 'facts');
    expect(facts).toMatchObject({ swaps: '/dev/vdb1', resume: '254:17 0', canHibernate: 'yes' });
    const before = report<StateReport>(hibernated, 'before', 1);

    const resumed = await bootSystem({
      ...options,
      boot: 2,
      consoleInput: [
        { prompt: KEY_PROMPT, text: 'not-the-passphrase\n' },
        { prompt: KEY_PROMPT, text: `${PASSPHRASE}\n` },
      ],
    });
    expect(resumed.log).toMatch(/hiberkit-resume: image found on /);
    // Two prompts: the wrong passphrase was refused and asked again, the right one opened the key.
    expect(resumed.log.match(/Passphrase of the hiberkit private key: /g)?.length).toBe(2);
    expectResumedBySystemd(resumed, 1, before);
    expect(hiberkitSavedLines(resumed), 'systemd-hibernate.service ran hiberkit').toBeGreaterThan(0);
    expect(swapReport(resumed, 'after-resume')).toMatchObject({ signature: 'SWAPSPACE2', swaps: '/dev/vdb1' });
    console.log(`initramfs with hiberkit and its key: ${initramfs.bytes} bytes`);
    console.log(formatSystemTimes('hiberkit cycle (swap partition, encrypted)', systemCycleTimes(hibernated, resumed, 1)));
  }, TWO_BOOT_TEST_TIMEOUT_MS);
});
