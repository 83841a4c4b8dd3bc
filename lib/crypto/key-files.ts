/**
 * The key files `hiberkit keygen` writes. The public key is one line anyone may read; the private
 * key is sealed with a passphrase by the same mechanism as an image's data key (scrypt +
 * AES-256-GCM, with a purpose of its own in the associated data), so it is never on disk in
 * clear; the signing key that proves an image's origin is root-only and stays on the root file
 * system (lib/crypto/origin.ts).
 *
 *   key.pub    hiberkit-public-key-v2:<base64url of the X25519 public key>
 *              (v2: images sealed to it are signed; v1, from older keygens, unsigned)
 *   key        # a comment line (no key material)
 *              hiberkit-verify-key-v2:<base64url of the Ed25519 verify key>
 *              hiberkit-secret-key-v2:<base64url of the 128-byte sealed block>
 *              The verify key is bound into the block's associated data: the passphrase that
 *              opens the private key also vouches for it. A v1 file holds only a v1 secret line.
 *   sign.key   hiberkit-signing-key-v1:<base64url of the Ed25519 private seed>   (mode 0600)
 */
import { HiberkitError } from '../errors.js';
import { generateRawKeyPair, openDataKey, sealDataKey, wipe, type SealPurpose } from './keys.js';
import { SIGNING_KEY_BYTES, generateSigningKeyPair } from './origin.js';

const PUBLIC_PREFIX_V1 = 'hiberkit-public-key-v1:';
const PUBLIC_PREFIX = 'hiberkit-public-key-v2:';
const SECRET_PREFIX_V1 = 'hiberkit-secret-key-v1:';
const SECRET_PREFIX = 'hiberkit-secret-key-v2:';
const VERIFY_PREFIX = 'hiberkit-verify-key-v2:';
const SIGNING_PREFIX = 'hiberkit-signing-key-v1:';

export interface KeyFileTexts {
  publicText: string;
  secretText: string;
  signingText: string;
}

export function generateKeyFiles(passphrase: Uint8Array): KeyFileTexts {
  const { publicKey, privateKey } = generateRawKeyPair();
  const { signingKey, verifyKey } = generateSigningKeyPair();
  try {
    const sealed = sealDataKey(privateKey, { passphrase }, 'key-file', verifyKey);
    return {
      publicText: `${PUBLIC_PREFIX}${publicKey.toString('base64url')}\n`,
      secretText:
        '# hiberkit private key, sealed with a passphrase (scrypt, AES-256-GCM), and the key that verifies images\n' +
        `${VERIFY_PREFIX}${verifyKey.toString('base64url')}\n${SECRET_PREFIX}${sealed.toString('base64url')}\n`,
      signingText: `# hiberkit image signing key: keep it root-only, never in the initramfs\n${SIGNING_PREFIX}${signingKey.toString('base64url')}\n`,
    };
  } finally {
    wipe(privateKey, signingKey);
  }
}

/** The recipient key, and whether images sealed to it must be signed (a v2 file from a keygen with signing). */
export function parsePublicKey(text: string): { publicKey: Buffer; signed: boolean } {
  const signed = findLine(text, PUBLIC_PREFIX) !== undefined;
  const line = findLine(text, PUBLIC_PREFIX) ?? requireLine(text, PUBLIC_PREFIX_V1, 'public key');
  return { publicKey: decodeKey(line, 32, 'public key'), signed };
}

export function parseSigningKey(text: string): Buffer {
  return decodeKey(requireLine(text, SIGNING_PREFIX, 'signing key'), SIGNING_KEY_BYTES, 'signing key');
}

/**
 * Opens the private key with its passphrase (WRONG_PASSPHRASE when it does not fit, or when the
 * verify key was changed) and returns it with the verify key; null for a v1 file, which has none.
 */
export function openSecretKey(text: string, passphrase: Uint8Array): { privateKey: Buffer; verifyKey: Buffer | null } {
  const current = findLine(text, SECRET_PREFIX);
  if (current === undefined) {
    const block = Buffer.from(requireLine(text, SECRET_PREFIX_V1, 'private key'), 'base64url');
    return { privateKey: openSealedPrivateKey(block, passphrase, 'image'), verifyKey: null };
  }
  const verifyKey = decodeKey(requireLine(text, VERIFY_PREFIX, 'private key'), 32, 'verify key');
  return { privateKey: openSealedPrivateKey(Buffer.from(current, 'base64url'), passphrase, 'key-file', verifyKey), verifyKey };
}

/**
 * openDataKey on the key file's block. Only WRONG_PASSPHRASE is about the passphrase: any other
 * refusal (a truncated or damaged block, another kind) is the key file's fault, never the image's,
 * so it becomes BAD_KEY_FILE, and resume keeps the image instead of discarding it as IMAGE_CORRUPT.
 */
function openSealedPrivateKey(block: Buffer, passphrase: Uint8Array, purpose: SealPurpose, bound?: Uint8Array): Buffer {
  try {
    return openDataKey(block, { passphrase }, purpose, bound);
  } catch (err) {
    if (!(err instanceof HiberkitError) || err.code === 'WRONG_PASSPHRASE') throw err;
    throw new HiberkitError('BAD_KEY_FILE', 'the sealed private key in the key file is damaged, truncated or from a newer hiberkit: restore the file from a backup', { cause: err });
  }
}

function decodeKey(base64: string, bytes: number, what: string): Buffer {
  const key = Buffer.from(base64, 'base64url');
  if (key.length !== bytes) throw new HiberkitError('BAD_KEY_FILE', `the ${what} is not ${bytes} bytes`);
  return key;
}

function findLine(text: string, prefix: string): string | undefined {
  const line = text.split('\n').map((l) => l.trim()).find((l) => l.startsWith(prefix));
  return line?.slice(prefix.length);
}

function requireLine(text: string, prefix: string, what: string): string {
  const line = findLine(text, prefix);
  if (line === undefined) throw new HiberkitError('BAD_KEY_FILE', `not a hiberkit ${what} file (no "${prefix}" line)`);
  return line;
}
