/**
 * Carries out a setup plan under a root directory, and takes it back. Every change is recorded in
 * /var/lib/hiberkit/setup.json (the files written with their hash, the directories made, each
 * config setting's value before, the HOOKS edit), so that `setup --undo` removes exactly that.
 * A second setup with nothing new changes nothing and regenerates nothing.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { HiberkitError } from '../errors.js';
import { reasonOf } from '../describe-error.js';
import { parseConfig } from '../config.js';
import { replaceFile, updateConfigFile } from '../crypto/keygen.js';
import { INITRD_PATHS } from './boot-script.js';
import type { CommandRunner, SetupFacts } from './facts.js';
import { addHook, MKINITCPIO_PATHS, removeHook } from './mkinitcpio.js';
import { DAEMON_RELOAD, REGENERATE, type SetupPlan } from './plan.js';
import type { Generator } from './facts.js';

export const MANIFEST_PATH = '/var/lib/hiberkit/setup.json';

interface Manifest {
  generator: Generator;
  systemd: boolean;
  /** Each file setup wrote, with the SHA-256 of what it wrote. */
  files: Record<string, string>;
  /** Directories setup made (removed on undo when empty), deepest last. */
  directories: string[];
  /** Whether setup created the config file, and each setting's value before setup first set it (null: unset). */
  config: { created: boolean; previous: Record<string, string | null> };
  mkinitcpioHook: boolean;
}

export interface ChangeLog {
  /** One line per change made. */
  changes: string[];
}

const sha256 = (content: string | Buffer) => createHash('sha256').update(content).digest('hex');

/** What setup installed under root, or null when it has not been run there. */
export function readManifest(root: string): Manifest | null {
  const path = join(root, MANIFEST_PATH);
  if (!existsSync(path)) return null;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Manifest;
  } catch (err) {
    throw new HiberkitError('BAD_CONFIG', `${MANIFEST_PATH} (what setup installed) is damaged: ${(err as Error).message}; remove it and run setup again`, { cause: err });
  }
}

function writeManifest(root: string, manifest: Manifest, changes: string[]): void {
  const path = join(root, MANIFEST_PATH);
  makeDirectories(root, dirname(MANIFEST_PATH), manifest.directories);
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  if (existsSync(path) && readFileSync(path, 'utf8') === text) return;
  replaceFile(path, text, 0o644);
  changes.push(`recorded what setup installed in ${MANIFEST_PATH}`);
}

/** mkdir -p under root, recording each directory it made. */
function makeDirectories(root: string, dir: string, made: string[]): void {
  const missing: string[] = [];
  for (let at = dir; !existsSync(join(root, at)); at = dirname(at)) missing.unshift(at);
  for (const at of missing) {
    mkdirSync(join(root, at), { mode: 0o755 });
    if (!made.includes(at)) made.push(at);
  }
}

function runChecked(runner: CommandRunner, argv: readonly string[]): void {
  const { status, output } = runner(argv);
  if (status !== 0) {
    const last = output.trim().split('\n').at(-1) ?? '';
    throw new HiberkitError('SETUP_COMMAND_FAILED', `\`${argv.join(' ')}\` failed (exit ${status})${last ? `: ${last}` : ''}`);
  }
}

export function applySetup(plan: SetupPlan, facts: SetupFacts, runner: CommandRunner): ChangeLog {
  const { root } = facts;
  const changes: string[] = [];
  const earlier = readManifest(root);
  const manifest: Manifest = earlier ?? {
    generator: plan.generator,
    systemd: facts.systemd,
    files: {},
    directories: [],
    config: { created: !existsSync(join(root, INITRD_PATHS.config)), previous: {} },
    mkinitcpioHook: false,
  };
  if (earlier && earlier.generator !== plan.generator) {
    throw new HiberkitError('SETUP_CHANGED', `setup was done for ${earlier.generator}, and this system now uses ${plan.generator}: run \`hiberkit setup --undo\` first, then setup again`);
  }

  const configPath = join(root, INITRD_PATHS.config);
  const configText = existsSync(configPath) ? readFileSync(configPath, 'utf8') : '';
  const current = currentSettings(configText, configPath);
  const configChanges = Object.fromEntries(Object.entries(plan.config).filter(([name, value]) => (current[name] ?? null) !== value));
  if (Object.keys(configChanges).length > 0) {
    const before = updateConfigFile(configPath, configChanges);
    for (const [name, value] of Object.entries(before)) {
      if (!(name in manifest.config.previous)) manifest.config.previous[name] = value;
    }
    changes.push(`set ${Object.entries(configChanges).map(([name, value]) => (value === null ? `no ${name}` : `${name} = ${value}`)).join(', ')} in ${INITRD_PATHS.config}`);
  }

  for (const file of plan.files) {
    const hash = sha256(file.content);
    const path = join(root, file.path);
    const same = existsSync(path) && sha256(readFileSync(path)) === hash && (statSync(path).mode & 0o777) === file.mode;
    manifest.files[file.path] = hash;
    if (same) continue;
    makeDirectories(root, dirname(file.path), manifest.directories);
    writeFileSync(path, file.content, { mode: file.mode });
    chmodSync(path, file.mode);
    changes.push(`wrote ${file.path}`);
  }

  if (plan.mkinitcpioHook) {
    const path = join(root, MKINITCPIO_PATHS.config);
    const text = readFileSync(path, 'utf8');
    const edited = addHook(text);
    manifest.mkinitcpioHook = true;
    if (edited !== text) {
      replaceFile(path, edited, statSync(path).mode & 0o777);
      changes.push(`added hiberkit to HOOKS in ${MKINITCPIO_PATHS.config}`);
    }
  }

  writeManifest(root, manifest, changes);
  // The initramfs and systemd only need to hear about it when an installed file or setting changed.
  if (changes.length > 0) for (const argv of plan.commands) runChecked(runner, argv);
  pointKernelAt(root, plan, changes);
  return { changes };
}

