// Emulated machines are made on purpose and refused when they are not there: `hiberkit machine
// create` and `createEmulatedMachine` (sizes, layout, never over an existing machine or other
// files), `machine show`, `--emulate` on a missing directory, a file, an empty name, an empty
// directory or a damaged machine.json; a second hibernate while an image waits (IMAGE_PRESENT,
// the first one unaffected); the demo's --memory against an existing machine and its temporary
// directory; keygen and the config file inside the emulated machine's own /etc.
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { main } from '../lib/cli.js';
import { runDemo } from '../lib/demo.js';
import { openBackend } from '../lib/select-backend.js';
import { createEmulatedMachine, SWAP_FILE_PAGE } from '../emulator/create.js';
import { openEmulatedMachine } from '../emulator/machine.js';
import { MIB, diskPage, inspectJson, signatureOf, useCliOutput, useMachines } from './flows-support.js';

const machines = useMachines('machines');
const output = useCliOutput();

describe('hiberkit machine create', () => {
  test('makes the standard machine of the sizes asked, says what it made and what to try next; it boots with its swap file on', async () => {
    const dir = join(machines.dir(), 'vm');
    expect(await main(['machine', 'create', dir, '--memory', '48M', '--swap', '40M'])).toBe(0);
    expect(output.stdout).toContain(`created an emulated machine in ${dir}, switched off:\n  RAM:       48 MiB\n`);
    expect(output.stdout).toContain(`  swap:      swap file /swapfile, 40 MiB, on /dev/vda at page ${SWAP_FILE_PAGE} (its resume offset)\n`);
    expect(output.stdout).toContain(`resume=/dev/vda resume_offset=${SWAP_FILE_PAGE}`);
    expect(output.stdout).toContain(`  hiberkit hibernate --emulate ${dir}`);
    expect(output.stdout).toContain(`  hiberkit resume    --emulate ${dir}`);

    const machine = machines.boot(dir);
    expect(machine.config.memoryBytes).toBe(48 * MIB);
    expect(machine.backend.system.swapAreas()).toEqual([
      expect.objectContaining({ path: '/swapfile', type: 'file', blockDevice: '/dev/vda', offsetPages: SWAP_FILE_PAGE, sizeBytes: 40 * MIB - 4096 }),
    ]);
    expect(machine.backend.system.resumeSetting()).toMatchObject({ device: '/dev/vda', offsetPages: SWAP_FILE_PAGE });
  });

  test('without sizes: 256 MiB of RAM and a swap file as large', async () => {
    const dir = machines.dir();
    expect(await main(['machine', 'create', dir])).toBe(0);
    const config = JSON.parse(readFileSync(join(dir, 'machine.json'), 'utf8'));
    expect(config).toMatchObject({ memoryBytes: 256 * MIB, swaps: [{ type: 'file', path: '/swapfile', sizeBytes: 256 * MIB }] });
  });

  test('refuses a directory that holds a machine already, and leaves that machine as it was', async () => {
    const machine = machines.machine();
    const hibernating = main(['hibernate', '--emulate', machine.dir]);
    await machine.switchedOff(hibernating);
    const before = Object.fromEntries(['machine.json', 'kernel.json', 'sessions.json'].map((f) => [f, readFileSync(join(machine.dir, f), 'utf8')]));
    const marked = diskPage(machine);

    expect(await main(['machine', 'create', machine.dir, '--memory', '64M'])).toBe(1);
    expect(output.stderr).toBe(
      `hiberkit: ${machine.dir} already holds an emulated machine (its disks may hold a hibernated session): use it as it is (\`hiberkit machine show ${machine.dir}\`), or create the new one in another directory\n`,
    );
    expect(() => createEmulatedMachine(machine.dir)).toThrow(expect.objectContaining({ code: 'MACHINE_EXISTS' }));
    for (const [file, text] of Object.entries(before)) expect(readFileSync(join(machine.dir, file), 'utf8'), file).toBe(text);
    expect(diskPage(machine).equals(marked)).toBe(true);

    expect(await main(['resume', '--emulate', machine.dir])).toBe(0);
    expect(await hibernating).toBe(0);
  });

  test.each([
    ['a directory with other files', (dir: string) => (writeFileSync(join(dir, 'notes.txt'), 'mine\n'), dir), 'MACHINE_DIR_UNUSABLE', /is not empty \(notes\.txt\): give a new or empty directory/],
    ['a file', (dir: string) => (writeFileSync(join(dir, 'file'), ''), join(dir, 'file')), 'MACHINE_DIR_UNUSABLE', /file is a file: give a new or empty directory/],
    ['RAM that is not whole MiB', (dir: string) => ({ dir, memoryBytes: 33 * MIB + 4096 }), 'BAD_MACHINE_CONFIG', /memory must be a whole number of MiB, at least 32 MiB/],
    ['less RAM than the firmware needs', (dir: string) => ({ dir, memoryBytes: 16 * MIB }), 'BAD_MACHINE_CONFIG', /at least 32 MiB/],
    ['a swap file smaller than mkswap allows', (dir: string) => ({ dir, swapBytes: 8192 }), 'BAD_MACHINE_CONFIG', /at least 40 KiB/],
  ] as const)('refuses %s, creating nothing', (_what, prepare, code, message) => {
    const parent = machines.dir();
    const prepared = prepare(parent);
    const { dir, ...sizes } = typeof prepared === 'string' ? { dir: prepared } : prepared;
    const entries = readdirSync(parent).sort();
    expect(() => createEmulatedMachine(dir, sizes)).toThrow(expect.objectContaining({ code, message: expect.stringMatching(message) }));
    expect(readdirSync(parent).sort()).toEqual(entries);
  });

  test('bad command lines are usage errors (exit code 2)', async () => {
    expect(await main(['machine', 'create'])).toBe(2);
    expect(output.stderr).toMatch(/^hiberkit: machine takes `create DIR \[--memory SIZE\] \[--swap SIZE\]` or `show DIR` \(got "create"\)\n/);
    expect(await main(['machine', 'explode', machines.dir()])).toBe(2);
    expect(await main(['machine', 'create', machines.dir(), '--memory', 'lots'])).toBe(2);
    expect(output.stderr).toMatch(/hiberkit: --memory: "lots" is not a size/);
  });
});

