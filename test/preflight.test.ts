// Machines that cannot hibernate: `hibernate` refuses before anything is synced or frozen, with a
// code and a message that says what to fix (with the figures, where there are any); `hiberkit
// doctor` lists every problem at once. /dev/snapshot missing, stale or held by someone else is
// reported with the errno of the open.
import { describe, expect, test } from 'vitest';
import { hibernate, type HibernateOptions } from '../lib/hibernate.js';
import { main } from '../lib/cli.js';
import { mib } from '../lib/preflight.js';
import type { MachineConfigInput } from '../emulator/config.js';
import type { EmulatedMachine } from '../emulator/machine.js';
import { MIB, SMALL, diskPage, useCliOutput, useMachines } from './flows-support.js';

const machines = useMachines('preflight');
const output = useCliOutput();

/** Nothing was started: no sync, no freeze, /dev/snapshot closed, the swap header untouched. */
function expectUntouched(machine: EmulatedMachine, original: Buffer): void {
  expect(machine.kernel.syncCount).toBe(0);
  expect(machine.kernel.freezer.userSpaceFrozen).toBe(false);
  expect(machine.kernel.openDevice).toBeNull();
  expect(diskPage(machine).equals(original)).toBe(true);
  expect(machine.sessions()).toEqual({});
}

interface Refusal {
  name: string;
  config: MachineConfigInput;
  options?: Partial<HibernateOptions>;
  code: string;
  message: RegExp;
}

const REFUSALS: Refusal[] = [
  {
    name: 'kernel lockdown (Secure Boot)',
    config: { ...SMALL, lockdown: 'integrity' },
    code: 'LOCKDOWN',
    message: /^cannot hibernate: kernel lockdown forbids hibernation .*\(kernel lockdown: integrity\)$/,
  },
  {
    name: '"nohibernate" on the kernel command line',
    config: { ...SMALL, cmdline: ['console=ttyS0', 'resume=/dev/vda', 'nohibernate'] },
    code: 'NOHIBERNATE',
    message: /^cannot hibernate: remove "nohibernate" \/ "hibernate=no" from the kernel command line/,
  },
  {
    name: '"hibernate=no" on the kernel command line',
    config: { ...SMALL, cmdline: ['console=ttyS0', 'hibernate=no'] },
    code: 'NOHIBERNATE',
    message: /kernel command line/,
  },
  {
    name: 'hibernation disabled by the kernel (secret memory in use)',
    config: { ...SMALL, secretMemInUse: true },
    code: 'HIBERNATION_DISABLED',
    message: /^cannot hibernate: the kernel has hibernation disabled .*\(kernel offers hibernation \(\/sys\/power\/state lacks "disk", \/sys\/power\/disk disabled\)\)$/,
  },
  {
    name: 'no swap at all',
    config: { memoryBytes: 32 * MIB, swaps: [], disks: [{ device: '/dev/vda', sizeBytes: 8 * MIB }] },
    code: 'NO_SWAP',
    message: /^cannot hibernate: create and enable swap \(mkswap \+ swapon\).*\(0 active swap area\(s\), 0\.0 MiB free, \d+ MiB of RAM\)$/,
  },
  {
    name: 'not root',
    config: { ...SMALL, root: false },
    code: 'NOT_ROOT',
    message: /^cannot hibernate: run hiberkit as root \(the \/dev\/snapshot calls need CAP_SYS_ADMIN\)/,
  },
  {
    name: '/dev/snapshot missing (a kernel without CONFIG_HIBERNATION_SNAPSHOT_DEV)',
    config: { ...SMALL, snapshotNode: 'absent' },
    code: 'NO_SNAPSHOT_DEVICE',
    message: /^cannot hibernate: the kernel needs CONFIG_HIBERNATION and CONFIG_HIBERNATION_SNAPSHOT_DEV \(\/dev\/snapshot present\)$/,
  },
  {
    name: 'power-off through the platform asked for on a machine without ACPI S4',
    config: { ...SMALL, platformS4: false },
    options: { powerOff: 'platform' },
    code: 'NO_PLATFORM_S4',
    message: /^this machine has no platform \(ACPI S4\) hibernation \(\/sys\/power\/disk offers: shutdown reboot suspend test_resume\); use --power-off shutdown$/,
  },
  {
    name: 'a resume device that is not active swap',
    config: { ...SMALL, disks: [{ device: '/dev/vdb', sizeBytes: 8 * MIB }] },
    options: { resumeDevice: '/dev/vdb' },
    code: 'NOT_ACTIVE_SWAP',
    message: /^\/dev\/vdb is not an active swap area \(active: \/dev\/vda \(\/dev\/vda, offset 0\)\)/,
  },
];

