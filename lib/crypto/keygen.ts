/**
 * `hiberkit keygen`: writes a key pair for public-key encrypted images and the key that signs
 * them, never overwriting by accident, and records in the config file that this machine expects
 * encrypted images, so resume refuses a plain one put in their place.
 */
import { chmodSync, closeSync, constants as fsConstants, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { HiberkitError } from '../errors.js';
import type { Settings } from '../config.js';
import { generateKeyFiles } from './key-files.js';
import { assertStrongEnough, wipe } from './keys.js';
import { readNewPassphrase } from './passphrase.js';
import { passphraseSource } from './image-keys.js';

export interface KeyFilePaths {
  secretPath: string;
  publicPath: string;
  signingPath: string;
}

export function keyFilePaths(dir: string): KeyFilePaths {
  return { secretPath: join(dir, 'key'), publicPath: join(dir, 'key.pub'), signingPath: join(dir, 'sign.key') };
}

export function writeKeyFiles(dir: string, settings: Settings, force: boolean): KeyFilePaths {
  const paths = keyFilePaths(dir);
  const existing = Object.values(paths).filter((path) => existsSync(path));
  if (!force && existing.length > 0) {
    throw new HiberkitError('KEY_EXISTS', `${existing.join(' and ')} exists; images sealed to it would become unreadable: use --force to replace it, or --out DIR`);
  }
  const passphrase = readNewPassphrase(passphraseSource(settings, 'Passphrase for the new private key: '));
  try {
    assertStrongEnough(passphrase);
    const files = generateKeyFiles(passphrase);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // mkdir keeps an existing directory's mode: a key directory anyone can list or enter is refused no more, it is fixed.
    chmodSync(dir, 0o700);
    replaceFile(paths.signingPath, files.signingText, 0o600);
    replaceFile(paths.secretPath, files.secretText, 0o600);
    replaceFile(paths.publicPath, files.publicText, 0o644);
    return paths;
  } finally {
    wipe(passphrase);
  }
}

/**
 * Writes `path` as a new file with exactly `mode`: created next to it with O_EXCL (so no older
 * file's permissions or owner carry over, and no link planted there is followed), synced, then
 * renamed over the old one.
 */
export function replaceFile(path: string, text: string, mode: number): void {
  const temporary = `${path}.new-${process.pid}`;
  const fd = openSync(temporary, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW, mode);
  const bytes = Buffer.from(text);
  try {
    for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(temporary, { force: true });
    throw err;
  } finally {
    bytes.fill(0);
  }
  closeSync(fd);
  renameSync(temporary, path);
}

/**
 * Sets `name = value` lines in a config file (creating it if needed): an existing line of that
 * name is replaced where it is, a missing one appended; a null value removes the line. Returns
 * each name's value before (null: it was not set), so that a change can be undone. Used by keygen
 * to make "this machine expects encrypted images" persistent, and by setup.
 */
export function updateConfigFile(path: string, values: Record<string, string | null>): Record<string, string | null> {
  let lines: string[] = [];
  try {
    lines = readFileSync(path, 'utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new HiberkitError('BAD_CONFIG', `cannot read ${path}: ${(err as Error).message}`);
  }
  const previous: Record<string, string | null> = {};
  for (const [name, value] of Object.entries(values)) {
    const at = lines.findIndex((l) => settingName(l) === name);
    previous[name] = at >= 0 ? lines[at]!.replace(/#.*/, '').slice(lines[at]!.indexOf('=') + 1).trim() : null;
    if (value === null) {
      if (at >= 0) lines.splice(at, 1);
    } else if (at >= 0) {
      lines[at] = `${name} = ${value}`;
    } else {
      lines.push(`${name} = ${value}`);
    }
  }
  replaceFile(path, lines.length ? `${lines.join('\n')}\n` : '', 0o644);
  return previous;
}

/** The setting a config line sets ('' for a blank or comment line). */
function settingName(line: string): string {
  const text = line.replace(/#.*/, '');
  return text.includes('=') ? text.split('=')[0]!.trim() : '';
}