describe('hiberkit machine show', () => {
  test('off and never booted; then off with an image waiting; then running again with the session resumed', async () => {
    const dir = machines.dir();
    createEmulatedMachine(dir, { memoryBytes: 32 * MIB });
    expect(await main(['machine', 'show', dir])).toBe(0);
    expect(output.stdout).toMatch(new RegExp(`^emulated machine in ${dir}: off, never booted\n {2}RAM: {7}32 MiB\n`));
    expect(output.stdout).toContain('  image:     none waiting\n  sessions:  0 resumed, 0 lost\n');

    const machine = machines.boot(dir);
    const hibernating = main(['hibernate', '--emulate', dir]);
    await machine.switchedOff(hibernating);
    output.stdout = '';
    expect(await main(['machine', 'show', dir])).toBe(0);
    expect(output.stdout).toMatch(/: off \(after boot 1\)\n/);
    expect(output.stdout).toContain('  image:     waiting to be resumed (made in boot 1)');

    expect(await main(['resume', '--emulate', dir])).toBe(0);
    expect(await hibernating).toBe(0);
    output.stdout = '';
    expect(await main(['machine', 'show', dir])).toBe(0);
    expect(output.stdout).toMatch(/: running \(boot 1\)\n/);
    expect(output.stdout).toContain('  image:     none waiting\n  sessions:  1 resumed, 0 lost\n');
  });
});