describe('hibernate refuses, before anything is frozen', () => {
  test.each(REFUSALS)('$name: $code', async ({ config, options, code, message }) => {
    const machine = machines.machine(config);
    const original = diskPage(machine);
    await expect(hibernate({ backend: machine.backend, ...options })).rejects.toMatchObject({
      name: 'HiberkitError',
      code,
      message: expect.stringMatching(message),
    });
    expectUntouched(machine, original);
  });

  test.each([
    { compress: 'lz4' as const, need: (inUse: number) => inUse / 2, said: ' even at 2:1 compression' },
    { compress: 'none' as const, need: (inUse: number) => inUse, said: '' },
  ])('not enough swap for the image (compress $compress): NOT_ENOUGH_SWAP with the figures', async ({ compress, need, said }) => {
    const machine = machines.machine({ ...SMALL, swaps: [{ type: 'partition', device: '/dev/vda', sizeBytes: 4 * MIB }] });
    const original = diskPage(machine);
    const inUse = machine.backend.system.memoryInUseBytes();
    const free = 4 * MIB - 4096;
    expect(free).toBeLessThan(need(inUse));
    await expect(hibernate({ backend: machine.backend, compress })).rejects.toMatchObject({
      code: 'NOT_ENOUGH_SWAP',
      message: `not enough swap for the image: ${mib(inUse)} of memory is in use and cannot be dropped, which needs about ${mib(need(inUse))}${said}, but /dev/vda has ${mib(free)} free; add swap or free memory`,
    });
    expectUntouched(machine, original);
  });

  test('/dev/snapshot is a stale node without a driver: ENODEV from the open, nothing frozen', async () => {
    const machine = machines.machine({ ...SMALL, snapshotNode: 'stale' });
    const original = diskPage(machine);
    await expect(hibernate({ backend: machine.backend })).rejects.toMatchObject({
      name: 'SnapshotError',
      code: 'ENODEV',
      syscall: 'open',
      message: expect.stringMatching(/no driver answers/),
    });
    expectUntouched(machine, original);
  });

  test('/dev/snapshot is held by another process (EBUSY): refused at the open; it works once that one closes', async () => {
    const machine = machines.machine();
    const original = diskPage(machine);
    const held = machine.openSnapshot('write-only');
    await expect(hibernate({ backend: machine.backend })).rejects.toMatchObject({
      name: 'SnapshotError',
      code: 'EBUSY',
      syscall: 'open',
      message: expect.stringMatching(/already open: another hibernation tool is running/),
    });
    expect(machine.kernel.syncCount).toBe(0);
    expect(machine.kernel.freezer.userSpaceFrozen).toBe(false);
    expect(diskPage(machine).equals(original)).toBe(true);
    held.close();
    expect(await main(['doctor', '--emulate', machine.dir])).toBe(0);
  });

  test('through the CLI a refusal is exit code 1 with the reason on stderr', async () => {
    const machine = machines.machine({ ...SMALL, lockdown: 'confidentiality' });
    expect(await main(['hibernate', '--emulate', machine.dir])).toBe(1);
    expect(output.stderr).toBe('hiberkit: cannot hibernate: kernel lockdown forbids hibernation (usually Secure Boot); disable lockdown or Secure Boot to hibernate (kernel lockdown: confidentiality)\n');
    expect(machine.kernel.syncCount).toBe(0);
  });
});

describe('hiberkit doctor', () => {
  test('a good machine: every check ok, exit code 0', async () => {
    const machine = machines.machine();
    expect(await main(['doctor', '--emulate', machine.dir])).toBe(0);
    const lines = output.stdout.trimEnd().split('\n');
    // Every check ok; the one warning is the emulated swap disk, which nothing encrypts (issue #10).
    expect(lines.slice(0, -1).filter((line) => !line.startsWith('ok  '))).toEqual([
      'warn  swap not encrypted: /dev/vda',
      expect.stringMatching(/^ {6}fix: memory the kernel pushes out to make room for the image is written to that swap in clear/),
    ]);
    const ram = mib(machine.backend.system.memoryBytes());
    expect(lines).toContain(`ok    1 active swap area(s), ${mib(32 * MIB - 4096)} free, ${ram} of RAM`);
    expect(lines.at(-1)).toBe('this machine can hibernate with hiberkit');
  });

  test('a machine with several problems: every one with its fix, exit code 1', async () => {
    const machine = machines.machine({ memoryBytes: 32 * MIB, swaps: [], lockdown: 'integrity', root: false });
    const ram = mib(machine.backend.system.memoryBytes());
    expect(await main(['doctor', '--emulate', machine.dir])).toBe(1);
    expect(output.stdout).toContain('FAIL  running as root\n      fix: run hiberkit as root (the /dev/snapshot calls need CAP_SYS_ADMIN)\n');
    expect(output.stdout).toContain('FAIL  kernel lockdown: integrity\n      fix: kernel lockdown forbids hibernation');
    expect(output.stdout).toContain(`FAIL  0 active swap area(s), 0.0 MiB free, ${ram} of RAM\n      fix: create and enable swap (mkswap + swapon)`);
    expect(output.stdout).toContain('FAIL  kernel offers hibernation (/sys/power/state lacks "disk", /sys/power/disk disabled)\n');
    expect(output.stdout).toContain('ok    /dev/snapshot present\n');
    expect(output.stdout.trimEnd().split('\n').at(-1)).toBe('4 problem(s): this machine cannot hibernate with hiberkit yet');
  });
});
