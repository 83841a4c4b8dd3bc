// Every command of the built CLI, run as a user runs it, answers bad input with one clear line on
// stderr (plus the usage text for a usage error) and exit code 2 (usage) or 1 (failure): never a
// stack trace, never Node's internals. Only --debug (or HIBERKIT_DEBUG=1) adds a stack.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createEmulatedMachine } from '../emulator/create.js';
import { buildUnlessFresh, runCli } from './cli-process.js';
import { SMALL } from './flows-support.js';

/** Files and directories the bad inputs name, made once for the whole table. */
interface Fixtures {
  /** An emulated machine, switched off, with a swap partition /dev/vda. */
  machine: string;
  /** A regular file with no swap signature. */
  plainFile: string;
  /** A directory whose machine.json is not JSON. */
  corruptMachine: string;
  /** A config file that sets one key twice. */
  duplicateConfig: string;
  /** A passphrase file that exists. */
  passphrase: string;
  /** A path that does not exist. */
  missing: string;
  /** An empty directory for keygen --out. */
  keys: string;
}

let root: string;
const f = {} as Fixtures;

beforeAll(async () => {
  await buildUnlessFresh();
  root = mkdtempSync(join(tmpdir(), 'hiberkit-bad-input-'));
  f.machine = join(root, 'machine');
  createEmulatedMachine(f.machine, { config: SMALL });
  f.plainFile = join(root, 'plain-file');
  writeFileSync(f.plainFile, 'not swap\n'.repeat(1000));
  f.corruptMachine = join(root, 'corrupt');
  mkdirSync(f.corruptMachine);
  writeFileSync(join(f.corruptMachine, 'machine.json'), '{"memoryBytes": ');
  f.duplicateConfig = join(root, 'duplicate.conf');
  writeFileSync(f.duplicateConfig, 'compress = lz4\npower-off = shutdown\ncompress = none\n');
  f.passphrase = join(root, 'passphrase');
  writeFileSync(f.passphrase, 'correct horse battery staple\n', { mode: 0o600 });
  f.missing = join(root, 'does-not-exist');
  f.keys = join(root, 'keys');
}, 120_000);

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

type Row = [what: string, args: (f: Fixtures) => string[], exitCode: 1 | 2, message: RegExp];

const COMMANDS = ['hibernate', 'resume', 'inspect', 'discard', 'keygen', 'swap-offset', 'doctor', 'demo', 'setup'];
/** The commands that read settings (flags and the config file). */
const SETTINGS_COMMANDS = ['hibernate', 'resume', 'inspect', 'discard', 'keygen'];

/** A flag of another command, for each command. */
const FOREIGN_FLAG: Record<string, string[]> = {
  hibernate: ['--json'],
  resume: ['--memory', '64M'],
  inspect: ['--force'],
  discard: ['--out', '/tmp'],
  keygen: ['--dir', '/tmp'],
  'swap-offset': ['--compress', 'lz4'],
  doctor: ['--json'],
  demo: ['--resume-device', '/dev/vda'],
  setup: ['--image-size', '1G'],
};

const EVERY_COMMAND: Row[] = COMMANDS.flatMap((command): Row[] => [
  [`${command}: a flag of another command`, () => [command, ...FOREIGN_FLAG[command]!], 2, new RegExp(`^${command} does not take ${FOREIGN_FLAG[command]![0]}$`)],
  [`${command}: an unknown flag`, () => [command, '--frobnicate'], 2, /^Unknown option '--frobnicate'/],
  [`${command}: a valued flag without its value`, () => [command, '--emulate'], 2, /^Option '--emulate <value>' argument missing/],
  command === 'swap-offset'
    ? [`${command}: two files`, () => [command, 'a', 'b'], 2, /^swap-offset takes one FILE \(got "a" "b"\)$/]
    : [`${command}: an argument it does not take`, () => [command, 'extra'], 2, new RegExp(`^${command} takes no arguments \\(got "extra"\\)$`)],
  [`${command}: --emulate with an empty name`, () => [command, '--emulate', '', ...(command === 'swap-offset' ? ['/swapfile'] : [])], 2, /^--emulate needs the directory of an emulated machine$/],
]);

