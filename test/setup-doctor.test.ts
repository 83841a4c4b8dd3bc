// `hiberkit doctor`'s installation checks, on fake system facts in a temporary root: nothing set
// up is one warning; after setup each check passes, and each way an installation goes stale
// (an initramfs built without the step, an upgraded hiberkit-resume, swap gone or too small, the
// kernel pointed elsewhere, node moved away from the drop-in's path) fails with what to do.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect, test } from 'vitest';
import { checkInstallation, type InstallationContext } from '../lib/setup/doctor.js';
import type { CommandRunner, SetupFacts } from '../lib/setup/facts.js';
import { applySetup } from '../lib/setup/install.js';
import { planSetup } from '../lib/setup/plan.js';
import { fakeFacts, GIB, makeRoot, recordingRunner, SWAP_FILE } from './setup-support.js';

/** lsinitramfs of an image with (or without) the resume step. */
function lister(withStep: boolean): CommandRunner & { calls: string[] } {
  const calls: string[] = [];
  const run = ((argv: readonly string[]) => {
    calls.push(argv.join(' '));
    return { status: 0, output: `usr\nusr/lib/hiberkit\n${withStep ? 'usr/sbin/hiberkit-resume\n' : ''}etc/machine-id\n` };
  }) as CommandRunner & { calls: string[] };
  run.calls = calls;
  return run;
}

function installed(overrides: Partial<SetupFacts> = {}, prepare = (_root: string) => {}): { facts: SetupFacts; context: (changes?: Partial<InstallationContext>) => InstallationContext } {
  const facts = fakeFacts(makeRoot(), overrides);
  prepare(facts.root);
  applySetup(planSetup(facts, {}), facts, recordingRunner());
  for (const path of [facts.nodePath, facts.cliPath]) {
    mkdirSync(join(facts.root, dirname(path)), { recursive: true });
    writeFileSync(join(facts.root, path), '');
  }
  const system = { ...facts.system, memoryInUseBytes: () => GIB / 2, kernelRelease: () => '6.12.48+deb13-cloud-amd64' };
  return { facts, context: (changes = {}) => ({ root: facts.root, system, systemd: true, resumeProgram: facts.resumeProgram, run: lister(true), ...changes }) };
}

const summaries = (findings: ReturnType<typeof checkInstallation>) => findings.map((f) => `${f.ok ? 'ok' : f.warning ? 'warn' : 'FAIL'} ${f.code}: ${f.summary}`);

test('a machine never set up: one warning saying how', () => {
  const root = makeRoot();
  expect(checkInstallation({ root, system: { ...fakeFacts(root).system, memoryInUseBytes: () => 0, kernelRelease: () => '6.12' }, systemd: true, resumeProgram: null, run: lister(false) })).toEqual([
    { code: 'NOT_SET_UP', ok: false, warning: true, summary: 'hiberkit is not set up on this machine', fix: 'run `hiberkit setup`: it puts the resume step into the initramfs and makes `systemctl hibernate` go through hiberkit' },
  ]);
});

test('after setup every check passes, the initramfs listed with the generator\'s own tool', () => {
  const { facts, context } = installed();
  const run = lister(true);
  expect(summaries(checkInstallation(context({ run })))).toEqual([
    'ok INITRAMFS_WITHOUT_RESUME: the initramfs of kernel 6.12.48+deb13-cloud-amd64 (initramfs-tools) holds hiberkit\'s resume step',
    'ok STALE_RESUME_PROGRAM: /usr/local/lib/hiberkit/hiberkit-resume (copied into the initramfs) is this hiberkit\'s hiberkit-resume',
    'ok NOT_ACTIVE_SWAP: /etc/hiberkit.conf names UUID=1111-2222: /swapfile, 2048 MiB free for 512 MiB of memory in use',
    'ok KERNEL_RESUME_ELSEWHERE: /sys/power/resume: 254:1 offset 34816',
    'ok SYSTEMD_NOT_WIRED: `systemctl hibernate` goes through hiberkit',
  ]);
  expect(run.calls).toEqual([`lsinitramfs ${join(facts.root, '/boot/initrd.img-6.12.48+deb13-cloud-amd64')}`]);
});

