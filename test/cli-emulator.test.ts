// The `hiberkit` command on emulated machines: hibernate and resume with a swap partition and a
// swap file, several cycles in a row, inspect and discard, doctor, demo, usage errors, and the
// config file under the flags — run in this process through `main()`, and across separate node
// processes running the built CLI (dist/lib/cli.js) as a user would.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test, vi } from 'vitest';
import { main } from '../lib/cli.js';
import { ROOT, buildUnlessFresh, runCli, startCli, type RunningCli } from './cli-process.js';
import { SWAP_FILE, SWAP_FILE_PAGE, diskPage, flipByte, imageLayout, inspectJson, signatureOf, useCliOutput, useMachines } from './flows-support.js';

const machines = useMachines('cli');
const output = useCliOutput();

/** Runs `hiberkit hibernate` until the machine is off, then `hiberkit resume` in its next boot; returns both exit codes. */
async function cycle(dir: string): Promise<{ hibernated: number; resumed: number }> {
  const machine = machines.boot(dir);
  const hibernating = main(['hibernate', '--emulate', dir]);
  await machine.switchedOff(hibernating);
  const resumed = await main(['resume', '--emulate', dir]);
  return { hibernated: await hibernating, resumed };
}

describe('hibernate, inspect and resume through main()', () => {
  test('a swap partition: no image, then a valid one, then the machine resumed with its RAM and no image left', async () => {
    const machine = machines.machine();
    const original = diskPage(machine);
    expect(await main(['inspect', '--emulate', machine.dir])).toBe(0);
    expect(output.stdout).toBe('no hiberkit image on /dev/vda (header page 0)\n');
    expect(await inspectJson(output, machine.dir)).toEqual({ blockDevice: '/dev/vda', resumePage: 0, present: false });

    const hibernating = main(['hibernate', '--emulate', machine.dir]);
    await machine.switchedOff(hibernating);
    const snapshotRam = machine.ram.fingerprint();
    output.stdout = '';
    expect(await main(['inspect', '--emulate', machine.dir])).toBe(0);
    expect(output.stdout).toMatch(
      /^hiberkit image on \/dev\/vda \(header page 0\): valid\n {2}image: {7}\d+ MiB stored as [\d.]+ MiB \(lz4, ratio 0\.\d\d\)\n {2}created: {5}\d{4}-\d\d-\d\dT.*Z\n {2}kernel: {6}6\.17\.0-emulated\n {2}machine: {5}[0-9a-f]{32}\n {2}power-off: {3}platform\n {2}encryption: {2}none \(CRC32C checksums only\)\n$/,
    );
    const report = await inspectJson(output, machine.dir);
    expect(report).toMatchObject({ present: true, valid: true, compression: 'lz4', encrypted: false, kernelRelease: '6.17.0-emulated', machineId: machine.config.machineId, platformMode: true });
    expect(report.storedBytes as number).toBeLessThan(report.streamBytes as number);

    output.stdout = '';
    expect(await main(['resume', '--emulate', machine.dir])).toBe(0);
    expect(output.stdout).toContain('hiberkit: image found on /dev/vda; loading it\n');
    expect(output.stdout).toContain('hiberkit: image restored from /dev/vda: the emulated machine continues in its hibernated session\n');
    expect(await hibernating).toBe(0);
    expect(output.stdout).toMatch(/^hiberkit: resumed after hibernating to \/dev\/vda \(\d+\.\d s wall clock\)$/m);

    expect(machine.ram.fingerprint()).toBe(snapshotRam);
    expect(diskPage(machine).equals(original)).toBe(true);
    expect(await inspectJson(output, machine.dir)).toMatchObject({ present: false });
  });

  test('a swap file: swap-offset gives the resume offset, and hibernate and resume use it', async () => {
    const machine = machines.machine(SWAP_FILE);
    expect(await main(['swap-offset', '/swapfile', '--emulate', machine.dir])).toBe(0);
    const offset = Number(output.stdout.match(/\d+/g)!.at(-1));
    expect(offset).toBe(SWAP_FILE_PAGE);
    const where = ['--resume-device', '/dev/vda', '--resume-offset', String(offset)];

    const hibernating = main(['hibernate', '--emulate', machine.dir, ...where]);
    await machine.switchedOff(hibernating);
    expect(signatureOf(diskPage(machine, offset))).toBe('HIBERKIT01');
    expect(signatureOf(diskPage(machine, 0))).not.toBe('HIBERKIT01');
    expect(await inspectJson(output, machine.dir, ...where)).toMatchObject({ blockDevice: '/dev/vda', resumePage: offset, present: true, valid: true });
    expect(await main(['resume', '--emulate', machine.dir, ...where])).toBe(0);
    expect(await hibernating).toBe(0);
    expect(output.stdout).toMatch(/^hiberkit: resumed after hibernating to \/dev\/vda /m);
    expect(signatureOf(diskPage(machine, offset))).toBe('SWAPSPACE2');
  });

  test('three cycles in a row on one machine', async () => {
    const machine = machines.machine();
    for (let round = 1; round <= 3; round++) {
      expect(await cycle(machine.dir), `cycle ${round}`).toEqual({ hibernated: 0, resumed: 0 });
    }
    expect(output.stdout.match(/^hiberkit: resumed after hibernating to \/dev\/vda/gm)).toHaveLength(3);
    expect(Object.values(machine.sessions()).map((s) => s.state)).toEqual(['resumed', 'resumed', 'resumed']);
    expect(signatureOf(diskPage(machine))).toBe('SWAPSPACE2');
  });

  test('resume with no image, and with no resume device at all: exit code 0, the boot goes on', async () => {
    const plain = machines.machine();
    expect(await main(['resume', '--emulate', plain.dir])).toBe(0);
    expect(output.stdout).toBe('hiberkit: no hibernation image on /dev/vda; the boot continues\n');
    const unnamed = machines.machine(SWAP_FILE);
    output.stdout = '';
    expect(await main(['resume', '--emulate', unnamed.dir])).toBe(0);
    expect(output.stdout).toBe('hiberkit: no hibernation image: no resume device configured (resume=, --resume-device or /etc/hiberkit.conf)\n');
  });

  test('discard drops the image and puts the swap header back; the waiting hibernation learns its session is lost', async () => {
    const machine = machines.machine();
    const original = diskPage(machine);
    const hibernating = main(['hibernate', '--emulate', machine.dir]);
    await machine.switchedOff(hibernating);
    expect(await main(['discard', '--emulate', machine.dir])).toBe(0);
    expect(output.stdout).toContain('hiberkit: image on /dev/vda discarded; the swap signature is back\n');
    // At once, with nothing else booting the machine on.
    expect(await hibernating).toBe(1);
    expect(output.stderr).toMatch(/^hiberkit: the emulated machine was not resumed from this image \(its image was discarded\): this hibernated session is gone, and the machine runs a fresh boot$/m);
    const next = machines.boot(machine.dir);
    expect(diskPage(next).equals(original)).toBe(true);
    expect(await main(['discard', '--emulate', machine.dir])).toBe(0);
    expect(output.stdout).toContain('hiberkit: no hiberkit image on /dev/vda\n');
    expect(await main(['resume', '--emulate', machine.dir])).toBe(0);
    expect(output.stdout).toContain('hiberkit: no hibernation image on /dev/vda; the boot continues\n');
    expect(await main(['doctor', '--emulate', machine.dir])).toBe(0);
  });

  test('a damaged image: inspect says NOT VALID and exits 1; resume refuses it with exit code 1 and boots on', async () => {
    const machine = machines.machine();
    const original = diskPage(machine);
    const hibernating = main(['hibernate', '--emulate', machine.dir]);
    await machine.switchedOff(hibernating);
    flipByte(machine, imageLayout(machine).headerPage, 100);
    output.stdout = '';
    expect(await main(['inspect', '--emulate', machine.dir])).toBe(1);
    expect(output.stdout).toMatch(/^hiberkit image on \/dev\/vda \(header page 0\): NOT VALID \(IMAGE_CORRUPT\)\n {2}problem: {5}the image header page is not the one the marker was written for\n$/);
    expect(await main(['resume', '--emulate', machine.dir])).toBe(1);
    expect(output.stderr).toBe(
      'hiberkit: the image on /dev/vda was not restored: the image header page is not the one the marker was written for. It was discarded and the swap signature put back; the boot continues normally.\n',
    );
    expect(diskPage(machines.boot(machine.dir)).equals(original)).toBe(true);
    expect(await main(['doctor', '--emulate', machine.dir])).toBe(0);
    expect(await hibernating).toBe(1);
  });

  test('demo: hibernates and resumes its own machine and finds the RAM identical', async () => {
    expect(await main(['demo', '--dir', machines.dir(), '--memory', '32M'])).toBe(0);
    expect(output.stdout).toMatch(/RAM fingerprint after resume: [0-9a-f]{16}… \(identical\)/);
    expect(output.stdout).toContain('the hibernate call of boot 1 returned: resumed=true');
    expect(output.stdout).toMatch(/memory after resume +identical to the RAM it hibernated\n/);
  });
});