/**
 * keygen acts on no machine (what it does with --emulate is another matter: tested with the
 * emulated-machine lifecycle); setup acts only on this one (refused below).
 */
const MACHINE_COMMANDS = COMMANDS.filter((command) => command !== 'keygen' && command !== 'setup');

const BAD_MACHINES: Row[] = MACHINE_COMMANDS.flatMap((command): Row[] => [
  [`${command}: --emulate naming a regular file`, (x) => [command, '--emulate', x.plainFile, ...(command === 'swap-offset' ? ['/swapfile'] : [])], 1, /plain-file/],
  [`${command}: --emulate naming a machine whose machine.json is damaged`, (x) => [command, '--emulate', x.corruptMachine, ...(command === 'swap-offset' ? ['/swapfile'] : [])], 1, /machine\.json/],
]);

const SETTINGS: Row[] = SETTINGS_COMMANDS.flatMap((command): Row[] => [
  // keygen creates the config file it is pointed at (to record encrypt = public-key there).
  ...(command === 'keygen'
    ? []
    : [[`${command}: a config file that is missing`, (x: Fixtures) => [command, '--emulate', x.machine, '--config', x.missing], 1, /^cannot read the config file .*does-not-exist: no such file or directory \(ENOENT\)$/] as Row]),
  [`${command}: a config file that is a directory`, (x) => [command, '--emulate', x.machine, '--config', x.keys.replace(/keys$/, '')], 1, /^cannot read the config file .*\(EISDIR\)$/],
  [`${command}: a config file that sets a key twice`, (x) => [command, '--emulate', x.machine, '--config', x.duplicateConfig], 1, /^.*duplicate\.conf:3: "compress" is set twice, on lines 1 and 3; keep one$/],
  [`${command}: --compress zstd`, () => [command, '--compress', 'zstd'], 2, /^--compress: "zstd" is not one of lz4, none$/],
  [`${command}: --image-size lots`, () => [command, '--image-size', 'lots'], 2, /^--image-size: "lots" is not a size/],
  [`${command}: --resume-offset -1`, () => [command, '--resume-offset=-1'], 2, /^--resume-offset: "-1" is not a page count$/],
  [`${command}: --power-off hibernate`, () => [command, '--power-off', 'hibernate'], 2, /^--power-off: "hibernate" is not one of platform, shutdown, reboot$/],
  [`${command}: --encrypt rot13`, () => [command, '--encrypt', 'rot13'], 2, /^--encrypt: "rot13" is not one of none, passphrase, public-key$/],
  [`${command}: --passphrase-fd three`, () => [command, '--passphrase-fd', 'three'], 2, /^--passphrase-fd: "three" is not a file descriptor number$/],
  [`${command}: --passphrase-tries many`, () => [command, '--passphrase-tries', 'many'], 2, /^--passphrase-tries: "many" is not a number of tries$/],
  [`${command}: --on-bad-passphrase shrug`, () => [command, '--on-bad-passphrase', 'shrug'], 2, /^--on-bad-passphrase: "shrug" is not one of keep, discard$/],
]);