test('dracut and mkinitcpio images are listed with lsinitrd and lsinitcpio (mkinitcpio\'s fallback image is not booted)', () => {
  const dracut = installed({ generators: ['dracut'] });
  const run = lister(true);
  checkInstallation(dracut.context({ run }));
  expect(run.calls).toEqual(['lsinitrd -k 6.12.48+deb13-cloud-amd64']);

  const mkinitcpio = installed({ generators: ['mkinitcpio'] }, (root) => writeFileSync(join(root, 'etc/mkinitcpio.conf'), 'HOOKS=(base udev filesystems)\n'));
  const boot = join(mkinitcpio.facts.root, 'boot');
  mkdirSync(boot, { recursive: true });
  for (const name of ['initramfs-linux.img', 'initramfs-linux-fallback.img', 'vmlinuz-linux']) writeFileSync(join(boot, name), '');
  const listed = lister(false);
  const [initramfs] = checkInstallation(mkinitcpio.context({ run: listed }));
  expect(listed.calls).toEqual([`lsinitcpio ${join(boot, 'initramfs-linux.img')}`]);
  expect(initramfs).toMatchObject({ ok: false, fix: 'run `mkinitcpio -P` (or `hiberkit setup` again); without it a hibernated session is not resumed at boot' });
});

test('each stale part fails with what to do', () => {
  const { facts, context } = installed();
  writeFileSync(facts.resumeProgram, '\x7fELF an upgraded program');
  writeFileSync(join(facts.root, 'sys/power/resume'), '0:0\n');
  rmSync(join(facts.root, facts.nodePath));
  const findings = checkInstallation(context({ run: lister(false), system: { ...context().system, memoryInUseBytes: () => 5 * GIB } }));
  expect(findings.every((f) => !f.ok && !f.warning)).toBe(true);
  expect(summaries(findings)).toEqual([
    'FAIL INITRAMFS_WITHOUT_RESUME: the initramfs of kernel 6.12.48+deb13-cloud-amd64 (initramfs-tools) lacks hiberkit\'s resume step',
    'FAIL STALE_RESUME_PROGRAM: /usr/local/lib/hiberkit/hiberkit-resume (copied into the initramfs) is not this hiberkit\'s hiberkit-resume',
    'FAIL NOT_ENOUGH_SWAP: /etc/hiberkit.conf names UUID=1111-2222: /swapfile, 2048 MiB free for 5120 MiB of memory in use',
    'FAIL KERNEL_RESUME_ELSEWHERE: /sys/power/resume: 0:0 offset 34816 (the config\'s area is 254:1 offset 34816)',
    'FAIL SYSTEMD_NOT_WIRED: /etc/systemd/system/systemd-hibernate.service.d/hiberkit.conf runs /usr/bin/node /usr/local/lib/node_modules/hiberkit/dist/lib/cli.js hibernate --systemd, which is not there',
  ]);
  expect(findings.map((f) => f.fix)).toEqual([
    'run `update-initramfs -u -k all` (or `hiberkit setup` again); without it a hibernated session is not resumed at boot',
    'run `hiberkit setup` again (after an upgrade the initramfs still holds the old resume program)',
    'add swap (or free memory): the image of the memory in use does not fit',
    'logind refuses `systemctl hibernate` (systemd 255+, without EFI) unless it names the area: reboot (the initramfs sets it), or run `hiberkit setup` again',
    'run `hiberkit setup` again, then `systemctl hibernate` hibernates through hiberkit',
  ]);
});

test('the swap area gone from /proc/swaps', () => {
  const { context } = installed();
  const system = { ...context().system, swapAreas: () => [{ ...SWAP_FILE, offsetPages: 99 }] };
  const area = checkInstallation(context({ system }))[2]!;
  expect(area).toMatchObject({ code: 'NOT_ACTIVE_SWAP', ok: false, fix: 'swapon the area, or run `hiberkit setup` again to pick one' });
  expect(area.summary).toMatch(/^\/dev\/vda1 at page 34816 is not an active swap area/);
});