describe('--emulate on something that is not a machine is refused, and nothing is created', () => {
  const cases: [string, (parent: string) => string, string, (dir: string) => string][] = [
    ['a missing directory', (parent) => join(parent, 'typo'), 'NO_MACHINE', (dir) => `${dir} does not exist, so it holds no emulated machine: create one with \`hiberkit machine create ${dir}\``],
    ['a regular file', (parent) => (writeFileSync(join(parent, 'file'), 'x'), join(parent, 'file')), 'NO_MACHINE', (dir) => `${dir} is a file, not the directory of an emulated machine: create one with \`hiberkit machine create ${dir}\` (in a new directory)`],
    ['an empty name', () => '', 'NO_MACHINE', () => 'an empty directory name holds no emulated machine: name its directory, or create one with `hiberkit machine create DIR`'],
    ['an empty directory', (parent) => parent, 'NO_MACHINE', (dir) => `${dir} holds no emulated machine: create one with \`hiberkit machine create ${dir}\``],
  ];
  test.each(cases)('%s', async (_what, prepare, code, message) => {
    const parent = machines.dir();
    const dir = prepare(parent);
    const entries = readdirSync(parent);
    for (const command of ['hibernate', 'resume', 'inspect', 'discard', 'doctor']) {
      output.stderr = '';
      if (dir === '') {
        // The command line refuses an empty value before any machine is looked for.
        expect(await main([command, '--emulate', dir]), command).toBe(2);
        expect(output.stderr, command).toMatch(/^hiberkit: --emulate needs the directory of an emulated machine\n/);
        continue;
      }
      expect(await main([command, '--emulate', dir]), command).toBe(1);
      expect(output.stderr, command).toBe(`hiberkit: ${message(dir)}\n`);
    }
    await expect(openBackend({ emulate: dir })).rejects.toMatchObject({ name: 'HiberkitError', code });
    expect(readdirSync(parent)).toEqual(entries);
  });

  test.each([
    ['not JSON', '{"memoryBytes": 3', /machine\.json is unreadable: not valid JSON/],
    ['JSON of something else', '{"memoryBytes": 33554432}', /machine\.json is unreadable: seed must be an integer/],
  ])('a machine.json that is %s: BAD_MACHINE, naming the file', async (_what, text, message) => {
    const dir = machines.dir();
    createEmulatedMachine(dir, { memoryBytes: 32 * MIB });
    writeFileSync(join(dir, 'machine.json'), text);
    expect(await main(['inspect', '--emulate', dir])).toBe(1);
    expect(output.stderr).toMatch(new RegExp(`^hiberkit: ${join(dir, 'machine.json')} is unreadable: .*The emulated machine in ${dir} cannot be used; create a new one`));
    expect(output.stderr.split('\n')).toHaveLength(2);
    expect(() => openEmulatedMachine(dir)).toThrow(expect.objectContaining({ code: 'BAD_MACHINE', message: expect.stringMatching(message) }));
  });
});

describe('a second hibernate while an image waits', () => {
  test('fails with IMAGE_PRESENT and leaves the image and the waiting hibernation alone; resume then continues the first', async () => {
    const machine = machines.machine();
    const hibernating = main(['hibernate', '--emulate', machine.dir]);
    await machine.switchedOff(hibernating);
    const image = diskPage(machine);
    const sessions = machine.sessions();

    expect(await main(['hibernate', '--emulate', machine.dir])).toBe(1);
    expect(output.stderr).toBe(
      'hiberkit: /dev/vda (header page 0) already holds a hiberkit image waiting to be resumed: resume it (`hiberkit resume`) or discard it (`hiberkit discard`) first\n',
    );
    expect(machine.sessions()).toEqual(sessions);
    expect(Object.values(sessions).map((s) => s.state)).toEqual(['suspended']);
    expect(diskPage(machine).equals(image)).toBe(true);
    expect(await inspectJson(output, machine.dir)).toMatchObject({ present: true, valid: true });

    expect(await main(['resume', '--emulate', machine.dir])).toBe(0);
    expect(await hibernating).toBe(0);
    expect(output.stdout).toMatch(/^hiberkit: resumed after hibernating to \/dev\/vda/m);
    expect(signatureOf(diskPage(machine))).toBe('SWAPSPACE2');
  });
});

