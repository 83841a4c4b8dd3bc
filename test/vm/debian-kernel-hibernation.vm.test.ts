/**
 * The kernel's own hibernation on a real Debian 13 system (vm/debian/), with no hiberkit
 * involved: `systemctl hibernate` through logind and systemd-sleep, the image written by the
 * kernel to the swap file on the root ext4, restored by Debian's initramfs resume step. It proves
 * the harness (a real systemd boot, the step service, the sleep hooks, the boot loader's part),
 * and is the baseline hiberkit's cycles are compared with.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { TRIXIE } from '../../vm/debian/root.js';
import type { DebianSystem } from '../../vm/debian/system.js';
import { report, type StateReport } from './cycle-support.js';
import {
  bootSystem,
  expectHibernatedBySystemd,
  expectResumedBySystemd,
  type FactsReport,
  formatSystemTimes,
  preparedSystem,
  systemCycleTimes,
  systemDisk,
  TWO_BOOT_TEST_TIMEOUT_MS,
} from './debian-support.js';

describe("the kernel's own hibernation on Debian 13", () => {
  let system: DebianSystem;
  beforeAll(() => {
    system = preparedSystem(TRIXIE);
  });

  test('systemctl hibernate with resume= and resume_offset= of the swap file: the next boot restores the session', async () => {
    const root = systemDisk(system, 'debian-kernel-cycle.img');
    const options = { scenario: 'debian-kernel-cycle', step: 'kernel-cycle', root, cmdline: ['resume=/dev/vda', `resume_offset=${system.swapFileOffset}`] };

    const first = await bootSystem({ ...options, boot: 1 });
    expectHibernatedBySystemd(first, 1);
    const facts = report<FactsReport>(first, 'facts');
    expect(facts.systemd).toMatch(/^257\b/);
    expect(facts.swaps).toBe('/swapfile');
    expect(facts.resume).toBe(`254:0 ${system.swapFileOffset}`);
    expect(facts.canHibernate).toBe('yes');
    const before = report<StateReport>(first, 'before', 1);

    const second = await bootSystem({ ...options, boot: 2 });
    expectResumedBySystemd(second, 1, before);
    expect(second.log).toMatch(/PM: hibernation: resume from hibernation/);
    console.log(formatSystemTimes("kernel's own cycle", systemCycleTimes(first, second, 1)));
  }, TWO_BOOT_TEST_TIMEOUT_MS);
});
