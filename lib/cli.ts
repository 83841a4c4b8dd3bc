#!/usr/bin/env node
/**
 * The `hiberkit` command: a thin layer over the library. Parses flags, merges them over
 * /etc/hiberkit.conf, picks the backend, calls one library function, prints, sets the exit code.
 */
import { existsSync, realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig, parseSetting, parseSize, type Settings } from './config.js';
import { machinePaths } from './machine-paths.js';
import { assertEmulatedMachine, openBackend } from './select-backend.js';
import { checkHibernation, mib } from './preflight.js';
import { HiberkitError, SnapshotError } from './errors.js';
import { describeError, isSystemError } from './describe-error.js';
import type { ImageReport } from './inspect.js';
import type { ImageLookup } from './target.js';

// Each command imports what it runs when it runs: node compiles every module it loads, which
// in a slow initramfs boot costs seconds, and `resume` with no image must return at once
// rather than first compile the emulator (demo), the key tools and the hibernation path.

const USAGE = `usage: hiberkit <command> [options]

commands:
  hibernate     save this machine to swap and power off; prints "resumed" when it comes back
                [--resume-device DEV] [--resume-offset PAGES] [--image-size BYTES]
                [--compress lz4|none] [--power-off platform|shutdown|reboot]
                [--encrypt none|passphrase|public-key] [--public-key FILE] [--signing-key FILE]
  resume        from the initramfs: restore a hiberkit image if there is one, else return 0
                [--resume-device DEV] [--resume-offset PAGES] [--secret-key FILE]
                [--passphrase-tries N] [--on-bad-passphrase keep|discard]
                [--dry-run: check everything, restore nothing, leave a good image in place]
  inspect       tell whether an image is there and what it is   [--json] [--resume-device DEV] [--resume-offset PAGES]
  discard       drop an image without restoring it, putting the swap signature back
  keygen        make the keys for encrypted, signed images and record encrypt = public-key in the config
                [--out DIR] [--force] [--config FILE] [--passphrase-file FILE]
  swap-offset FILE   print the resume offset (pages) of a swap file
  doctor        check whether this machine can hibernate and resume with hiberkit, and its installation
  setup         install hiberkit on this machine: /etc/hiberkit.conf, the resume step in the initramfs,
                \`systemctl hibernate\` through hiberkit; shows what it will do and asks (--yes: do not ask)
                [--resume-device DEV] [--resume-offset PAGES] [--compress lz4|none]
                [--encrypt none|passphrase|public-key] [--yes]
  setup --undo  remove what setup installed and regenerate the initramfs   [--yes]
  demo          hibernate and resume an emulated machine, no root needed   [--dir DIR] [--memory SIZE]
  machine create DIR   make an emulated machine in DIR (default: 256 MiB of RAM, a swap file as large)
                [--memory SIZE] [--swap SIZE]
  machine show DIR     what the emulated machine in DIR is, whether it runs, whether an image waits

every command:
  --emulate DIR   run against the emulated machine in DIR (its /etc is DIR/etc)
  --config FILE   read defaults from FILE instead of /etc/hiberkit.conf
  --debug         show the stack of an unexpected error (or set HIBERKIT_DEBUG=1)

hibernate, resume, inspect, discard, keygen:
  --passphrase-file FILE, --passphrase-fd N   read a passphrase without a terminal
hibernate:
  --systemd       run systemd's system-sleep hooks around it (what systemd-hibernate.service does after setup)

hiberkit --version   print the version
`;

