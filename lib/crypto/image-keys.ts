/**
 * The bridge between the user's settings and an image's keys: what hibernate seals the data key
 * with, and how resume gets it back (passphrase from a file, a descriptor, or the terminal with a
 * limited number of tries).
 */
import { readFileSync } from 'node:fs';
import { HiberkitError } from '../errors.js';
import { machinePaths } from '../machine-paths.js';
import type { ImageEncryption } from '../backend.js';
import type { Settings } from '../config.js';
import { newDataKey, openDataKey, sealDataKey, wipe } from './keys.js';
import { openSecretKey, parsePublicKey } from './key-files.js';
import { readNewPassphrase, readPassphrase, type PassphraseSource } from './passphrase.js';

export const DEFAULT_PUBLIC_KEY = machinePaths().publicKey;
export const DEFAULT_SECRET_KEY = machinePaths().secretKey;
const DEFAULT_TRIES = 3;

export function passphraseSource(settings: Settings, prompt: string): PassphraseSource {
  if (settings.passphraseFile !== undefined) return { file: settings.passphraseFile };
  if (settings.passphraseFd !== undefined) return { fd: settings.passphraseFd };
  return { prompt };
}

/** The encryption of a new image, or undefined when the settings ask for none. */
export function sealForHibernation(settings: Settings): ImageEncryption | undefined {
  const mode = settings.encrypt ?? 'none';
  if (mode === 'none') return undefined;
  const dataKey = newDataKey();
  if (mode === 'public-key') {
    const file = settings.publicKey ?? DEFAULT_PUBLIC_KEY;
    const publicKey = parsePublicKey(readKeyFile(file, 'public key'));
    return { keyBlock: sealDataKey(dataKey, { publicKey }), dataKey };
  }
  const passphrase = readNewPassphrase(passphraseSource(settings, 'Passphrase for the hibernation image: '));
  try {
    return { keyBlock: sealDataKey(dataKey, { passphrase }), dataKey };
  } finally {
    wipe(passphrase);
  }
}

/**
 * The `unlock` callback for openImage: recovers an image's data key. A passphrase from a file or
 * descriptor gets one try (it cannot change); one typed at the terminal gets `passphraseTries`.
 */
export function unlockerFor(settings: Settings, progress: (message: string) => void) {
  return async (keyBlock: Uint8Array, kind: 'passphrase' | 'public-key'): Promise<Uint8Array> => {
    const source = passphraseSource(settings, kind === 'passphrase' ? 'Passphrase to resume: ' : 'Passphrase of the hiberkit private key: ');
    const tries = 'prompt' in source ? Math.max(1, settings.passphraseTries ?? DEFAULT_TRIES) : 1;
    const secretText = kind === 'public-key' ? readKeyFile(settings.secretKey ?? DEFAULT_SECRET_KEY, 'private key') : '';
    for (let attempt = 1; ; attempt++) {
      const passphrase = readPassphrase(source);
      let privateKey: Buffer | undefined;
      try {
        if (kind === 'passphrase') return openDataKey(keyBlock, { passphrase });
        privateKey = openSecretKey(secretText, passphrase);
        return openDataKey(keyBlock, { privateKey });
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

/** Failures that mean "not the right secret", as opposed to a damaged image. */
export function isKeyFailure(err: unknown): boolean {
  return err instanceof HiberkitError && ['WRONG_PASSPHRASE', 'WRONG_KEY', 'KEY_REQUIRED', 'NO_PASSPHRASE', 'BAD_KEY_FILE'].includes(err.code);
}

function readKeyFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new HiberkitError('BAD_KEY_FILE', `cannot read the ${what} ${path}: ${(err as Error).message} (make one with \`hiberkit keygen\`)`);
  }
}