describe('the demo', () => {
  test('--memory that differs from the machine --dir holds is refused; without --memory that machine is used and kept', async () => {
    const dir = machines.dir();
    createEmulatedMachine(dir, { memoryBytes: 32 * MIB });
    expect(await main(['demo', '--dir', dir, '--memory', '64M'])).toBe(1);
    expect(output.stderr).toBe(`hiberkit: ${dir} holds a 32 MiB machine, not 64 MiB: drop --memory to use it, or give another --dir\n`);
    expect(await main(['demo', '--dir', dir, '--memory', '32M'])).toBe(0);
    expect(output.stdout).toContain(`emulated machine in ${dir}: 32 MiB of RAM, swap file /swapfile (32 MiB) on /dev/vda at page ${SWAP_FILE_PAGE}`);
    expect(output.stdout).toContain(`the machine stays in ${dir}`);
    expect(existsSync(join(dir, 'machine.json'))).toBe(true);
  });

  test('its temporary machine is removed at the end, after a success and after a failure', async () => {
    expect(await main(['demo', '--memory', '32M'])).toBe(0);
    const removed = /removed the demo's machine \((.+)\); keep one with --dir DIR\n$/.exec(output.stdout);
    expect(removed).not.toBeNull();
    expect(existsSync(removed![1]!)).toBe(false);

    // The command line refuses such a size up front; the library's demo fails on it part way.
    const lines: string[] = [];
    await expect(runDemo({ memoryBytes: 20 * MIB, print: (line) => lines.push(line) })).rejects.toThrow(/at least 32 MiB/);
    const failed = /removed the demo's machine \((.+)\)/.exec(lines.join('\n'));
    expect(failed).not.toBeNull();
    expect(existsSync(failed![1]!)).toBe(false);
  });

  test('a --memory that is no size is a usage error (exit code 2), not a crash', async () => {
    expect(await main(['demo', '--memory', 'lots'])).toBe(2);
    expect(output.stderr).toMatch(/^hiberkit: --memory: "lots" is not a size/);
  });
});

describe("an emulated machine's own /etc", () => {
  /** Whether the host's /etc/hiberkit is as it was: absent, or with the same files and times. */
  function hostKeys(): string {
    const dir = '/etc/hiberkit';
    if (!existsSync(dir)) return 'absent';
    return readdirSync(dir).map((f) => `${f}:${statSync(join(dir, f)).mtimeMs}`).join(',');
  }

  test('keygen --emulate writes DIR/etc/hiberkit; hibernate and resume --emulate find the keys and DIR/etc/hiberkit.conf there', async () => {
    const machine = machines.machine();
    const host = hostKeys();
    const passphrase = join(machines.dir(), 'passphrase');
    writeFileSync(passphrase, 'key passphrase\n', { mode: 0o600 });

    expect(await main(['keygen', '--emulate', machine.dir, '--passphrase-file', passphrase])).toBe(0);
    const keys = join(machine.dir, 'etc', 'hiberkit');
    const config = join(machine.dir, 'etc', 'hiberkit.conf');
    expect(output.stdout).toContain(
      `hiberkit: wrote ${join(keys, 'key')} (private, sealed with your passphrase), ${join(keys, 'key.pub')} and ${join(keys, 'sign.key')}`,
    );
    expect(output.stdout).toContain(`hiberkit: set encrypt = public-key in ${config}: resume refuses plain images from now on\n`);
    expect(output.stdout).toContain(`\`hiberkit hibernate --emulate ${machine.dir}\` seals images to it`);
    expect(readdirSync(keys).sort()).toEqual(['key', 'key.pub', 'sign.key']);
    expect(readFileSync(config, 'utf8')).toBe('encrypt = public-key\n');
    expect(hostKeys()).toBe(host);

    appendFileSync(config, 'compress = none\n');
    const hibernating = main(['hibernate', '--emulate', machine.dir]);
    await machine.switchedOff(hibernating);
    expect(output.stdout).toContain('hiberkit: image encrypted (public-key, AES-256-GCM, signed)\n');
    expect(await inspectJson(output, machine.dir)).toMatchObject({ present: true, compression: 'none', encrypted: true, keyKind: 'public-key' });
    expect(await main(['resume', '--emulate', machine.dir, '--passphrase-file', passphrase])).toBe(0);
    expect(await hibernating).toBe(0);
  });

  test('keygen --emulate on a directory without a machine is refused before anything is written', async () => {
    const parent = machines.dir();
    const dir = join(parent, 'nothing');
    mkdirSync(dir);
    const host = hostKeys();
    expect(await main(['keygen', '--emulate', dir, '--passphrase-file', '/dev/null'])).toBe(1);
    expect(output.stderr).toBe(`hiberkit: ${dir} holds no emulated machine: create one with \`hiberkit machine create ${dir}\`\n`);
    expect(readdirSync(dir)).toEqual([]);
    expect(hostKeys()).toBe(host);
  });
});
