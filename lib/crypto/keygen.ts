/** `hiberkit keygen`: writes a key pair for public-key encrypted images, never overwriting by accident. */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HiberkitError } from '../errors.js';
import type { Settings } from '../config.js';
import { generateKeyFiles } from './key-files.js';
import { wipe } from './keys.js';
import { readNewPassphrase } from './passphrase.js';
import { passphraseSource } from './image-keys.js';

export function writeKeyFiles(dir: string, settings: Settings, force: boolean): { secretPath: string; publicPath: string } {
  const secretPath = join(dir, 'key');
  const publicPath = join(dir, 'key.pub');
  if (!force && (existsSync(secretPath) || existsSync(publicPath))) {
    throw new HiberkitError('KEY_EXISTS', `${secretPath} or ${publicPath} exists; images sealed to it would become unreadable: use --force to replace it, or --out DIR`);
  }
  const passphrase = readNewPassphrase(passphraseSource(settings, 'Passphrase for the new private key: '));
  try {
    const files = generateKeyFiles(passphrase);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(secretPath, files.secretText, { mode: 0o600 });
    writeFileSync(publicPath, files.publicText, { mode: 0o644 });
    return { secretPath, publicPath };
  } finally {
    wipe(passphrase);
  }
}
