/**
 * /etc/hiberkit.conf: defaults for every command, overridden by command-line flags.
 *
 * Format: one `key = value` per line; `#` starts a comment; blank lines are ignored; keys are
 * the long flag names without dashes. Unknown keys and bad values are errors that name the
 * line, so a typo never silently changes how a machine hibernates.
 *
 *   # /etc/hiberkit.conf
 *   resume-device = /dev/vda2       # or UUID=…, LABEL=…, maj:min
 *   resume-offset = 34816           # pages; only for a swap file
 *   image-size    = 500M            # preferred image size (bytes; K, M, G suffixes); default: the kernel's own
 *   compress      = lz4             # lz4 | none
 *   power-off     = platform        # platform | shutdown | reboot
 *   encrypt       = public-key      # none | passphrase | public-key
 *   public-key    = /etc/hiberkit/key.pub
 *   secret-key    = /etc/hiberkit/key
 *   signing-key   = /etc/hiberkit/sign.key   # root-only; never in the initramfs
 *   passphrase-file = /run/keys/hiberkit   # instead of asking on the terminal
 *   passphrase-tries = 3
 *   on-bad-passphrase = keep        # keep | discard
 */
import { readFileSync } from 'node:fs';
import { HiberkitError } from './errors.js';
import { reasonOf } from './describe-error.js';
import { machinePaths } from './machine-paths.js';
import type { PowerOffMethod } from './backend.js';

export const DEFAULT_CONFIG_PATH = machinePaths().configFile;

export interface Settings {
  resumeDevice?: string;
  resumeOffset?: number;
  imageSize?: number;
  compress?: 'lz4' | 'none';
  powerOff?: PowerOffMethod;
  /** Encrypt the image: with a passphrase asked at hibernate and resume, or to a public key (no prompt at hibernate). */
  encrypt?: 'none' | 'passphrase' | 'public-key';
  /** The recipient's public key file (`hiberkit keygen` writes it). */
  publicKey?: string;
  /** The passphrase-protected private key file, for resume. */
  secretKey?: string;
  /** The root-only key that signs public-key images (default: sign.key next to the public key). */
  signingKey?: string;
  /** Read the passphrase from this file instead of asking on the terminal. */
  passphraseFile?: string;
  /** Read the passphrase from this inherited file descriptor. */
  passphraseFd?: number;
  /** How many times resume asks for the passphrase before giving up. */
  passphraseTries?: number;
  /** After the passphrase attempts fail: keep the image for another try, or discard it. */
  onBadPassphrase?: 'keep' | 'discard';
}

type Parser<K extends keyof Settings> = (value: string) => Settings[K];

const PARSERS: { [K in keyof Settings]-?: [string, Parser<K>] } = {
  resumeDevice: ['resume-device', (v) => v],
  resumeOffset: ['resume-offset', (v) => parseCount(v, 'a page count')],
  imageSize: ['image-size', (v) => parseSize(v)],
  compress: ['compress', (v) => oneOf(v, ['lz4', 'none'] as const)],
  powerOff: ['power-off', (v) => oneOf(v, ['platform', 'shutdown', 'reboot'] as const)],
  encrypt: ['encrypt', (v) => oneOf(v, ['none', 'passphrase', 'public-key'] as const)],
  publicKey: ['public-key', (v) => v],
  secretKey: ['secret-key', (v) => v],
  signingKey: ['signing-key', (v) => v],
  passphraseFile: ['passphrase-file', (v) => v],
  passphraseFd: ['passphrase-fd', (v) => parseCount(v, 'a file descriptor number')],
  passphraseTries: ['passphrase-tries', (v) => parseCount(v, 'a number of tries')],
  onBadPassphrase: ['on-bad-passphrase', (v) => oneOf(v, ['keep', 'discard'] as const)],
};

const KEY_BY_NAME = new Map<string, keyof Settings>(
  (Object.keys(PARSERS) as (keyof Settings)[]).map((key) => [PARSERS[key][0], key]),
);

/** Parses one setting given by its flag name (`image-size`), as the CLI and the file both do. */
export function parseSetting(name: string, value: string): Settings {
  const key = KEY_BY_NAME.get(name);
  if (!key) throw new Error(`unknown setting "${name}" (known: ${[...KEY_BY_NAME.keys()].join(', ')})`);
  return { [key]: PARSERS[key][1](value.trim()) } as Settings;
}

export function parseConfig(text: string, source = 'config'): Settings {
  const settings: Settings = {};
  /** The line each key was set on: a key given twice is a mistake, whichever line was meant. */
  const lineOf = new Map<string, number>();
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) return;
    const eq = line.indexOf('=');
    try {
      if (eq < 0) throw new Error('expected "key = value"');
      const name = line.slice(0, eq).trim();
      const setting = parseSetting(name, line.slice(eq + 1));
      const earlier = lineOf.get(name);
      if (earlier !== undefined) throw new Error(`"${name}" is set twice, on lines ${earlier} and ${index + 1}; keep one`);
      lineOf.set(name, index + 1);
      Object.assign(settings, setting);
    } catch (err) {
      throw new HiberkitError('BAD_CONFIG', `${source}:${index + 1}: ${(err as Error).message}`);
    }
  });
  return settings;
}

/**
 * Reads the config file. The default path (`defaultPath`: /etc/hiberkit.conf, or an emulated
 * machine's own) may be absent (no defaults then); a path the user named explicitly must exist.
 */
export function loadConfig(path?: string, defaultPath = DEFAULT_CONFIG_PATH): Settings {
  const file = path ?? defaultPath;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    // ENOTDIR: the default path inside an emulated machine's directory that is no directory (refused as NO_MACHINE next).
    if (!path && ['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '')) return {};
    throw new HiberkitError('BAD_CONFIG', `cannot read the config file ${file}: ${reasonOf(err)}`, { cause: err });
  }
  return parseConfig(text, file);
}

/** `500M` → 524288000. Plain numbers are bytes; K, M, G, T are binary multiples. */
export function parseSize(value: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i.exec(value.trim());
  if (!match) throw new Error(`"${value}" is not a size (examples: 0, 524288000, 500M, 2G)`);
  const power = ' KMGT'.indexOf(match[2]!.toUpperCase() || ' ');
  return Math.round(Number(match[1]) * 1024 ** power);
}

function parseCount(value: string, what: string): number {
  if (!/^\d+$/.test(value)) throw new Error(`"${value}" is not ${what}`);
  return Number(value);
}

function oneOf<T extends string>(value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new Error(`"${value}" is not one of ${allowed.join(', ')}`);
  }
  return value as T;
}
