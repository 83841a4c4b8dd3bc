// `hiberkit setup` on fake system facts, in a temporary root, with a command runner that records
// instead of running: the plan (which area, which settings, which files, which commands, what the
// user is told), the install and its undo (exactly what was installed goes, the user's own settings
// stay), idempotence (a second setup changes and runs nothing), and refusals.
import { existsSync, mkdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { HiberkitError } from '../lib/errors.js';
import { loadConfig } from '../lib/config.js';
import { HOST_PATHS } from '../lib/setup/boot-script.js';
import { DRACUT_PATHS } from '../lib/setup/dracut.js';
import { liveStableName, type SetupFacts } from '../lib/setup/facts.js';
import { INITRAMFS_TOOLS_PATHS } from '../lib/setup/initramfs-tools.js';
import { applySetup, MANIFEST_PATH, undoSetup } from '../lib/setup/install.js';
import { MKINITCPIO_PATHS } from '../lib/setup/mkinitcpio.js';
import { planSetup } from '../lib/setup/plan.js';
import { SYSTEMD_PATHS } from '../lib/setup/systemd.js';
import { describePlan, runSetup, runUndo } from '../lib/setup/command.js';
import { fakeFacts, GIB, makeRoot, read, recordingRunner, tree } from './setup-support.js';

test('stable names from udev\'s links: a partition by PARTUUID, else its /dev/mapper name; a swap file\'s file system by UUID; else the node', () => {
  const dev = join(makeRoot(), 'dev');
  for (const dir of ['disk/by-uuid', 'disk/by-partuuid', 'mapper']) mkdirSync(join(dev, dir), { recursive: true });
  for (const node of ['vda1', 'vdb2', 'vdc', 'dm-0']) writeFileSync(join(dev, node), '');
  symlinkSync('../../vda1', join(dev, 'disk/by-uuid/1111-2222'));
  symlinkSync('../../vda1', join(dev, 'disk/by-partuuid/aaaa-01'));
  symlinkSync('../../vdb2', join(dev, 'disk/by-uuid/swap-uuid-gone-with-an-image'));
  symlinkSync('../../vdb2', join(dev, 'disk/by-partuuid/aaaa-02'));
  symlinkSync('../dm-0', join(dev, 'mapper/vg-swap'));
  expect(liveStableName(join(dev, 'vda1'), 'file', dev)).toBe('UUID=1111-2222');
  expect(liveStableName(join(dev, 'vdb2'), 'partition', dev)).toBe('PARTUUID=aaaa-02');
  expect(liveStableName(join(dev, 'dm-0'), 'partition', dev)).toBe('/dev/mapper/vg-swap');
  expect(liveStableName(join(dev, 'vdc'), 'partition', dev)).toBe(join(dev, 'vdc'));
});

describe('the plan', () => {
  test('takes the active swap area with the most room, by a stable name, with initramfs-tools and systemd', () => {
    const root = makeRoot();
    const plan = planSetup(fakeFacts(root), {});
    expect(plan.target).toEqual({ name: 'UUID=1111-2222', offsetPages: 34816, blockDevice: '/dev/vda1', swapPath: '/swapfile', sizeBytes: 2 * GIB });
    expect(plan.config).toEqual({ 'resume-device': 'UUID=1111-2222', 'resume-offset': '34816' });
    expect(plan.generator).toBe('initramfs-tools');
    expect(plan.files.map((file) => file.path)).toEqual([HOST_PATHS.program, HOST_PATHS.bootScript, INITRAMFS_TOOLS_PATHS.hook, INITRAMFS_TOOLS_PATHS.premount, SYSTEMD_PATHS.hibernateDropIn]);
    expect(plan.files[0]!.content.toString()).toBe('\x7fELF the program');
    expect(plan.commands).toEqual([['update-initramfs', '-u', '-k', 'all'], ['systemctl', 'daemon-reload']]);
    expect(plan.kernelResume).toEqual({ device: '254:1', offsetPages: 34816 });
    expect(plan.mkinitcpioHook).toBe(false);
    expect(plan.notes).toContain('`systemctl hibernate` now goes through hiberkit; hybrid-sleep and suspend-then-hibernate keep the kernel\'s own hibernation');
  });

  test('a swap partition given by name: its PARTUUID, no offset (one left from a swap file goes), and a warning that it is smaller than RAM', () => {
    const plan = planSetup(fakeFacts(makeRoot()), { resumeDevice: '/dev/vdb2', compress: 'none', encrypt: 'passphrase' });
    expect(plan.config).toEqual({ 'resume-device': 'PARTUUID=abcd-02', 'resume-offset': null, compress: 'none', encrypt: 'passphrase' });
    expect(plan.kernelResume).toEqual({ device: '254:18', offsetPages: 0 });
    expect(plan.notes[0]).toBe(
      "/dev/vdb2 (512 MiB) is smaller than this machine's RAM (1024 MiB): hibernation works while the image fits (compressed, and at most the kernel's image_size), and refuses before anything is frozen when it cannot; more swap makes it certain",
    );
  });

  test('lockdown, another generator installed, no systemd: said, and no drop-in', () => {
    const plan = planSetup(fakeFacts(makeRoot(), { lockdown: 'integrity', generators: ['dracut', 'mkinitcpio'], systemd: false }), {});
    expect(plan.notes).toEqual(
      expect.arrayContaining([
        'kernel lockdown (integrity, usually Secure Boot) forbids hibernation: nothing hibernates until Secure Boot or lockdown is turned off',
        'dracut is used for the initramfs (mkinitcpio also installed: run setup again after switching)',
        'systemd is not running: hibernate with `hiberkit hibernate`',
      ]),
    );
    expect(plan.files.map((file) => file.path)).toEqual([HOST_PATHS.program, HOST_PATHS.bootScript, DRACUT_PATHS.moduleSetup, DRACUT_PATHS.preMountHook, DRACUT_PATHS.unit]);
    expect(plan.commands).toEqual([['dracut', '--regenerate-all', '--force']]);
  });

  test('mkinitcpio: its hooks, the unit, HOOKS edited, mkinitcpio -P', () => {
    const plan = planSetup(fakeFacts(makeRoot(), { generators: ['mkinitcpio'] }), {});
    expect(plan.files.map((file) => file.path)).toEqual([HOST_PATHS.program, HOST_PATHS.bootScript, MKINITCPIO_PATHS.install, MKINITCPIO_PATHS.hook, MKINITCPIO_PATHS.unit, SYSTEMD_PATHS.hibernateDropIn]);
    expect(plan.mkinitcpioHook).toBe(true);
    expect(plan.commands[0]).toEqual(['mkinitcpio', '-P']);
  });

  test.each([
    ['not root', { isPrivileged: false }, {}, 'NOT_ROOT', /^setup changes the initramfs and \/etc: run it as root$/],
    ['no initramfs generator', { generators: [] }, {}, 'NO_INITRAMFS_GENERATOR', /^no initramfs generator found \(looked for update-initramfs, dracut, mkinitcpio\)/],
    ['a device that is not active swap', {}, { resumeDevice: '/dev/vda1' }, 'NOT_ACTIVE_SWAP', /^\/dev\/vda1 is not an active swap area/],
    ['an unknown device', {}, { resumeDevice: 'UUID=nope' }, 'DEVICE_NOT_FOUND', /^no block device has UUID=nope$/],
    ['an offset on a swap partition', {}, { resumeDevice: '/dev/vdb2', resumeOffset: 8 }, 'RESUME_OFFSET_ON_PARTITION', /^\/dev\/vdb2 is a swap partition/],
    ['no swap', { system: { swapAreas: () => [], resolveBlockDevice: (s: string) => s, memoryBytes: () => GIB } }, {}, 'NO_SWAP', /^no active swap/],
  ] as const)('refused: %s', (_what, facts, settings, code, message) => {
    const root = makeRoot();
    let caught: unknown;
    try {
      planSetup(fakeFacts(root, facts as Partial<SetupFacts>), settings);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(HiberkitError);
    expect((caught as HiberkitError).code).toBe(code);
    expect((caught as HiberkitError).message).toMatch(message);
  });
});

describe('install and undo', () => {
  const USER_CONFIG = '# my settings\nimage-size = 500M\nresume-offset = 34816   # my swap file\npower-off = shutdown\n';

  test('installs the files, keeps the user\'s settings, records it all; a second setup changes and runs nothing; undo puts everything back', () => {
    const root = makeRoot();
    writeFileSync(join(root, 'etc/hiberkit.conf'), USER_CONFIG);
    const facts = fakeFacts(root);
    const runner = recordingRunner();

    const first = applySetup(planSetup(facts, loadConfig(join(root, 'etc/hiberkit.conf'))), facts, runner);
    expect(first.changes).toEqual([
      'set resume-device = UUID=1111-2222 in /etc/hiberkit.conf',
      `wrote ${HOST_PATHS.program}`,
      `wrote ${HOST_PATHS.bootScript}`,
      `wrote ${INITRAMFS_TOOLS_PATHS.hook}`,
      `wrote ${INITRAMFS_TOOLS_PATHS.premount}`,
      `wrote ${SYSTEMD_PATHS.hibernateDropIn}`,
      `recorded what setup installed in ${MANIFEST_PATH}`,
      'set /sys/power/resume to 254:1 (offset 34816) for this boot',
    ]);
    expect(runner.calls).toEqual(['update-initramfs -u -k all', 'systemctl daemon-reload']);
    expect(read(root, '/etc/hiberkit.conf')).toBe(`${USER_CONFIG}resume-device = UUID=1111-2222\n`);
    expect(loadConfig(join(root, 'etc/hiberkit.conf'))).toEqual({ imageSize: 500 << 20, resumeOffset: 34816, powerOff: 'shutdown', resumeDevice: 'UUID=1111-2222' });
    expect(statSync(join(root, HOST_PATHS.program)).mode & 0o777).toBe(0o755);
    expect(statSync(join(root, INITRAMFS_TOOLS_PATHS.premount)).mode & 0o777).toBe(0o755);
    expect(statSync(join(root, SYSTEMD_PATHS.hibernateDropIn)).mode & 0o777).toBe(0o644);
    expect(read(root, SYSTEMD_PATHS.hibernateDropIn)).toContain('ExecStart=/usr/bin/node /usr/local/lib/node_modules/hiberkit/dist/lib/cli.js hibernate --systemd\n');
    expect(read(root, '/sys/power/resume')).toBe('254:1\n');
    expect(read(root, '/sys/power/resume_offset')).toBe('34816\n');

    const second = applySetup(planSetup(facts, loadConfig(join(root, 'etc/hiberkit.conf'))), facts, runner);
    expect(second.changes).toEqual([]);
    expect(runner.calls).toHaveLength(2);

    const undone = undoSetup(root, runner);
    expect(undone.changes).toEqual([
      `removed ${HOST_PATHS.program}`,
      `removed ${HOST_PATHS.bootScript}`,
      `removed ${INITRAMFS_TOOLS_PATHS.hook}`,
      `removed ${INITRAMFS_TOOLS_PATHS.premount}`,
      `removed ${SYSTEMD_PATHS.hibernateDropIn}`,
      'put back resume-device in /etc/hiberkit.conf as it was',
    ]);
    expect(runner.calls).toEqual(['update-initramfs -u -k all', 'systemctl daemon-reload', 'update-initramfs -u -k all', 'systemctl daemon-reload']);
    expect(read(root, '/etc/hiberkit.conf')).toBe(USER_CONFIG);
    // Nothing of setup's is left, not even the directories it made.
    expect(tree(root)).toEqual(['/etc/hiberkit.conf']);
    expect(existsSync(join(root, 'usr'))).toBe(false);
    expect(existsSync(join(root, 'var'))).toBe(false);

    expect(undoSetup(root, runner).changes).toEqual([]);
    expect(runner.calls).toHaveLength(4);
  });

  test('a config file setup created goes with undo; a setting changed again by setup keeps its value from before the first setup', () => {
    const root = makeRoot();
    const facts = fakeFacts(root);
    const runner = recordingRunner();
    applySetup(planSetup(facts, {}), facts, runner);
    expect(read(root, '/etc/hiberkit.conf')).toBe('resume-device = UUID=1111-2222\nresume-offset = 34816\n');
    // The user moves hibernation to the partition: setup again, with a compress setting.
    const again = applySetup(planSetup(facts, { resumeDevice: '/dev/vdb2', compress: 'none' }), facts, runner);
    expect(again.changes[0]).toBe('set resume-device = PARTUUID=abcd-02, no resume-offset, compress = none in /etc/hiberkit.conf');
    expect(read(root, '/etc/hiberkit.conf')).toBe('resume-device = PARTUUID=abcd-02\ncompress = none\n');
    undoSetup(root, runner);
    expect(tree(root)).toEqual([]);
  });

  test('mkinitcpio: HOOKS gets hiberkit and loses it on undo', () => {
    const root = makeRoot();
    const conf = 'MODULES=()\nHOOKS=(base udev autodetect block filesystems fsck)\n';
    writeFileSync(join(root, 'etc/mkinitcpio.conf'), conf);
    const facts = fakeFacts(root, { generators: ['mkinitcpio'] });
    const runner = recordingRunner();
    const { changes } = applySetup(planSetup(facts, {}), facts, runner);
    expect(changes).toContain(`added hiberkit to HOOKS in ${MKINITCPIO_PATHS.config}`);
    expect(read(root, '/etc/mkinitcpio.conf')).toBe('MODULES=()\nHOOKS=(base udev autodetect block hiberkit filesystems fsck)\n');
    expect(runner.calls).toEqual(['mkinitcpio -P', 'systemctl daemon-reload']);
    expect(undoSetup(root, runner).changes).toContain(`removed hiberkit from HOOKS in ${MKINITCPIO_PATHS.config}`);
    expect(read(root, '/etc/mkinitcpio.conf')).toBe(conf);
    expect(tree(root)).toEqual(['/etc/mkinitcpio.conf']);
  });

  test('a new hiberkit-resume (after an upgrade) is installed again and the initramfs regenerated', () => {
    const root = makeRoot();
    const facts = fakeFacts(root);
    const runner = recordingRunner();
    applySetup(planSetup(facts, {}), facts, runner);
    writeFileSync(facts.resumeProgram, '\x7fELF a newer program');
    expect(applySetup(planSetup(facts, {}), facts, runner).changes).toEqual([`wrote ${HOST_PATHS.program}`, `recorded what setup installed in ${MANIFEST_PATH}`]);
    expect(read(root, HOST_PATHS.program)).toBe('\x7fELF a newer program');
    expect(runner.calls).toHaveLength(4);
  });

  test('a config file that does not parse is refused before anything is written', () => {
    const root = makeRoot();
    writeFileSync(join(root, 'etc/hiberkit.conf'), 'compress = zstd\n');
    const facts = fakeFacts(root);
    expect(() => applySetup(planSetup(facts, {}), facts, recordingRunner())).toThrow(/hiberkit\.conf:1: "zstd" is not one of lz4, none/);
    expect(tree(root)).toEqual(['/etc/hiberkit.conf']);
  });

  test('a failed regeneration says which command and its last line; undo still works', () => {
    const root = makeRoot();
    const facts = fakeFacts(root);
    const runner = recordingRunner({ argv0: 'update-initramfs', output: 'update-initramfs: Generating /boot/initrd.img-6.12.0\nE: /etc/initramfs-tools/hooks/hiberkit failed with return 1.\n' });
    expect(() => applySetup(planSetup(facts, {}), facts, runner)).toThrow(/^`update-initramfs -u -k all` failed \(exit 1\): E: \/etc\/initramfs-tools\/hooks\/hiberkit failed with return 1\.$/);
    expect(existsSync(join(root, MANIFEST_PATH))).toBe(true);
    expect(() => undoSetup(root, runner)).toThrow(/failed/);
    expect(tree(root)).toEqual([]);
  });

  test('a /sys/power/resume that cannot be written is said, and the rest of setup stands', () => {
    const root = makeRoot();
    rmSync(join(root, 'sys/power/resume'));
    mkdirSync(join(root, 'sys/power/resume'));
    const facts = fakeFacts(root);
    const { changes } = applySetup(planSetup(facts, {}), facts, recordingRunner());
    expect(changes.at(-1)).toMatch(/^could not set \/sys\/power\/resume for this boot \(.*EISDIR.*\): the initramfs sets it from the next boot on$/);
    expect(existsSync(join(root, MANIFEST_PATH))).toBe(true);
  });

  test('setup for another generator than the one installed for is refused until undone', () => {
    const root = makeRoot();
    const runner = recordingRunner();
    applySetup(planSetup(fakeFacts(root), {}), fakeFacts(root), runner);
    const dracut = fakeFacts(root, { generators: ['dracut'] });
    expect(() => applySetup(planSetup(dracut, {}), dracut, runner)).toThrow(/^setup was done for initramfs-tools, and this system now uses dracut: run `hiberkit setup --undo` first/);
  });
});

describe('what setup and setup --undo say', () => {
  test('the plan shown before asking', () => {
    const root = makeRoot();
    expect(describePlan(planSetup(fakeFacts(root, { generators: ['mkinitcpio'] }), {}))).toBe(
      [
        'hiberkit setup will:',
        '  - resume from /swapfile (2048 MiB): UUID=1111-2222 at page 34816',
        '  - set resume-device = UUID=1111-2222, resume-offset = 34816 in /etc/hiberkit.conf (other settings stay)',
        `  - install for mkinitcpio and systemd: ${HOST_PATHS.program}, ${HOST_PATHS.bootScript}, ${MKINITCPIO_PATHS.install}, ${MKINITCPIO_PATHS.hook}, ${MKINITCPIO_PATHS.unit}, ${SYSTEMD_PATHS.hibernateDropIn}`,
        '  - add hiberkit to HOOKS in /etc/mkinitcpio.conf, before filesystems',
        '  - run: mkinitcpio -P; systemctl daemon-reload',
        '',
      ].join('\n'),
    );
  });

  test('each change and each note, then "nothing changed" the second time; undo says what it took back', async () => {
    const root = makeRoot();
    const facts = fakeFacts(root);
    const runner = recordingRunner();
    const lines: string[] = [];
    const print = (line: string) => lines.push(line);
    expect(await runSetup({ settings: {}, facts, ask: false, print, runner })).toBe(0);
    expect(lines[0]).toBe('set resume-device = UUID=1111-2222, resume-offset = 34816 in /etc/hiberkit.conf');
    expect(lines.filter((line) => line.startsWith('note: '))).toEqual([
      'note: `systemctl hibernate` now goes through hiberkit; hybrid-sleep and suspend-then-hibernate keep the kernel\'s own hibernation',
      'note: after upgrading hiberkit, run `hiberkit setup` again: the initramfs holds a copy of hiberkit-resume',
    ]);
    lines.length = 0;
    expect(await runSetup({ settings: loadConfig(join(root, 'etc/hiberkit.conf')), facts, ask: false, print, runner })).toBe(0);
    expect(lines[0]).toBe('already set up: nothing changed');
    lines.length = 0;
    expect(await runUndo({ root, privileged: true, ask: false, print, runner })).toBe(0);
    expect(lines.at(-1)).toBe("regenerated the initramfs: hibernation is the kernel's own again");
    lines.length = 0;
    expect(await runUndo({ root, privileged: true, ask: false, print, runner })).toBe(0);
    expect(lines).toEqual(['nothing to undo: hiberkit setup has not installed anything here']);
    await expect(runUndo({ root, privileged: false, ask: false, print, runner })).rejects.toThrow(/^setup --undo changes the initramfs and \/etc: run it as root$/);
  });
});