const SPECIFIC: Row[] = [
  ['an unknown command', () => ['frobnicate'], 2, /^unknown command "frobnicate"$/],
  ['an unknown flag without a command', () => ['--frobnicate'], 2, /^Unknown option '--frobnicate'/],
  // hibernate
  ['hibernate: a passphrase file that is missing', (x) => ['hibernate', '--emulate', x.machine, '--encrypt', 'passphrase', '--passphrase-file', x.missing], 1, /^cannot read the passphrase from the passphrase file .*does-not-exist: no such file or directory \(ENOENT\)$/],
  ['hibernate: a passphrase descriptor that is not open', (x) => ['hibernate', '--emulate', x.machine, '--encrypt', 'passphrase', '--passphrase-fd', '99'], 1, /^cannot read the passphrase from file descriptor 99 \(--passphrase-fd\): bad file descriptor \(EBADF\)$/],
  ['hibernate: a public key file that is missing', (x) => ['hibernate', '--emulate', x.machine, '--encrypt', 'public-key', '--public-key', x.missing], 1, /^cannot read the public key .*does-not-exist: no such file or directory \(ENOENT\) \(make one with `hiberkit keygen`\)$/],
  ['hibernate: a resume device that does not exist', (x) => ['hibernate', '--emulate', x.machine, '--resume-device', '/dev/nope'], 1, /\/dev\/nope/],
  ['hibernate: --resume-offset on a swap partition', (x) => ['hibernate', '--emulate', x.machine, '--resume-device', '/dev/vda', '--resume-offset', '8'], 1, /^\/dev\/vda is a swap partition \(its swap header is page 0\), so resume offset 8 does not apply to it/],
  ['hibernate: --resume-offset without a device, matching no swap file', (x) => ['hibernate', '--emulate', x.machine, '--resume-offset', '8'], 1, /^no active swap file starts at page 8 /],
  // resume, inspect, discard
  ['resume: --resume-offset on a swap partition', (x) => ['resume', '--emulate', x.machine, '--resume-device', '/dev/vda', '--resume-offset', '8'], 1, /^\/dev\/vda is a swap partition/],
  ['inspect: --resume-offset on a swap partition', (x) => ['inspect', '--emulate', x.machine, '--resume-device', '/dev/vda', '--resume-offset', '8'], 1, /^\/dev\/vda is a swap partition/],
  ['discard: --resume-offset on a swap partition', (x) => ['discard', '--emulate', x.machine, '--resume-device', '/dev/vda', '--resume-offset', '8'], 1, /^\/dev\/vda is a swap partition/],
  ['inspect: a resume device that does not exist', (x) => ['inspect', '--emulate', x.machine, '--resume-device', '/dev/nope'], 1, /\/dev\/nope/],
  // keygen
  ['keygen: a passphrase file that is missing', (x) => ['keygen', '--out', x.keys, '--passphrase-file', x.missing], 1, /^cannot read the passphrase from the passphrase file .*does-not-exist: no such file or directory \(ENOENT\)$/],
  ['keygen: a passphrase descriptor that is not open', (x) => ['keygen', '--out', x.keys, '--passphrase-fd', '99'], 1, /^cannot read the passphrase from file descriptor 99/],
  ['keygen: --out inside a regular file', (x) => ['keygen', '--out', join(x.plainFile, 'keys'), '--passphrase-file', x.passphrase], 1, /^cannot mkdir .*plain-file\/keys: not a directory \(ENOTDIR\)$/],
  // swap-offset
  ['swap-offset: no FILE', () => ['swap-offset'], 2, /^swap-offset takes one FILE$/],
  ['swap-offset: a directory', (x) => ['swap-offset', x.keys.replace(/\/keys$/, '')], 1, /is not a regular file; swap-offset is for swap files/],
  ['swap-offset: a regular file that is not swap', (x) => ['swap-offset', x.plainFile], 1, /plain-file is not a swap file: no swap signature at byte 4086 of its first page/],
  ['swap-offset: a file that does not exist', (x) => ['swap-offset', x.missing], 1, /^cannot stat .*does-not-exist: no such file or directory \(ENOENT\)$/],
  ['swap-offset: a file the emulated machine does not swap to', (x) => ['swap-offset', '--emulate', x.machine, '/etc/passwd'], 1, /^\/etc\/passwd is not a swap file of this emulated machine$/],
  // demo
  ...['banana', '0', '1', '4K', '1M', '31M', '1.5M', '10T'].map((size): Row => [`demo: --memory ${size}`, () => ['demo', '--memory', size], 2, new RegExp(`^--memory: "${size.replace('.', '\\.')}" is not a (demo memory )?size`)]),
  ['demo: --dir naming a regular file', (x) => ['demo', '--dir', x.plainFile], 1, /plain-file/],
  // setup
  ['setup: without --yes and without a terminal', () => ['setup'], 2, /^setup changes this system \(the initramfs, \/etc, systemd\): run it on a terminal to confirm, or pass --yes$/],
  ['setup --undo: without --yes and without a terminal', () => ['setup', '--undo'], 2, /^setup changes this system \(the initramfs, \/etc, systemd\): run it on a terminal to confirm, or pass --yes$/],
  ['setup: --emulate', (x) => ['setup', '--emulate', x.machine, '--yes'], 2, /^setup sets up this machine and its \/etc\/hiberkit\.conf: it takes neither --emulate nor --config$/],
  ['setup: --config', (x) => ['setup', '--config', x.duplicateConfig, '--yes'], 2, /^setup sets up this machine and its \/etc\/hiberkit\.conf: it takes neither --emulate nor --config$/],
  ['setup --undo with a setting', () => ['setup', '--undo', '--resume-device', '/dev/vda', '--yes'], 2, /^setup --undo takes no --resume-device: it removes what setup installed$/],
  ['setup: --compress zstd', () => ['setup', '--compress', 'zstd', '--yes'], 2, /^--compress: "zstd" is not one of lz4, none$/],
  ['setup: --encrypt rot13', () => ['setup', '--encrypt', 'rot13', '--yes'], 2, /^--encrypt: "rot13" is not one of none, passphrase, public-key$/],
  ['setup: --resume-offset -1', () => ['setup', '--resume-offset=-1', '--yes'], 2, /^--resume-offset: "-1" is not a page count$/],
  ['hibernate --systemd: with a flag hibernate does not take', () => ['hibernate', '--systemd', '--undo'], 2, /^hibernate does not take --undo$/],
];

