// hiberkit-resume's own interface, before any image is judged (test/resume-parity.test.ts judges
// images): its flags and usage errors (exit 2), the config file (BAD_CONFIG, exit 1), where it
// looks for the image (flags, then the kernel command line with noresume, then the config file:
// what lib/target.ts resumeTarget decides for `hiberkit resume`), and the resume offset refused on
// a swap partition. Always with --dry-run or with nothing to resume: the host's /dev/snapshot is real.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { resumeProgramPath } from '../lib/native/resume-program.js';
import { packageVersion } from '../lib/package-info.js';
import { resume } from '../lib/resume.js';
import { hibernate } from '../lib/hibernate.js';
import { useMachines } from './flows-support.js';
import { HOST_LIKE } from './resume-cases.js';

const machines = useMachines('resume-program');
const scratch: string[] = [];
afterEach(() => {
  for (const dir of scratch.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hiberkit-resume-program-'));
  scratch.push(dir);
  return dir;
}

function program(...args: string[]) {
  return spawnSync(resumeProgramPath(), args, { encoding: 'utf8', timeout: 60_000 });
}

/** A file holding `text`, in a new temporary directory. */
function fileWith(name: string, text: string): string {
  const path = join(tempDir(), name);
  writeFileSync(path, text);
  return path;
}

/** A swap partition's disk (a copy of an emulated machine's) holding a good image made with this host's identity. */
async function diskWithImage(): Promise<string> {
  const machine = machines.machine(HOST_LIKE);
  const pending = hibernate({ backend: machine.backend });
  pending.catch(() => {});
  await machine.switchedOff(pending);
  const copy = join(tempDir(), 'vda.img');
  copyFileSync(join(machine.dir, 'disks', 'vda.img'), copy);
  return copy;
}

const EMPTY_CMDLINE = ['--cmdline-file', '/dev/null'];

describe('hiberkit-resume: its flags', () => {
  test('--version and --help print and exit 0', () => {
    expect(program('--version')).toMatchObject({ status: 0, stdout: `hiberkit-resume ${packageVersion()}\n` });
    expect(program('--help')).toMatchObject({ status: 0, stdout: expect.stringMatching(/^usage: hiberkit-resume .*--dry-run/s) });
  });

  test.each([
    [['--frobnicate'], /unknown option --frobnicate/],
    [['--resume-offset', 'twelve'], /--resume-offset: "twelve" is not a page count/],
    [['--on-bad-passphrase', 'maybe'], /--on-bad-passphrase: "maybe" is not one of keep, discard/],
    [['--resume-device'], /--resume-device needs a value/],
    [['--dry-run=yes'], /--dry-run takes no value/],
    [['extra'], /unexpected argument "extra"/],
    [['--config', '/nonexistent/hiberkit.conf'], /--config: \/nonexistent\/hiberkit.conf: no such file or directory \(ENOENT\)/],
  ])('%j is a usage error: one line, the usage, exit 2', (args, message) => {
    const run = program(...args);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr.split('\n')[0]).toMatch(/^hiberkit-resume: /);
    expect(run.stderr).toContain('usage: hiberkit-resume');
  });

  test('a bad config line is BAD_CONFIG with its line number, exit 1', () => {
    const config = fileWith('hiberkit.conf', '# settings\ncompress = lz4\nresume-offset = -3\n');
    const run = program('--config', config, ...EMPTY_CMDLINE);
    expect(run.status).toBe(1);
    expect(run.stderr).toBe(`hiberkit-resume: BAD_CONFIG: ${config}:3: "-3" is not a page count\n`);
  });

  test('a key set twice in the config file is refused, naming both lines', () => {
    const config = fileWith('hiberkit.conf', 'encrypt = none\n\nencrypt = passphrase\n');
    expect(program('--config', config, ...EMPTY_CMDLINE).stderr).toMatch(/BAD_CONFIG: .*:3: "encrypt" is set twice, on lines 1 and 3; keep one/);
  });

  test('nothing names a resume device: exit 0 at once', () => {
    const run = program('--config', '/dev/null', ...EMPTY_CMDLINE);
    expect(run).toMatchObject({ status: 0, stdout: '' });
    expect(run.stderr).toMatch(/no hibernation image: no resume device configured/);
    expect(program('--config', '/dev/null', ...EMPTY_CMDLINE, '--quiet')).toMatchObject({ status: 0, stdout: '', stderr: '' });
  });

  test('a resume device that names nothing is one line and exit 1', () => {
    expect(program('--config', '/dev/null', ...EMPTY_CMDLINE, '--resume-device', 'LABEL=no-such-swap-here', '--dry-run')).toMatchObject({
      status: 1,
      stderr: 'hiberkit-resume: DEVICE_NOT_FOUND: no block device has LABEL=no-such-swap-here\n',
    });
    expect(program('--config', '/dev/null', ...EMPTY_CMDLINE, '--resume-device', 'vda2', '--dry-run').stderr).toMatch(/^hiberkit-resume: BAD_DEVICE_SPEC: /);
  });
});

describe('hiberkit-resume: where it looks for the image', () => {
  test('the flags first, then the kernel command line, then the config file', async () => {
    const disk = await diskWithImage();
    const elsewhere = fileWith('elsewhere.img', '');
    const config = (device: string) => fileWith('hiberkit.conf', `resume-device = ${device}\n`);
    const cmdline = (text: string) => ['--cmdline-file', fileWith('cmdline', `${text}\n`)];
    const found = (run: ReturnType<typeof program>) => run.status === 0 && run.stdout.includes(`image OK: ${disk} holds`);

    expect(found(program('--dry-run', '--config', config(disk), ...EMPTY_CMDLINE))).toBe(true);
    expect(found(program('--dry-run', '--config', config(elsewhere), ...cmdline(`ro resume=${disk} quiet`)))).toBe(true);
    expect(found(program('--dry-run', '--config', config(elsewhere), ...cmdline(`resume=${elsewhere}`), '--resume-device', disk))).toBe(true);
    // resume= after `--` is init's, not the kernel's.
    expect(found(program('--dry-run', '--config', config(disk), ...cmdline(`-- resume=${elsewhere}`)))).toBe(true);
  });

  test('noresume boots on, unless a flag names the device', async () => {
    const disk = await diskWithImage();
    const config = fileWith('hiberkit.conf', `resume-device = ${disk}\n`);
    const noresume = ['--cmdline-file', fileWith('cmdline', `resume=${disk} noresume\n`)];
    const run = program('--dry-run', '--config', config, ...noresume);
    expect(run).toMatchObject({ status: 0, stdout: '' });
    expect(run.stderr).toBe('hiberkit-resume: noresume is on the kernel command line: not resuming; the boot continues\n');
    expect(program('--dry-run', '--config', config, ...noresume, '--resume-device', disk).stdout).toMatch(/image OK/);
  });

  test('a resume offset on a swap partition is refused, the image untouched', async () => {
    const disk = await diskWithImage();
    const run = program('--dry-run', '--config', '/dev/null', ...EMPTY_CMDLINE, '--resume-device', disk, '--resume-offset', '8');
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^hiberkit-resume: RESUME_OFFSET_ON_PARTITION: .* is a swap partition \(its swap header is page 0\), so resume offset 8 does not apply to it/);
    expect(program('--dry-run', '--config', '/dev/null', ...EMPTY_CMDLINE, '--resume-device', disk).stdout).toMatch(/image OK/);
  });
});

describe('hiberkit resume finds the image the same way', () => {
  test('the kernel command line ranks above the config file, flags above both; noresume boots on', async () => {
    const machine = machines.machine(HOST_LIKE);
    const pending = hibernate({ backend: machine.backend });
    pending.catch(() => {});
    await machine.switchedOff(pending);
    const booted = machines.boot(machine.dir);
    // The machine's command line says resume=/dev/vda: a config file naming another disk does not count.
    expect(await resume({ backend: booted.backend, dryRun: true, configFile: { resumeDevice: '/dev/vdb' } })).toMatchObject({ status: 'image-ok', blockDevice: '/dev/vda' });
    vi.spyOn(booted.backend.system, 'commandLine').mockReturnValue(['console=ttyS0', 'resume=/dev/vda', 'noresume']);
    expect(await resume({ backend: booted.backend, dryRun: true })).toEqual({ status: 'noresume' });
    expect(await resume({ backend: booted.backend, dryRun: true, resumeDevice: '/dev/vda' })).toMatchObject({ status: 'image-ok' });
  });
});
