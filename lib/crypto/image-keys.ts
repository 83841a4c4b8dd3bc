/**
 * The bridge between the user's settings and an image's keys: what hibernate seals the data key
 * with, and how resume gets it back (passphrase from a file, a descriptor, or the terminal with a
 * limited number of tries).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { HiberkitError } from '../errors.js';
import { reasonOf } from '../describe-error.js';
import type { MachinePaths } from '../machine-paths.js';
import type { ImageEncryption } from '../backend.js';
import type { Settings } from '../config.js';
import { assertStrongEnough, newDataKey, openDataKey, sealDataKey, wipe } from './keys.js';
import { openSecretKey, parsePublicKey, parseSigningKey } from './key-files.js';
import { signOrigin } from './origin.js';
import { readNewPassphrase, readPassphrase, type PassphraseSource } from './passphrase.js';
import type { KeyKind, UnlockedKey } from '../image/reader.js';
import { IMAGE_ID_BYTES } from '../image/layout.js';

/** The signing key keygen writes next to the public key: root-only, on the root file system. */
const SIGNING_KEY_NAME = 'sign.key';
const DEFAULT_TRIES = 3;

export function passphraseSource(settings: Settings, prompt: string): PassphraseSource {
  if (settings.passphraseFile !== undefined) return { file: settings.passphraseFile };
  if (settings.passphraseFd !== undefined) return { fd: settings.passphraseFd };
  return { prompt };
}

/**
 * The encryption of a new image, or undefined when the settings ask for none. A public key from a
 * keygen with signing (key.pub v2) makes a signed image: the signing key is read here, before
 * anything is frozen, and a missing one stops the hibernation (resume would refuse an unsigned image).
 */
export function sealForHibernation(
  settings: Settings,
  paths: MachinePaths,
  progress: (message: string) => void = () => {},
): ImageEncryption | undefined {
  const mode = hibernationSealing(settings, paths);
  if (mode === 'none') return undefined;
  const dataKey = newDataKey();
  if (mode === 'public-key') {
    const file = settings.publicKey ?? paths.publicKey;
    const { publicKey, signed } = parsePublicKey(readKeyFile(file, 'public key'));
    const keyBlock = sealDataKey(dataKey, { publicKey });
    if (!signed) {
      progress(`warning: ${file} comes from an older hiberkit keygen without a signing key: anyone who knows it can forge an image; run \`hiberkit keygen --force\``);
      return { keyBlock, dataKey };
    }
    const signingPath = settings.signingKey ?? join(dirname(file), SIGNING_KEY_NAME);
    const signingKey = parseSigningKey(readKeyFile(signingPath, 'signing key'));
    try {
      const imageId = randomBytes(IMAGE_ID_BYTES);
      return { keyBlock, dataKey, origin: { imageId, signature: signOrigin(signingKey, imageId, keyBlock) } };
    } finally {
      wipe(signingKey);
    }
  }
  const passphrase = readNewPassphrase(passphraseSource(settings, 'Passphrase for the hibernation image: '));
  try {
    assertStrongEnough(passphrase);
    return { keyBlock: sealDataKey(dataKey, { passphrase }), dataKey };
  } finally {
    wipe(passphrase);
  }
}

/**
 * How hibernate seals: as resume will expect (expectedSealing), so that keys left by keygen make
 * encrypted images even without an `encrypt` setting, and resume never refuses what hibernate wrote.
 */
export function hibernationSealing(settings: Settings, paths: MachinePaths): KeyKind | 'none' {
  return settings.encrypt ?? expectedSealing(settings, paths) ?? 'none';
}

/**
 * How this machine's images must be sealed, as far as resume can tell: the `encrypt` setting; with
 * none, `public-key` if a key file is configured or the default private key exists (what keygen
 * leaves behind). null: nothing says so, plain images are accepted. Only an explicit
 * `encrypt = none` allows plain images where keys exist.
 */
export function expectedSealing(settings: Settings, paths: MachinePaths): KeyKind | null {
  if (settings.encrypt === 'none') return null;
  if (settings.encrypt) return settings.encrypt;
  const keysConfigured = settings.secretKey !== undefined || settings.publicKey !== undefined || existsSync(paths.secretKey);
  return keysConfigured ? 'public-key' : null;
}

/**
 * The `unlock` callback for openImage: recovers an image's data key (with the verify key that came
 * with the private key, so that openImage checks the image's origin). A passphrase from a file or
 * descriptor gets one try (it cannot change); one typed at the terminal gets `passphraseTries`.
 * An image sealed another way than this machine's (its kind byte is not authenticated yet) is
 * refused before anything is asked.
 */
export function unlockerFor(settings: Settings, paths: MachinePaths, progress: (message: string) => void) {
  const expected = expectedSealing(settings, paths);
  return async (keyBlock: Uint8Array, kind: KeyKind): Promise<UnlockedKey> => {
    if (expected !== null && kind !== expected) {
      throw new HiberkitError('WRONG_KEY', `the image says it is sealed with a ${kind}, but this machine seals its images with a ${expected}: it was not made here, or with other settings (give --encrypt ${kind} to try it)`);
    }
    const source = passphraseSource(settings, kind === 'passphrase' ? 'Passphrase to resume: ' : 'Passphrase of the hiberkit private key: ');
    const tries = 'prompt' in source ? Math.max(1, settings.passphraseTries ?? DEFAULT_TRIES) : 1;
    const secretText = kind === 'public-key' ? readKeyFile(settings.secretKey ?? paths.secretKey, 'private key') : '';
    for (let attempt = 1; ; attempt++) {
      const passphrase = readPassphrase(source);
      let privateKey: Buffer | undefined;
      try {
        if (kind === 'passphrase') return { dataKey: openDataKey(keyBlock, { passphrase }), verifyKey: null };
        const secret = openSecretKey(secretText, passphrase);
        privateKey = secret.privateKey;
        if (!secret.verifyKey) progress('warning: the private key file has no verify key (an older hiberkit keygen): the image\'s origin cannot be checked; run `hiberkit keygen --force`');
        return { dataKey: openDataKey(keyBlock, { privateKey }), verifyKey: secret.verifyKey };
      } catch (err) {
        const wrong = err instanceof HiberkitError && err.code === 'WRONG_PASSPHRASE';
        if (!wrong || attempt >= tries) throw err;
        progress(`wrong passphrase (${tries - attempt} ${tries - attempt === 1 ? 'try' : 'tries'} left)`);
      } finally {
        wipe(passphrase, privateKey);
      }
    }
  };
}

function readKeyFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new HiberkitError('BAD_KEY_FILE', `cannot read the ${what} ${path}: ${reasonOf(err)} (make one with \`hiberkit keygen\`)`, { cause: err });
  }
}