describe('usage errors: exit code 2 and the usage', () => {
  test.each([
    ['no command', [], 'stdout', /^usage: hiberkit <command>/],
    ['an unknown command', ['frobnicate'], 'stderr', /^hiberkit: unknown command "frobnicate"\n\nusage: hiberkit/],
    ['an unknown flag', ['hibernate', '--frobnicate'], 'stderr', /^hiberkit: Unknown option '--frobnicate'/],
    ['a flag without its value', ['hibernate', '--compress'], 'stderr', /^hiberkit: Option '--compress <value>' argument missing/],
    ['a value not allowed', ['hibernate', '--compress', 'zstd'], 'stderr', /^hiberkit: --compress: "zstd" is not one of lz4, none\n/],
    ['a size that is no size', ['hibernate', '--image-size', 'lots'], 'stderr', /^hiberkit: --image-size: "lots" is not a size/],
    ['swap-offset without its FILE', ['swap-offset'], 'stderr', /^hiberkit: swap-offset takes one FILE\n/],
  ] as const)('%s', async (_what, argv, stream, message) => {
    expect(await main([...argv])).toBe(2);
    expect(output[stream]).toMatch(message);
    expect(output[stream]).toContain('usage: hiberkit <command> [options]');
  });

  test('--help is not an error', async () => {
    expect(await main(['--help'])).toBe(0);
    expect(output.stdout).toMatch(/^usage: hiberkit <command>/);
  });
});

