// What `hiberkit setup` writes into the system and, through the generators, into the initramfs:
// every shell script parses (sh -n / bash -n) and passes shellcheck; each follows its generator's
// interface; and the boot script, run for real with sh against a fake /proc, /sys and /dev, finds
// the resume area by the precedence hiberkit-resume uses, waits, resumes, points the kernel at the
// area, and never fails the boot.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { HOST_PATHS, INITRD_PATHS, renderBootScript } from '../lib/setup/boot-script.js';
import { DRACUT_PATHS, renderDracutModuleSetup, renderDracutPreMountHook } from '../lib/setup/dracut.js';
import { renderInitramfsToolsHook, renderInitramfsToolsPremount } from '../lib/setup/initramfs-tools.js';
import { addHook, removeHook, renderMkinitcpioHook, renderMkinitcpioInstall } from '../lib/setup/mkinitcpio.js';
import { INITRD_UNIT, renderHibernateDropIn, renderInitrdUnit, systemdWord } from '../lib/setup/systemd.js';

const SCRIPTS: [name: string, shell: 'sh' | 'bash', render: () => string][] = [
  ['the boot script', 'sh', renderBootScript],
  ['the initramfs-tools hook', 'sh', renderInitramfsToolsHook],
  ['the initramfs-tools local-premount script', 'sh', renderInitramfsToolsPremount],
  ['the dracut module-setup.sh', 'bash', renderDracutModuleSetup],
  ['the dracut pre-mount hook', 'sh', renderDracutPreMountHook],
  ['the mkinitcpio install hook', 'bash', renderMkinitcpioInstall],
  ['the mkinitcpio runtime hook', 'sh', renderMkinitcpioHook],
];

const dirs: string[] = [];
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hiberkit-setup-files-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('every generated shell script', () => {
  test.each(SCRIPTS)('%s parses and passes shellcheck', (_name, shell, render) => {
    const file = join(scratch(), 'script');
    writeFileSync(file, render());
    const parse = spawnSync(shell, ['-n', file], { encoding: 'utf8' });
    expect(parse.stderr).toBe('');
    expect(parse.status).toBe(0);
    // shellcheck is a Debian package CI installs (vm/debian-packages.txt): a missing one fails here.
    const check = spawnSync('shellcheck', ['--shell', shell, file], { encoding: 'utf8' });
    expect(check.error, 'shellcheck is not installed: apt-get install shellcheck').toBeUndefined();
    expect(check.stdout).toBe('');
    expect(check.status).toBe(0);
  });

  test.each(SCRIPTS)('%s says who wrote it and how to remove it', (_name, _shell, render) => {
    expect(render().split('\n')[1]).toBe('# Written by `hiberkit setup`; `hiberkit setup --undo` removes it.');
  });
});

describe('initramfs-tools', () => {
  test('the hook answers prereqs, then copies the program with its libraries, the boot script, the config, the machine id and the private key', () => {
    const hook = renderInitramfsToolsHook();
    expect(hook).toMatch(/^case \$1 in\nprereqs\)\n\tprereqs\n\texit 0\n/m);
    expect(hook).toContain('. /usr/share/initramfs-tools/hook-functions');
    expect(hook).toContain(`copy_exec ${HOST_PATHS.program} ${INITRD_PATHS.program}\n`);
    expect(hook).toContain(`copy_file script ${HOST_PATHS.bootScript} ${INITRD_PATHS.bootScript}\n`);
    expect(hook).toContain('copy_file config /etc/hiberkit.conf\n');
    expect(hook).toContain('copy_file config /etc/machine-id\n');
    expect(hook).toContain('key=${key:-/etc/hiberkit/key}');
    expect(hook).toContain('\tcopy_file key "$key"\n');
    expect(hook).not.toMatch(/copy_\w+ [^\n]*sign\.key/);
  });

  test('the local-premount script waits with initramfs-tools\' own functions, without get_fstype, and resumes through the boot script', () => {
    const script = renderInitramfsToolsPremount();
    expect(script).toMatch(/^PREREQ=""$/m);
    expect(script).toContain(`target=$(${INITRD_PATHS.bootScript} target)`);
    expect(script).toContain('. /scripts/functions\n');
    expect(script).toContain('. /scripts/local\n');
    expect(script).toContain('wait_for_udev 10');
    expect(script).toContain('until DEV=$(resolve_device "$1"); do');
    expect(script).toContain('local_block "$1"');
    expect(script).toContain('if [ "${ROOTDELAY:-0}" -gt $slumber ]; then');
    expect(script).not.toContain('get_fstype');
    expect(script).not.toContain('panic');
    expect(script).toContain(`${INITRD_PATHS.bootScript} resume "$DEV" "$2"\nexit 0\n`);
  });

  // initramfs-tools orders the scripts of a phase with tsort; without prerequisites, by name.
  test('tsort runs "hiberkit" before initramfs-tools\' own "resume"', () => {
    const sorted = spawnSync('tsort', { input: 'resume resume\nhiberkit hiberkit\n', encoding: 'utf8' });
    expect(sorted.stdout.split('\n').filter(Boolean)).toEqual(['hiberkit', 'resume']);
  });
});