/** Traces of a stack or of Node's own error printing. */
const STACK_TRACES = [/^\s+at /m, /node:internal/, /^\w*Error\b.*:/m, /^Uncaught/m];

describe('bad input to the built CLI: one line, exit code 2 or 1, no stack trace', () => {
  test.each([...EVERY_COMMAND, ...BAD_MACHINES, ...SETTINGS, ...SPECIFIC])('%s', async (_what, args, exitCode, message) => {
    const { code, stdout, stderr } = await runCli(args(f));
    expect(code, stderr).toBe(exitCode);
    const [first, ...rest] = stderr.split('\n');
    expect(first).toMatch(/^hiberkit: /);
    expect(first!.slice('hiberkit: '.length)).toMatch(message);
    if (exitCode === 2) {
      expect(rest.join('\n')).toMatch(/^\nusage: hiberkit <command> \[options\]\n/);
    } else {
      expect(rest).toEqual(['']);
    }
    for (const trace of STACK_TRACES) expect(`${stdout}\n${stderr}`).not.toMatch(trace);
  });
});

describe('errors nobody expected', () => {
  const args = (x: Fixtures) => ['inspect', '--emulate', x.machine.replace(/machine$/, 'shapeless')];
  beforeAll(() => {
    // A machine whose kernel state is valid JSON but not a running kernel's: the emulator trips over it somewhere deep.
    createEmulatedMachine(join(root, 'shapeless'), { config: SMALL });
    writeFileSync(join(root, 'shapeless', 'kernel.json'), '{}\n');
  });

  test('one line with a hint that --debug shows where', async () => {
    const { code, stderr } = await runCli(args(f));
    expect(code).toBe(1);
    expect(stderr).toMatch(/^hiberkit: .* \(an unexpected error: run with --debug or HIBERKIT_DEBUG=1 to see where it came from\)\n$/);
  });

  test('--debug adds the stack', async () => {
    const { code, stderr } = await runCli([...args(f), '--debug']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^hiberkit: [^\n]+\n\w*Error: [^\n]+\n {4}at /);
  });
});

test('--version prints the version of the package', async () => {
  const { code, stdout, stderr } = await runCli(['--version']);
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  expect(stdout).toMatch(/^hiberkit \d+\.\d+\.\d+\n$/);
});