describe('the config file gives the defaults, flags override them', () => {
  test('compress and power-off from the file, compress overridden by a flag', async () => {
    const machine = machines.machine();
    const config = join(machines.dir(), 'hiberkit.conf');
    writeFileSync(config, '# this machine\ncompress = none\npower-off = shutdown   # no ACPI S4 wanted\n\nresume-device = /dev/vda\n');

    const hibernating = main(['hibernate', '--emulate', machine.dir, '--config', config]);
    await machine.switchedOff(hibernating);
    expect(await inspectJson(output, machine.dir, '--config', config)).toMatchObject({ present: true, compression: 'none', platformMode: false, ratio: expect.closeTo(1, 1) });
    expect(await main(['resume', '--emulate', machine.dir, '--config', config])).toBe(0);
    expect(await hibernating).toBe(0);

    const overridden = main(['hibernate', '--emulate', machine.dir, '--config', config, '--compress', 'lz4']);
    await machine.switchedOff(overridden);
    expect(await inspectJson(output, machine.dir, '--config', config)).toMatchObject({ present: true, compression: 'lz4', platformMode: false });
    expect(await main(['resume', '--emulate', machine.dir, '--config', config])).toBe(0);
    expect(await overridden).toBe(0);
  });

  test('a bad config file is refused with its line (exit code 1); a named file that is missing too', async () => {
    const machine = machines.machine();
    const config = join(machines.dir(), 'hiberkit.conf');
    writeFileSync(config, 'compress = lz4\npower-of = shutdown\n');
    expect(await main(['hibernate', '--emulate', machine.dir, '--config', config])).toBe(1);
    expect(output.stderr).toMatch(new RegExp(`^hiberkit: ${config}:2: unknown setting "power-of" \\(known: `));
    expect(await main(['inspect', '--emulate', machine.dir, '--config', join(machine.dir, 'nothing.conf')])).toBe(1);
    expect(output.stderr).toMatch(/hiberkit: cannot read the config file .*nothing\.conf: no such file or directory \(ENOENT\)\n$/);
    expect(machine.kernel.syncCount).toBe(0);
  });
});