/** The raw value of each setting in a config file (it must parse: setup never copies a broken config into the initramfs). */
function currentSettings(text: string, path: string): Record<string, string> {
  parseConfig(text, path);
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const bare = line.replace(/#.*/, '');
    const eq = bare.indexOf('=');
    if (eq > 0) values[bare.slice(0, eq).trim()] = bare.slice(eq + 1).trim();
  }
  return values;
}

/**
 * Tells the running kernel where the resume area is, as the initramfs will at every boot, so that
 * logind allows `systemctl hibernate` before the next boot. Harmless on a running system: the
 * active swap area's header is a plain swap signature, so the kernel's look for its own image
 * there finds none.
 */
function pointKernelAt(root: string, plan: SetupPlan, changes: string[]): void {
  const resume = join(root, '/sys/power/resume');
  const offset = join(root, '/sys/power/resume_offset');
  if (!existsSync(resume)) return;
  const { device, offsetPages } = plan.kernelResume;
  try {
    const hasOffset = existsSync(offset);
    if (readFileSync(resume, 'utf8').trim() === device && (!hasOffset || readFileSync(offset, 'utf8').trim() === String(offsetPages))) return;
    // The offset first: writing resume makes the kernel look for its own image there at once.
    if (hasOffset) writeFileSync(offset, `${offsetPages}\n`);
    writeFileSync(resume, `${device}\n`);
    changes.push(`set /sys/power/resume to ${device} (offset ${offsetPages}) for this boot`);
  } catch (err) {
    // The initramfs sets it at every boot: only this boot's `systemctl hibernate` may be refused.
    changes.push(`could not set /sys/power/resume for this boot (${reasonOf(err)}): the initramfs sets it from the next boot on`);
  }
}

/** Removes what setup installed (nothing else), then regenerates the initramfs and reloads systemd. */
export function undoSetup(root: string, runner: CommandRunner): ChangeLog {
  const manifest = readManifest(root);
  const changes: string[] = [];
  if (!manifest) return { changes };

  for (const path of Object.keys(manifest.files)) {
    if (!existsSync(join(root, path))) continue;
    rmSync(join(root, path), { force: true });
    changes.push(`removed ${path}`);
  }

  if (manifest.mkinitcpioHook) {
    const path = join(root, MKINITCPIO_PATHS.config);
    if (existsSync(path)) {
      const text = readFileSync(path, 'utf8');
      const edited = removeHook(text);
      if (edited !== text) {
        replaceFile(path, edited, statSync(path).mode & 0o777);
        changes.push(`removed hiberkit from HOOKS in ${MKINITCPIO_PATHS.config}`);
      }
    }
  }

  const configPath = join(root, INITRD_PATHS.config);
  if (existsSync(configPath) && Object.keys(manifest.config.previous).length > 0) {
    updateConfigFile(configPath, manifest.config.previous);
    const names = Object.keys(manifest.config.previous);
    changes.push(`put back ${names.join(', ')} in ${INITRD_PATHS.config} as ${names.length === 1 ? 'it was' : 'they were'}`);
    if (manifest.config.created && Object.keys(currentSettings(readFileSync(configPath, 'utf8'), configPath)).length === 0) {
      rmSync(configPath);
      changes.push(`removed ${INITRD_PATHS.config} (setup had created it)`);
    }
  }

  rmSync(join(root, MANIFEST_PATH), { force: true });
  for (const dir of [...manifest.directories].reverse()) {
    const path = join(root, dir);
    if (existsSync(path) && readdirSync(path).length === 0) rmdirSync(path);
  }
  runChecked(runner, REGENERATE[manifest.generator]);
  if (manifest.systemd) runChecked(runner, DAEMON_RELOAD);
  return { changes };
}