describe('dracut', () => {
  test('module-setup.sh has check(), depends() and install() as dracut calls them', () => {
    const setup = renderDracutModuleSetup();
    expect(setup).toMatch(/^#!\/bin\/bash\n/);
    expect(setup).toMatch(/^check\(\) \{\n\trequire_binaries \S+hiberkit-resume \S+hiberkit-boot \|\| return 1\n\treturn 0\n\}$/m);
    expect(setup).toMatch(/^depends\(\) \{\n(\t#.*\n)*\techo udev-rules\n\treturn 0\n\}$/m);
    expect(setup).toContain(`\tinst_binary ${HOST_PATHS.program} ${INITRD_PATHS.program}\n`);
    expect(setup).toContain(`\tinst_script ${HOST_PATHS.bootScript} ${INITRD_PATHS.bootScript}\n`);
    expect(setup).toContain('\tinst_simple /etc/hiberkit.conf\n');
    expect(setup).toContain('\tinst_simple /etc/machine-id\n');
    expect(setup).toContain('\t\tinst_simple "$key"\n');
    // Sourced by dracut: a refusal returns, it never exits dracut.
    expect(setup).not.toMatch(/\bexit\b/);
  });

  test('with systemd in the initramfs a unit ordered before the root fsck and mount, else a pre-mount hook', () => {
    const setup = renderDracutModuleSetup();
    expect(setup).toContain(`\tif dracut_module_included systemd; then\n\t\tinst_simple "$moddir/${INITRD_UNIT}" "$systemdsystemunitdir/${INITRD_UNIT}"\n\t\t$SYSTEMCTL -q --root "$initdir" add-wants initrd.target ${INITRD_UNIT}\n\telse\n\t\tinst_hook pre-mount 10 "$moddir/hiberkit-pre-mount.sh"\n\tfi\n`);
    expect(DRACUT_PATHS.preMountHook.endsWith('/hiberkit-pre-mount.sh')).toBe(true);
    expect(DRACUT_PATHS.unit.endsWith(`/${INITRD_UNIT}`)).toBe(true);
    // dracut sources hooks: the step runs as a process of its own.
    expect(renderDracutPreMountHook().split('\n').filter((line) => line && !line.startsWith('#'))).toEqual([INITRD_PATHS.bootScript]);
  });
});

describe('the unit of a systemd initramfs', () => {
  const unit = renderInitrdUnit();
  const setting = (name: string) => unit.split('\n').filter((line) => line.startsWith(`${name}=`)).map((line) => line.slice(name.length + 1));

  test('runs the boot script once, after udev, before the root file system is checked or mounted', () => {
    expect(setting('DefaultDependencies')).toEqual(['no']);
    expect(setting('Type')).toEqual(['oneshot']);
    expect(setting('ExecStart')).toEqual([INITRD_PATHS.bootScript]);
    expect(setting('After')[0]!.split(' ')).toEqual(expect.arrayContaining(['systemd-udevd.service', 'systemd-udev-trigger.service']));
    expect(setting('Before')[0]!.split(' ')).toEqual(expect.arrayContaining(['systemd-fsck-root.service', 'sysroot.mount', 'local-fs-pre.target', 'systemd-hibernate-resume.service']));
    expect(setting('ConditionKernelCommandLine')).toEqual(['!noresume']);
    expect(setting('AssertPathExists')).toEqual(['/etc/initrd-release']);
  });

  test('has the console as its terminal, for the passphrase prompt', () => {
    expect(setting('StandardInput')).toEqual(['tty']);
    expect(setting('TTYPath')).toEqual(['/dev/console']);
  });
});

describe('mkinitcpio', () => {
  test('the install hook has build() with add_binary/add_file/add_runscript and help()', () => {
    const install = renderMkinitcpioInstall();
    expect(install).toMatch(/^build\(\) \{$/m);
    expect(install).toMatch(/^help\(\) \{\n\tcat <<HELPEOF\n[^]*\nHELPEOF\n\}$/m);
    expect(install).toContain(`\tadd_binary ${HOST_PATHS.program} ${INITRD_PATHS.program}\n`);
    expect(install).toContain(`\tadd_file ${HOST_PATHS.bootScript} ${INITRD_PATHS.bootScript} 755\n`);
    expect(install).toContain('\tadd_file /etc/hiberkit.conf\n');
    expect(install).toContain('\tadd_file /etc/machine-id\n');
    expect(install).toContain('\t\tadd_file "$key"\n');
    expect(install).toContain('\tadd_runscript\n');
    expect(install).toContain(`\tadd_symlink /usr/lib/systemd/system/initrd.target.wants/${INITRD_UNIT} /usr/lib/systemd/system/${INITRD_UNIT}\n`);
    // build() is sourced by mkinitcpio: a refusal returns.
    expect(install).not.toMatch(/\bexit\b/);
  });

  test('the runtime hook defines run_hook, which runs the boot script as a process', () => {
    expect(renderMkinitcpioHook()).toMatch(/^#!\/usr\/bin\/ash\n[^]*\nrun_hook\(\) \{\n\t\/usr\/lib\/hiberkit\/hiberkit-boot\n\}\n$/);
  });

  test('HOOKS gets hiberkit before filesystems, once, and loses it again', () => {
    const conf = '# vim:set ft=sh\nMODULES=()\n#HOOKS=(base udev)\nHOOKS=(base udev autodetect modconf block encrypt lvm2 filesystems keyboard fsck)\n';
    const added = addHook(conf);
    expect(added).toBe('# vim:set ft=sh\nMODULES=()\n#HOOKS=(base udev)\nHOOKS=(base udev autodetect modconf block encrypt lvm2 hiberkit filesystems keyboard fsck)\n');
    expect(addHook(added)).toBe(added);
    expect(removeHook(added)).toBe(conf);
    expect(removeHook(conf)).toBe(conf);
  });

  test('HOOKS without filesystems gets it last; a file without a one-line HOOKS is refused', () => {
    expect(addHook('HOOKS=(base systemd)  # mine')).toBe('HOOKS=(base systemd hiberkit)  # mine');
    expect(() => addHook('HOOKS=(base\n udev)\n')).toThrow(/no HOOKS=\(…\) line on one line: add hiberkit to HOOKS before filesystems yourself/);
  });
});

describe('the systemd drop-in for systemd-hibernate.service', () => {
  test('clears ExecStart, then runs hiberkit hibernate --systemd with absolute paths', () => {
    const dropIn = renderHibernateDropIn('/usr/bin/node', '/usr/local/lib/node_modules/hiberkit/dist/lib/cli.js');
    expect(dropIn.split('\n').filter((line) => !line.startsWith('#'))).toEqual([
      '[Service]',
      'ExecStart=',
      'ExecStart=/usr/bin/node /usr/local/lib/node_modules/hiberkit/dist/lib/cli.js hibernate --systemd',
      '',
    ]);
  });

  test('quotes what systemd would split or expand', () => {
    expect(systemdWord('/opt/my node/bin/node')).toBe('"/opt/my node/bin/node"');
    expect(systemdWord('/home/a%b/$x')).toBe('"/home/a%%b/$$x"');
    expect(systemdWord('/usr/bin/node')).toBe('/usr/bin/node');
  });
});

/** A fake machine for the boot script: /proc/cmdline, the config, /sys/power, /sys/class/block and a device node. */
interface BootMachine {
  dir: string;
  script: string;
  /** Where the fake hiberkit-resume records its arguments. */
  calls: string;
  power: string;
  device: string;
}

function bootMachine({ cmdline = '', config = '', waitSeconds = 1, programExit = 0 } = {}): BootMachine {
  const dir = scratch();
  const power = join(dir, 'power');
  mkdirSync(power);
  writeFileSync(join(power, 'resume'), '0:0\n');
  writeFileSync(join(power, 'resume_offset'), '0\n');
  mkdirSync(join(dir, 'block', 'vdb2'), { recursive: true });
  writeFileSync(join(dir, 'block', 'vdb2', 'dev'), '254:18\n');
  mkdirSync(join(dir, 'dev'));
  const device = join(dir, 'dev', 'vdb2');
  writeFileSync(device, '');
  writeFileSync(join(dir, 'cmdline'), `${cmdline}\n`);
  writeFileSync(join(dir, 'hiberkit.conf'), config);
  const calls = join(dir, 'calls');
  const program = join(dir, 'hiberkit-resume');
  writeFileSync(program, `#!/bin/sh\necho "$@" >> ${calls}\nexit ${programExit}\n`);
  chmodSync(program, 0o755);
  const script = join(dir, 'hiberkit-boot');
  const settings: Record<string, string> = {
    CONFIG: join(dir, 'hiberkit.conf'),
    PROGRAM: program,
    CMDLINE: join(dir, 'cmdline'),
    POWER: power,
    BLOCK: join(dir, 'block'),
    WAIT_SECONDS: String(waitSeconds),
  };
  let text = renderBootScript();
  for (const [name, value] of Object.entries(settings)) {
    expect(text).toMatch(new RegExp(`^${name}=`, 'm'));
    text = text.replace(new RegExp(`^${name}=.*$`, 'm'), `${name}=${value}`);
  }
  writeFileSync(script, text);
  chmodSync(script, 0o755);
  return { dir, script, calls, power, device };
}

/**
 * The shells an initramfs runs the boot script with: dash (Debian's sh; klibc's sh is a dash) and
 * busybox's ash (dracut without bash, mkinitcpio; busybox-static is in vm/debian-packages.txt).
 */
const SHELLS = [['sh'], ['busybox', 'sh']];

function runBoot(machine: BootMachine, shell: string[], ...args: string[]) {
  const result = spawnSync(shell[0]!, [...shell.slice(1), machine.script, ...args], { encoding: 'utf8' });
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return null;
    }
  };
  return {
    status: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
    calls: read(machine.calls),
    resume: read(join(machine.power, 'resume')),
    offset: read(join(machine.power, 'resume_offset')),
  };
}

describe.each(SHELLS)('the boot script run by %s', (...shell) => {
  const CONFIG = '# hiberkit\nimage-size = 500M\nresume-device   =  UUID=1234-abcd   # the root fs\n\nresume-offset = 34816\ncompress = lz4\n';

  test.each([
    ['the config only', '', CONFIG, 'UUID=1234-abcd 34816\n'],
    ['resume= on the command line wins, with its resume_offset=', 'ro resume=PARTUUID=aa-01 resume_offset=8 quiet', CONFIG, 'PARTUUID=aa-01 8\n'],
    ['resume= on the command line without resume_offset= means page 0', 'resume=/dev/vdb2', CONFIG, '/dev/vdb2 0\n'],
    ['a MAJ:MIN resume= becomes its /dev/block node', 'resume=254:18', '', '/dev/block/254:18 0\n'],
    ['noresume', 'resume=/dev/vdb2 noresume', CONFIG, ''],
    ['words after -- are init\'s, not the kernel\'s', 'ro -- resume=/dev/vdb2 noresume', CONFIG, 'UUID=1234-abcd 34816\n'],
    ['the last resume= counts', 'resume=/dev/vda9 resume=/dev/vdb2', '', '/dev/vdb2 0\n'],
    ['hibernate=noresume', 'hibernate=noresume', CONFIG, ''],
    ['nothing names a device', 'ro quiet', 'compress = none\n', ''],
    ['a config without a final newline', '', 'resume-device = /dev/vdb2', '/dev/vdb2 0\n'],
    ['no config file at all', '', null, ''],
  ])('target: %s', (_what, cmdline, config, expected) => {
    const machine = bootMachine({ cmdline, config: config ?? '' });
    if (config === null) rmSync(join(machine.dir, 'hiberkit.conf'));
    const result = runBoot(machine, shell, 'target');
    expect(result).toMatchObject({ status: 0, stdout: expected, stderr: '' });
  });

  test('resume: runs hiberkit-resume on the device and page, then points the kernel at them, offset first', () => {
    const machine = bootMachine();
    const result = runBoot(machine, shell, 'resume', machine.device, '34816');
    expect(result).toMatchObject({ status: 0, stderr: '', calls: `--resume-device ${machine.device} --resume-offset 34816\n`, resume: '254:18\n', offset: '34816\n' });
  });

  test('resume: a refused image (exit 1) still ends in exit 0 and the kernel pointed at the area', () => {
    const machine = bootMachine({ programExit: 1 });
    const result = runBoot(machine, shell, 'resume', machine.device, '0');
    expect(result).toMatchObject({ status: 0, resume: '254:18\n', offset: '0\n' });
    expect(result.calls).toMatch(/^--resume-device /);
  });

  test('the whole step: waits for the device named in the config, resumes, points the kernel', () => {
    const machine = bootMachine({ config: 'resume-device = DEVICE\nresume-offset = 12\n' });
    writeFileSync(join(machine.dir, 'hiberkit.conf'), `resume-device = ${machine.device}\nresume-offset = 12\n`);
    const result = runBoot(machine, shell);
    expect(result).toMatchObject({ status: 0, stderr: '', calls: `--resume-device ${machine.device} --resume-offset 12\n`, resume: '254:18\n', offset: '12\n' });
  });

  test('the whole step: a device that never comes is given up after the wait, and the boot goes on', () => {
    const machine = bootMachine({ cmdline: `resume=${join(scratch(), 'nothing')}`, waitSeconds: 1 });
    const result = runBoot(machine, shell);
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/^hiberkit: gave up waiting for the resume device \S+nothing; the boot continues without resuming\n$/);
    expect(result).toMatchObject({ calls: null, resume: '0:0\n' });
  });

  test('the whole step: noresume runs nothing and leaves the kernel alone', () => {
    const machine = bootMachine({ cmdline: 'noresume', config: 'resume-device = /dev/vdb2\n' });
    expect(runBoot(machine, shell)).toMatchObject({ status: 0, stderr: '', calls: null, resume: '0:0\n', offset: '0\n' });
  });

  test('an unknown action is said, and still ends in exit 0', () => {
    const result = runBoot(bootMachine(), shell, 'frobnicate');
    expect(result).toMatchObject({ status: 0, stderr: 'hiberkit-boot: unknown action "frobnicate" (expected target or resume)\n' });
  });
});

/**
 * A build-time hook run for real, with its generator's functions stubbed to record their calls:
 * the host paths it copies from point into a scratch directory.
 */
function runBuildHook(shell: 'sh' | 'bash', text: string, { call = '', config = '', files = ['program', 'boot', 'key'] as string[] } = {}) {
  const dir = scratch();
  const calls = join(dir, 'calls');
  const host = join(dir, 'host');
  mkdirSync(join(host, 'hiberkit'), { recursive: true });
  const paths: Record<string, string> = { program: join(host, 'hiberkit', 'hiberkit-resume'), boot: join(host, 'hiberkit', 'hiberkit-boot'), key: join(dir, 'key') };
  for (const name of files) {
    writeFileSync(paths[name]!, '');
    chmodSync(paths[name]!, 0o755);
  }
  writeFileSync(join(dir, 'hiberkit.conf'), config.replaceAll('KEYDIR', dir));
  const stubs = ['copy_exec', 'copy_file', 'inst_binary', 'inst_script', 'inst_simple', 'inst_multiple', 'inst_hook', 'add_binary', 'add_file', 'add_runscript', 'add_symlink', 'require_binaries', 'dracut_module_included', 'SYSTEMCTL']
    .map((name) => `${name}() { echo "${name} $*" >> ${calls}; ${name === 'dracut_module_included' ? '[ "$WITH_SYSTEMD" = yes ]' : 'return 0'}; }`)
    .join('\n');
  const script = text
    .replaceAll(HOST_PATHS.program, paths.program!)
    .replaceAll(HOST_PATHS.bootScript, paths.boot!)
    .replaceAll(INITRD_PATHS.defaultSecretKey, paths.key!)
    .replaceAll(`secret-key ${INITRD_PATHS.config}`, `secret-key ${join(dir, 'hiberkit.conf')}`)
    .replace('. /usr/share/initramfs-tools/hook-functions', stubs)
    .replace('\t$SYSTEMCTL ', '\tSYSTEMCTL ');
  const file = join(dir, 'hook');
  writeFileSync(file, shell === 'bash' ? `${script}\n${stubs}\nmoddir=/moddir initdir=/initdir systemdsystemunitdir=/usr/lib/systemd/system\n${call}\n` : script);
  const result = spawnSync(shell, [file], { encoding: 'utf8', env: { ...process.env, WITH_SYSTEMD: call.includes('systemd') ? 'yes' : 'no' } });
  const recorded = (() => {
    try {
      return readFileSync(calls, 'utf8').replaceAll(dir, 'DIR').split('\n').filter(Boolean).map((line) => line.trimEnd());
    } catch {
      return [];
    }
  })();
  return { status: result.status, stderr: result.stderr.replaceAll(dir, 'DIR'), calls: recorded };
}

describe('the build-time hooks, run with their generator\'s functions stubbed', () => {
  test('initramfs-tools: copies the program (copy_exec), the boot script, the config, the machine id and the default private key', () => {
    const result = runBuildHook('sh', renderInitramfsToolsHook());
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.calls).toEqual([
      `copy_exec DIR/host/hiberkit/hiberkit-resume ${INITRD_PATHS.program}`,
      `copy_file script DIR/host/hiberkit/hiberkit-boot ${INITRD_PATHS.bootScript}`,
      'copy_file config /etc/hiberkit.conf',
      'copy_file config /etc/machine-id',
      'copy_file key DIR/key',
    ]);
  });

  test('initramfs-tools: the key the config names; none when there is no key file', () => {
    const named = runBuildHook('sh', renderInitramfsToolsHook(), { config: 'secret-key = KEYDIR/key   # mine\n' });
    expect(named.calls.at(-1)).toBe('copy_file key DIR/key');
    const none = runBuildHook('sh', renderInitramfsToolsHook(), { files: ['program', 'boot'] });
    expect(none.status).toBe(0);
    expect(none.calls.some((call) => call.startsWith('copy_file key'))).toBe(false);
  });

  test('initramfs-tools: the signing key is refused, and so is a missing program: the build fails with one line', () => {
    const signing = runBuildHook('sh', renderInitramfsToolsHook(), { config: 'secret-key = KEYDIR/sign.key\n' });
    expect(signing.status).toBe(1);
    expect(signing.stderr).toBe('E: hiberkit: secret-key names DIR/sign.key, the key that signs images: it must never be in the initramfs; name the private key (hiberkit keygen writes it as key)\n');
    const missing = runBuildHook('sh', renderInitramfsToolsHook(), { files: ['boot'] });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toBe('E: hiberkit: DIR/host/hiberkit/hiberkit-resume is missing: run `hiberkit setup` again (or `hiberkit setup --undo`)\n');
    expect(missing.calls).toEqual([]);
  });

  test('dracut install(): a pre-mount hook without systemd, the unit wanted by initrd.target with it', () => {
    const common = [
      `inst_binary DIR/host/hiberkit/hiberkit-resume ${INITRD_PATHS.program}`,
      `inst_script DIR/host/hiberkit/hiberkit-boot ${INITRD_PATHS.bootScript}`,
      'inst_multiple cat readlink sleep',
      'inst_simple /etc/hiberkit.conf',
      'inst_simple /etc/machine-id',
      'inst_simple DIR/key',
    ];
    const plain = runBuildHook('bash', renderDracutModuleSetup(), { call: 'install' });
    expect(plain).toMatchObject({ status: 0, stderr: '' });
    expect(plain.calls).toEqual([...common, 'dracut_module_included systemd', 'inst_hook pre-mount 10 /moddir/hiberkit-pre-mount.sh']);
    const systemd = runBuildHook('bash', renderDracutModuleSetup(), { call: 'install # systemd' });
    expect(systemd.calls).toEqual([
      ...common,
      'dracut_module_included systemd',
      `inst_simple /moddir/${INITRD_UNIT} /usr/lib/systemd/system/${INITRD_UNIT}`,
      `SYSTEMCTL -q --root /initdir add-wants initrd.target ${INITRD_UNIT}`,
    ]);
  });

  test('dracut install() refuses the signing key by returning 1, which dracut reports (it never exits dracut)', () => {
    const result = runBuildHook('bash', renderDracutModuleSetup(), { call: 'install; echo "install returned $?" >&2', config: 'secret-key = KEYDIR/sign.key\n' });
    expect(result.status).toBe(0);
    expect(result.stderr).toMatch(/^E: hiberkit: secret-key names DIR\/sign\.key, [^\n]*\ninstall returned 1\n$/);
    expect(result.calls.some((call) => call.startsWith('inst_simple DIR/sign.key'))).toBe(false);
  });

  test('dracut check() and depends()', () => {
    const result = runBuildHook('bash', renderDracutModuleSetup(), { call: 'check; echo "check $?" >&2; depends' });
    expect(result.stderr).toBe('check 0\n');
    expect(result.calls).toEqual(['require_binaries DIR/host/hiberkit/hiberkit-resume DIR/host/hiberkit/hiberkit-boot']);
  });

  test('mkinitcpio build(): the program with its libraries, the files, the runscript and the unit for a systemd image', () => {
    const result = runBuildHook('bash', renderMkinitcpioInstall(), { call: 'build' });
    expect(result).toMatchObject({ status: 0, stderr: '' });
    expect(result.calls).toEqual([
      `add_binary DIR/host/hiberkit/hiberkit-resume ${INITRD_PATHS.program}`,
      `add_file DIR/host/hiberkit/hiberkit-boot ${INITRD_PATHS.bootScript} 755`,
      'add_file /etc/hiberkit.conf',
      'add_file /etc/machine-id',
      'add_file DIR/key',
      'add_runscript',
      `add_file DIR/host/hiberkit/${INITRD_UNIT} /usr/lib/systemd/system/${INITRD_UNIT} 644`,
      `add_symlink /usr/lib/systemd/system/initrd.target.wants/${INITRD_UNIT} /usr/lib/systemd/system/${INITRD_UNIT}`,
    ]);
  });

  test('mkinitcpio help() describes the hook', () => {
    const result = spawnSync('bash', ['-c', `${renderMkinitcpioInstall()}\nhelp`], { encoding: 'utf8' });
    expect(result.stdout).toMatch(/^Resumes a hiberkit hibernation image before the root file system is mounted/);
    expect(result.stdout).toContain('`hiberkit setup` adds it; `hiberkit setup --undo` removes it.');
  });
});