// ---- separate processes, running the built CLI --------------------------------------------------

/** A machine created here and switched off, for other processes to boot. */
function machineForOtherProcesses(): string {
  const machine = machines.machine();
  machine.shutdown();
  return machine.dir;
}

/** Waits until the machine in `dir`, run by another process, is switched off. */
async function switchedOff(dir: string): Promise<void> {
  await vi.waitFor(() => expect(JSON.parse(readFileSync(join(dir, 'kernel.json'), 'utf8'))).toMatchObject({ state: 'off' }), { timeout: 15_000, interval: 20 });
}

/** Waits until `hibernating` has switched the machine in `dir` off and says how to resume it. */
async function waitingForResume(hibernating: RunningCli, dir: string): Promise<void> {
  const hint = `hiberkit: the emulated machine in ${dir} is off; its image waits for the next boot. Resume it with \`hiberkit resume --emulate ${dir}\` from another shell (or drop it with \`hiberkit discard --emulate ${dir}\`): this hibernation continues then\n`;
  await vi.waitFor(() => expect(hibernating.stderr()).toContain(hint), { timeout: 15_000, interval: 20 });
}

/** Hibernates in one process and resumes in another; the first must report its resume and exit 0. */
async function cycleInTwoProcesses(dir: string): Promise<void> {
  const hibernating = startCli(['hibernate', '--emulate', dir]);
  await switchedOff(dir);
  const resumed = await runCli(['resume', '--emulate', dir]);
  expect(resumed).toMatchObject({ code: 0, stdout: expect.stringContaining('hiberkit: image restored from /dev/vda') });
  expect(await hibernating.exited).toBe(0);
  expect(hibernating.stdout()).toMatch(/^hiberkit: resumed after hibernating to \/dev\/vda/m);
}