const OPTIONS = {
  'resume-device': { type: 'string' },
  'resume-offset': { type: 'string' },
  'image-size': { type: 'string' },
  compress: { type: 'string' },
  'power-off': { type: 'string' },
  encrypt: { type: 'string' },
  'public-key': { type: 'string' },
  'secret-key': { type: 'string' },
  'signing-key': { type: 'string' },
  'passphrase-file': { type: 'string' },
  'passphrase-fd': { type: 'string' },
  'passphrase-tries': { type: 'string' },
  'on-bad-passphrase': { type: 'string' },
  out: { type: 'string' },
  force: { type: 'boolean' },
  emulate: { type: 'string' },
  config: { type: 'string' },
  json: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  dir: { type: 'string' },
  memory: { type: 'string' },
  debug: { type: 'boolean' },
  version: { type: 'boolean' },
  swap: { type: 'string' },
  undo: { type: 'boolean' },
  yes: { type: 'boolean' },
  systemd: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const SETTING_FLAGS = [
  'resume-device',
  'resume-offset',
  'image-size',
  'compress',
  'power-off',
  'encrypt',
  'public-key',
  'secret-key',
  'signing-key',
  'passphrase-file',
  'passphrase-fd',
  'passphrase-tries',
  'on-bad-passphrase',
] as const satisfies readonly (keyof typeof OPTIONS)[];

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

class UsageError extends Error {}

/** The config file's settings (/etc/hiberkit.conf, or DIR/etc/hiberkit.conf with --emulate) and the flags' apart. */
function settingLayers(values: Values, { configMayBeMissing = false } = {}): { config: Settings; flags: Settings } {
  const paths = machinePaths(values.emulate);
  const missing = configMayBeMissing && values.config !== undefined && !existsSync(values.config);
  const config: Settings = missing ? {} : loadConfig(values.config, paths.configFile);
  const flags: Settings = {};
  for (const flag of SETTING_FLAGS) {
    const value = values[flag];
    if (typeof value === 'string') {
      try {
        Object.assign(flags, parseSetting(flag, value));
      } catch (err) {
        throw new UsageError(`--${flag}: ${(err as Error).message}`);
      }
    }
  }
  return { config, flags };
}

/** The flags over the config file's settings. */
function settingsFrom(values: Values, options: { configMayBeMissing?: boolean } = {}): Settings {
  const { config, flags } = settingLayers(values, options);
  return { ...config, ...flags };
}

/**
 * For the commands that look for an image (resume, inspect, discard): the same, except that the
 * config file's resume device and offset travel apart, below the kernel command line
 * (lib/target.ts resumeTarget).
 */
function lookupSettingsFrom(values: Values): Settings & ImageLookup {
  const { config, flags } = settingLayers(values);
  const { resumeDevice, resumeOffset, ...rest } = config;
  return { ...rest, ...flags, configFile: { resumeDevice, resumeOffset } };
}

/** A size flag (`--memory 512M`) in bytes, or undefined when not given. */
function sizeFlag(values: Values, flag: 'memory' | 'swap'): number | undefined {
  const value = values[flag];
  if (value === undefined) return undefined;
  try {
    return parseSize(value);
  } catch (err) {
    throw new UsageError(`--${flag}: ${(err as Error).message}`);
  }
}

const say = (message: string) => process.stdout.write(`hiberkit: ${message}\n`);

const COMMANDS: Record<string, (values: Values, args: string[]) => Promise<number>> = {
  async hibernate(values) {
    const settings = settingsFrom(values);
    const backend = await openBackend({ emulate: values.emulate });
    const { hibernate } = await import('./hibernate.js');
    // systemd-sleep runs these around a hibernation; after `setup`, systemd-hibernate.service runs this instead.
    const hooks = values.systemd ? await import('./sleep-hooks.js') : undefined;
    await hooks?.runSleepHooks('pre', say);
    try {
      const result = await hibernate({ ...settings, backend, onProgress: say, progressFd: process.stderr.fd });
      say(`resumed after hibernating to ${result.blockDevice} (${((result.elapsedMs) / 1000).toFixed(1)} s wall clock)`);
    } finally {
      await hooks?.runSleepHooks('post', say);
    }
    return 0;
  },

  async resume(values) {
    const settings = lookupSettingsFrom(values);
    const backend = await openBackend({ emulate: values.emulate });
    const { resume } = await import('./resume.js');
    const result = await resume({ ...settings, backend, dryRun: values['dry-run'], onProgress: say, progressFd: process.stderr.fd });
    switch (result.status) {
      case 'no-resume-device':
        say('no hibernation image: no resume device configured (resume=, --resume-device or /etc/hiberkit.conf)');
        return 0;
      case 'noresume':
        say('noresume is on the kernel command line: not resuming; the boot continues');
        return 0;
      case 'image-ok':
        say(`image OK: ${result.blockDevice} holds ${result.streamPages} pages (${result.storedBytes} bytes stored); dry run: left in place`);
        return 0;
      case 'no-image':
        say(`no hibernation image on ${result.blockDevice}; the boot continues`);
        return 0;
      case 'restored':
        say(`image restored from ${result.blockDevice}: the emulated machine continues in its hibernated session`);
        return 0;
    }
  },

  async inspect(values) {
    const backend = await openBackend({ emulate: values.emulate });
    const { inspect } = await import('./inspect.js');
    const report = await inspect({ ...lookupSettingsFrom(values), backend });
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : describeImage(report));
    return report.valid === false ? 1 : 0;
  },

  async discard(values) {
    const backend = await openBackend({ emulate: values.emulate });
    const { discard } = await import('./discard.js');
    const result = await discard({ ...lookupSettingsFrom(values), backend });
    say(result.discarded ? `image on ${result.blockDevice} discarded; the swap signature is back` : `no hiberkit image on ${result.blockDevice}`);
    return 0;
  },

  async keygen(values) {
    // An emulated machine's keys go to its own /etc, never the host's.
    if (values.emulate !== undefined) await assertEmulatedMachine(values.emulate);
    const { writeKeyFiles, updateConfigFile } = await import('./crypto/keygen.js');
    const paths = machinePaths(values.emulate);
    const dir = values.out ?? paths.keyDirectory;
    // keygen creates the config file it is pointed at when there is none yet.
    const settings = settingsFrom(values, { configMayBeMissing: true });
    const { secretPath, publicPath, signingPath } = writeKeyFiles(dir, settings, values.force ?? false);
    say(`wrote ${secretPath} (private, sealed with your passphrase), ${publicPath} and ${signingPath} (signs images; root-only, keep it out of the initramfs)`);
    // Persistent, so that resume refuses a plain image in place of an encrypted one.
    const config = values.config ?? (values.out === undefined ? paths.configFile : undefined);
    if (config) {
      updateConfigFile(config, dir === paths.keyDirectory ? { encrypt: 'public-key' } : { encrypt: 'public-key', 'public-key': publicPath, 'secret-key': secretPath });
      say(`set encrypt = public-key in ${config}: resume refuses plain images from now on`);
      if (values.emulate !== undefined) {
        say(`\`hiberkit hibernate --emulate ${values.emulate}\` seals images to it; \`hiberkit resume --emulate ${values.emulate}\` opens them with ${secretPath}`);
      } else {
        say(`resume needs ${secretPath} and ${config} in the initramfs`);
      }
    } else {
      say(`hibernate with: encrypt = public-key, public-key = ${publicPath}; resume needs ${secretPath} in the initramfs (give --config FILE to record this)`);
    }
    return 0;
  },

  async 'swap-offset'(values, args) {
    const backend = await openBackend({ emulate: values.emulate });
    const { blockDevice, offsetPages } = backend.system.swapFileOffset(args[0]!);
    process.stdout.write(`${args[0]} is on ${blockDevice}; resume offset (pages): ${offsetPages}\n`);
    return 0;
  },

  async doctor(values) {
    const backend = await openBackend({ emulate: values.emulate });
    const findings = checkHibernation(backend);
    // An emulated machine has no initramfs or systemd of its own to look at.
    if (values.emulate === undefined) {
      const { installationFindings } = await import('./setup/command.js');
      findings.push(...installationFindings(backend.system));
    }
    for (const f of findings) process.stdout.write(`${f.ok ? 'ok  ' : f.warning ? 'warn' : 'FAIL'}  ${f.summary}${f.ok ? '' : `\n      fix: ${f.fix}`}\n`);
    const failed = findings.filter((f) => !f.ok && !f.warning).length;
    process.stdout.write(failed ? `${failed} problem(s): this machine cannot hibernate with hiberkit yet\n` : 'this machine can hibernate with hiberkit\n');
    return failed ? 1 : 0;
  },

  async setup(values) {
    if (values.emulate !== undefined || values.config !== undefined) {
      throw new UsageError('setup sets up this machine and its /etc/hiberkit.conf: it takes neither --emulate nor --config');
    }
    const given = SETUP_SETTING_FLAGS.find((flag) => values[flag] !== undefined);
    if (values.undo && given) throw new UsageError(`setup --undo takes no --${given}: it removes what setup installed`);
    const settings = values.undo ? {} : settingsFrom(values);
    const terminal = process.stdin.isTTY === true && process.stdout.isTTY === true;
    if (!values.yes && !terminal) {
      throw new UsageError('setup changes this system (the initramfs, /etc, systemd): run it on a terminal to confirm, or pass --yes');
    }
    const { liveSetupFacts, runSetup, runUndo } = await import('./setup/command.js');
    const { runCommand } = await import('./setup/facts.js');
    const run = { ask: !values.yes, print: say, runner: runCommand };
    if (values.undo) return await runUndo({ ...run, root: '/', privileged: (await openBackend()).system.isPrivileged() });
    return await runSetup({ ...run, settings, facts: await liveSetupFacts() });
  },

  async machine(values, args) {
    const [action, dir, ...extra] = args;
    if (!(action === 'create' || action === 'show') || dir === undefined || extra.length > 0) {
      throw new UsageError('machine takes `create DIR [--memory SIZE] [--swap SIZE]` or `show DIR`');
    }
    const { createMachine, showMachine } = await import('./machine-command.js');
    if (action === 'show') {
      process.stdout.write(showMachine(dir));
      return 0;
    }
    process.stdout.write(createMachine(dir, { memoryBytes: sizeFlag(values, 'memory'), swapBytes: sizeFlag(values, 'swap') }));
    return 0;
  },

  async demo(values) {
    const { runDemo, demoMemoryBytes } = await import('./demo.js');
    let memoryBytes: number | undefined;
    try {
      memoryBytes = values.memory === undefined ? undefined : demoMemoryBytes(values.memory);
    } catch (err) {
      throw new UsageError(`--memory: ${(err as Error).message}`);
    }
    await runDemo({ dir: values.dir ?? values.emulate, memoryBytes, print: (line) => process.stdout.write(`${line}\n`) });
    return 0;
  },
};

