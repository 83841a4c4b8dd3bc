/**
 * The key pair files `hiberkit keygen` writes. The public key is one line anyone may read; the
 * private key is sealed with a passphrase by the same mechanism as an image's data key (scrypt +
 * AES-256-GCM), so it is never on disk in clear.
 *
 *   /etc/hiberkit/key.pub   hiberkit-public-key-v1:<base64url of 32 bytes>
 *   /etc/hiberkit/key       # comment lines
 *                           hiberkit-secret-key-v1:<base64url of the 128-byte sealed block>
 */
import { HiberkitError } from '../errors.js';
import { generateRawKeyPair, openDataKey, sealDataKey, wipe } from './keys.js';

const PUBLIC_PREFIX = 'hiberkit-public-key-v1:';
const SECRET_PREFIX = 'hiberkit-secret-key-v1:';

export function generateKeyFiles(passphrase: Uint8Array): { publicText: string; secretText: string } {
  const { publicKey, privateKey } = generateRawKeyPair();
  try {
    const publicLine = `${PUBLIC_PREFIX}${publicKey.toString('base64url')}`;
    const sealed = sealDataKey(privateKey, { passphrase });
    return {
      publicText: `${publicLine}\n`,
      secretText: `# hiberkit private key, sealed with a passphrase (scrypt, AES-256-GCM)\n# public key: ${publicLine}\n${SECRET_PREFIX}${sealed.toString('base64url')}\n`,
    };
  } finally {
    wipe(privateKey);
  }
}

export function parsePublicKey(text: string): Buffer {
  const line = findLine(text, PUBLIC_PREFIX, 'public key');
  const key = Buffer.from(line, 'base64url');
  if (key.length !== 32) throw new HiberkitError('BAD_KEY_FILE', 'the public key is not 32 bytes');
  return key;
}

/** Opens the private key with its passphrase (WRONG_PASSPHRASE when it does not fit). */
export function openSecretKey(text: string, passphrase: Uint8Array): Buffer {
  const block = Buffer.from(findLine(text, SECRET_PREFIX, 'private key'), 'base64url');
  return openDataKey(block, { passphrase });
}

function findLine(text: string, prefix: string, what: string): string {
  const line = text.split('\n').map((l) => l.trim()).find((l) => l.startsWith(prefix));
  if (!line) throw new HiberkitError('BAD_KEY_FILE', `not a hiberkit ${what} file (no "${prefix}" line)`);
  return line.slice(prefix.length);
}