describe('the built CLI in separate processes', () => {
  beforeAll(buildUnlessFresh, 120_000);

  test('/dev/snapshot held by another process: hibernate exits 1 with EBUSY; once that process is gone the device opens again', async () => {
    const dir = machineForOtherProcesses();
    const holder = spawn(
      process.execPath,
      ['--input-type=module', '-e', `const { openEmulatedMachine } = await import(${JSON.stringify(join(ROOT, 'dist/emulator/index.js'))});
openEmulatedMachine(process.argv[1]).openSnapshot('write-only');
process.stdout.write('holding\\n');
setInterval(() => {}, 1000);`, dir],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise((resolve) => holder.stdout!.once('data', resolve));
    const refused = await runCli(['hibernate', '--emulate', dir]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^hiberkit: open failed on \/dev\/snapshot: EBUSY \(\/dev\/snapshot is already open/m);
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('close', resolve));
    // Its file closed with it: the next open takes the device.
    machines.boot(dir).openSnapshot('write-only').close();
  });

  test('a second hibernate while one runs exits 1 with ALREADY_RUNNING; when the first dies, the next takes its lock over', async () => {
    const dir = machineForOtherProcesses();
    // The first stops at its passphrase (fd 3, never written): it holds the lock, nothing is open yet.
    const first = startCli(['hibernate', '--emulate', dir, '--encrypt', 'passphrase', '--passphrase-fd', '3'], 1);
    await vi.waitFor(() => expect(first.stdout()).toContain('hiberkit: swap /dev/vda'), { timeout: 15_000, interval: 20 });
    const second = await runCli(['hibernate', '--emulate', dir]);
    expect(second.code).toBe(1);
    expect(second.stderr).toBe(`hiberkit: another hiberkit hibernate is running (pid ${first.child.pid}, lock ${join(dir, 'hiberkit.lock')}); wait for it to finish\n`);
    first.child.kill('SIGKILL');
    await first.exited;
    first.child.stdio[3]!.destroy();

    await cycleInTwoProcesses(dir);
  });

  test('hibernate says how to resume the machine it switched off; a second hibernate meanwhile is IMAGE_PRESENT and changes nothing', async () => {
    const dir = machineForOtherProcesses();
    const first = startCli(['hibernate', '--emulate', dir]);
    await waitingForResume(first, dir);
    const sessions = readFileSync(join(dir, 'sessions.json'), 'utf8');

    const second = await runCli(['hibernate', '--emulate', dir]);
    expect(second).toMatchObject({ code: 1, stderr: 'hiberkit: /dev/vda (header page 0) already holds a hiberkit image waiting to be resumed: resume it (`hiberkit resume`) or discard it (`hiberkit discard`) first\n' });
    expect(readFileSync(join(dir, 'sessions.json'), 'utf8')).toBe(sessions);
    expect(first.child.exitCode).toBeNull();
    expect(await runCli(['inspect', '--emulate', dir])).toMatchObject({ code: 0, stdout: expect.stringContaining('hiberkit image on /dev/vda (header page 0): valid') });

    expect(await runCli(['resume', '--emulate', dir])).toMatchObject({ code: 0 });
    expect(await first.exited).toBe(0);
    expect(first.stdout()).toMatch(/^hiberkit: resumed after hibernating to \/dev\/vda/m);
  });

  test('discard in another process while a hibernate waits: the waiting process learns its session is gone and exits 1', async () => {
    const dir = machineForOtherProcesses();
    const waiting = startCli(['hibernate', '--emulate', dir]);
    await waitingForResume(waiting, dir);
    expect(await runCli(['discard', '--emulate', dir])).toMatchObject({ code: 0, stdout: 'hiberkit: image on /dev/vda discarded; the swap signature is back\n' });
    expect(await waiting.exited).toBe(1);
    expect(waiting.stderr()).toMatch(/^hiberkit: the emulated machine was not resumed from this image \(its image was discarded\): this hibernated session is gone, and the machine runs a fresh boot$/m);
    // The machine goes on as a fresh boot: it hibernates and resumes again.
    await cycleInTwoProcesses(dir);
  });

  test('the demo interrupted (SIGINT) removes its temporary machine too', async () => {
    const demo = startCli(['demo']);
    await vi.waitFor(() => expect(demo.stdout()).toContain('[boot 1] hiberkit hibernate'), { timeout: 15_000, interval: 20 });
    const dir = /^emulated machine in (\S+):/m.exec(demo.stdout())![1]!;
    expect(existsSync(join(dir, 'machine.json'))).toBe(true);
    demo.child.kill('SIGINT');
    await demo.exited;
    expect(demo.child.signalCode).toBe('SIGINT');
    expect(demo.stdout()).toContain(`removed the demo's machine (${dir})`);
    expect(existsSync(dir)).toBe(false);
  });
});