function describeImage(report: ImageReport): string {
  const where = `${report.blockDevice} (header page ${report.resumePage})`;
  if (!report.present) return `no hiberkit image on ${where}\n`;
  const verdict = report.valid === undefined ? 'encrypted, not verified (give --passphrase-file to check it)' : report.valid ? 'valid' : `NOT VALID (${report.problem?.code})`;
  const lines = [`hiberkit image on ${where}: ${verdict}`];
  if (report.problem) lines.push(`  problem:     ${report.problem.message}`);
  if (report.streamBytes !== undefined) {
    lines.push(
      `  image:       ${mib(report.streamBytes)} stored as ${mib(report.storedBytes!)} (${report.compression}, ratio ${report.ratio!.toFixed(2)})`,
      `  created:     ${report.createdAt}${report.createdAtVerified ? '' : ' (not verified)'}`,
      `  kernel:      ${report.kernelRelease}`,
      `  machine:     ${report.machineId}`,
      `  power-off:   ${report.platformMode ? 'platform' : 'shutdown/reboot'}`,
      `  encryption:  ${report.encrypted ? `AES-256-GCM, key sealed with ${report.keyKind}` : 'none (CRC32C checksums only)'}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** The settings setup records in /etc/hiberkit.conf. */
const SETUP_SETTING_FLAGS = ['resume-device', 'resume-offset', 'compress', 'encrypt'] as const;

/** Flags every command takes. */
const COMMON_FLAGS: readonly string[] = ['emulate', 'config', 'debug', 'help', 'version'];

/**
 * Each command's flags besides the common ones: a flag it would ignore is a mistake worth saying.
 * A command missing here takes only the common flags.
 */
const COMMAND_FLAGS: Record<string, readonly string[]> = {
  hibernate: [...SETTING_FLAGS, 'systemd'],
  resume: [...SETTING_FLAGS, 'dry-run'],
  inspect: [...SETTING_FLAGS, 'json'],
  discard: SETTING_FLAGS,
  keygen: [...SETTING_FLAGS, 'out', 'force'],
  'swap-offset': [],
  doctor: [],
  setup: [...SETUP_SETTING_FLAGS, 'undo', 'yes'],
  demo: ['dir', 'memory'],
  machine: ['memory', 'swap'],
};

/** How many positional arguments each command takes after its name. */
const POSITIONALS: Record<string, { count: number; what: string }> = {
  'swap-offset': { count: 1, what: 'one FILE' },
  machine: { count: 2, what: '`create DIR [--memory SIZE] [--swap SIZE]` or `show DIR`' },
};

async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values } = parsed;
  const [command, ...args] = parsed.positionals;
  if (values.version) {
    const { packageVersion } = await import('./package-info.js');
    process.stdout.write(`hiberkit ${packageVersion()}\n`);
    return 0;
  }
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  const runCommand = COMMANDS[command];
  if (!runCommand) throw new UsageError(`unknown command "${command}"`);
  const own = COMMAND_FLAGS[command] ?? [];
  const foreign = Object.keys(values).find((flag) => !COMMON_FLAGS.includes(flag) && !own.includes(flag));
  if (foreign) throw new UsageError(`${command} does not take --${foreign}`);
  const expected = POSITIONALS[command] ?? { count: 0, what: 'no arguments' };
  if (args.length !== expected.count) {
    throw new UsageError(`${command} takes ${expected.what}${args.length ? ` (got ${args.map((a) => JSON.stringify(a)).join(' ')})` : ''}`);
  }
  if (values.emulate === '') throw new UsageError('--emulate needs the directory of an emulated machine');
  return await runCommand(values, args);
}

/**
 * What the user sees of a failure: one line and an exit code, 2 for a usage error (with the usage
 * text), 1 for the rest. An error hiberkit did not expect also names --debug, which adds its stack.
 */
function report(err: unknown, debug: boolean): number {
  if (err instanceof UsageError) {
    process.stderr.write(`hiberkit: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  const expected = err instanceof HiberkitError || err instanceof SnapshotError || isSystemError(err);
  const hint = expected || debug ? '' : ' (an unexpected error: run with --debug or HIBERKIT_DEBUG=1 to see where it came from)';
  process.stderr.write(`hiberkit: ${describeError(err)}${hint}\n`);
  if (debug && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return 1;
}

export async function main(argv: string[]): Promise<number> {
  try {
    return await run(argv);
  } catch (err) {
    return report(err, argv.includes('--debug') || process.env.HIBERKIT_DEBUG === '1');
  }
}

// Run when executed as the `hiberkit` bin (through npm's symlink too), not when imported by tests.
if (process.argv[1] && pathToFileURL(realpathSync(process.argv[1])).href === import.meta.url) {
  process.exitCode = await main(process.argv.slice(2));
}
