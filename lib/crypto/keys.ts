/**
 * Key management for encrypted images, in the spirit of `age`: every image gets a fresh random
 * 32-byte data key; the image header carries that key sealed (AES-256-GCM) under a key-encryption
 * key that comes either from a passphrase (scrypt) or from an X25519 exchange with a recipient's
 * public key (so hibernating needs no prompt; only resume needs the private key's passphrase).
 *
 * From the data key, HKDF derives the chunk key and the header key used by the image writer and
 * reader (docs/image-format.md, "Encryption"). Nothing here writes a secret to disk unencrypted;
 * callers wipe the buffers they get with `wipe()` when done.
 */
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  scryptSync,
  type KeyObject,
} from 'node:crypto';
import { HiberkitError } from '../errors.js';

export const DATA_KEY_BYTES = 32;
/** Bytes the sealed key block takes in the image header. */
export const KEY_BLOCK_BYTES = 128;

const BLOCK_MAGIC = Buffer.from('HKKB');
const KIND_PASSPHRASE = 1;
const KIND_X25519 = 2;
const GCM_NONCE = 12;
const GCM_TAG = 16;

/**
 * scrypt cost of new key blocks and key files: N = 2^18, r = 8 (256 MiB, about 1 s on a laptop
 * core), age's default. The sealed private key sits in the initramfs, where anyone who can read
 * the boot partition can attack it offline, so each guess must cost real memory and time; 256 MiB
 * still fits an initramfs on a 1 GiB machine. The cost is stored in every block, so readers keep
 * opening blocks made with the former N = 2^15. Tests lower it with HIBERKIT_TEST_SCRYPT_LOG_N
 * (lower only, never higher; scryptCost).
 */
export const SCRYPT_LOG_N = 18;
const SCRYPT_R = 8;
const SCRYPT_P = 1;

/**
 * Shortest passphrase accepted for a new key or image: 8 characters. scrypt makes each guess cost
 * about a second and 256 MiB, but a passphrase shorter than that falls to an exhaustive search of
 * its few lowercase words or digits within days on one GPU-less machine; 8 is also what most
 * password policies (NIST SP 800-63B) ask as a floor. Length is counted in characters of UTF-8.
 */
export const MIN_PASSPHRASE_CHARS = 8;

/** Refuses a passphrase being set that is too short to withstand an offline guess (NO_PASSPHRASE). */
export function assertStrongEnough(passphrase: Uint8Array): void {
  const characters = [...Buffer.from(passphrase.buffer, passphrase.byteOffset, passphrase.length).toString('utf8')].length;
  if (characters < MIN_PASSPHRASE_CHARS) {
    throw new HiberkitError(
      'WEAK_PASSPHRASE',
      `the passphrase has ${characters} characters; use at least ${MIN_PASSPHRASE_CHARS} (the sealed key can be attacked offline: several words are best)`,
    );
  }
}

/** The cost new blocks are sealed with: the default, or a test's lower HIBERKIT_TEST_SCRYPT_LOG_N. */
export function scryptCost(): number {
  const lowered = Number(process.env.HIBERKIT_TEST_SCRYPT_LOG_N);
  return Number.isInteger(lowered) && lowered >= 10 && lowered < SCRYPT_LOG_N ? lowered : SCRYPT_LOG_N;
}

/**
 * What a sealed block is for, bound into its associated data: a key file's block and an image's
 * key block are never interchangeable. Images keep the empty label of format version 1.
 */
export type SealPurpose = 'image' | 'key-file';
const NOTHING = new Uint8Array(0);
const PURPOSE_LABELS: Record<SealPurpose, Buffer> = { image: Buffer.alloc(0), 'key-file': Buffer.from('hiberkit v2 secret key file\0') };

export type Recipient = { passphrase: Uint8Array } | { publicKey: Uint8Array };
export type Unlocker = { passphrase: Uint8Array } | { privateKey: Uint8Array };

export function newDataKey(): Buffer {
  return randomBytes(DATA_KEY_BYTES);
}

/** Overwrites secret material in place. */
export function wipe(...buffers: (Uint8Array | undefined)[]): void {
  for (const b of buffers) b?.fill(0);
}

/**
 * Key block layout (128 bytes): magic "HKKB", version 1, kind, 2 reserved, then
 *  passphrase: logN, r, p, reserved, salt[16]                  (kind parameters: 20 bytes)
 *  x25519:     ephemeral public key[32], recipient id[8]        (kind parameters: 40 bytes)
 * then nonce[12], sealed data key[32], tag[16]. The first 48 bytes are the GCM associated data,
 * so no parameter can be changed without the unseal failing.
 */
const PARAMS_OFFSET = 8;
const PARAMS_BYTES = 40;
const NONCE_OFFSET = PARAMS_OFFSET + PARAMS_BYTES;
const SEALED_OFFSET = NONCE_OFFSET + GCM_NONCE;
const TAG_OFFSET = SEALED_OFFSET + DATA_KEY_BYTES;

/**
 * Seals a 32-byte key for a recipient. `purpose` and `bound` (public facts that must stay with the
 * key, such as a key file's verify key) go into the associated data: changing either makes the
 * unseal fail.
 */
export function sealDataKey(dataKey: Uint8Array, recipient: Recipient, purpose: SealPurpose = 'image', bound: Uint8Array = NOTHING): Buffer {
  if (dataKey.length !== DATA_KEY_BYTES) throw new RangeError(`a sealed key is ${DATA_KEY_BYTES} bytes, got ${dataKey.length}`);
  const block = Buffer.alloc(KEY_BLOCK_BYTES);
  BLOCK_MAGIC.copy(block, 0);
  block[4] = 1;
  let kek: Buffer;
  if ('passphrase' in recipient) {
    block[5] = KIND_PASSPHRASE;
    const logN = scryptCost();
    block.set([logN, SCRYPT_R, SCRYPT_P], PARAMS_OFFSET);
    const salt = randomBytes(16);
    salt.copy(block, PARAMS_OFFSET + 4);
    kek = scryptKek(recipient.passphrase, salt, logN, SCRYPT_R, SCRYPT_P);
  } else {
    block[5] = KIND_X25519;
    const ephemeral = generateKeyPairSync('x25519');
    const ephemeralPublic = rawPublic(ephemeral.publicKey);
    ephemeralPublic.copy(block, PARAMS_OFFSET);
    recipientId(recipient.publicKey).copy(block, PARAMS_OFFSET + 32);
    kek = x25519Kek(ephemeral.privateKey, publicKeyObject(recipient.publicKey), ephemeralPublic, recipient.publicKey);
  }
  const nonce = randomBytes(GCM_NONCE);
  nonce.copy(block, NONCE_OFFSET);
  const cipher = createCipheriv('aes-256-gcm', kek, nonce);
  cipher.setAAD(Buffer.concat([PURPOSE_LABELS[purpose], bound, block.subarray(0, NONCE_OFFSET)]));
  Buffer.concat([cipher.update(dataKey), cipher.final()]).copy(block, SEALED_OFFSET);
  cipher.getAuthTag().copy(block, TAG_OFFSET);
  wipe(kek);
  return block;
}

export function keyBlockKind(block: Uint8Array): 'passphrase' | 'public-key' {
  const b = Buffer.from(block.buffer, block.byteOffset, block.length);
  if (b.length < KEY_BLOCK_BYTES || !b.subarray(0, 4).equals(BLOCK_MAGIC) || b[4] !== 1) {
    throw new HiberkitError('IMAGE_CORRUPT', 'the image header\'s key block is damaged');
  }
  if (b[5] === KIND_PASSPHRASE) return 'passphrase';
  if (b[5] === KIND_X25519) return 'public-key';
  throw new HiberkitError('UNSUPPORTED_VERSION', `the image is sealed with an unknown key kind ${b[5]}`);
}

/** Recovers the data key, or throws WRONG_PASSPHRASE / WRONG_KEY. */
export function openDataKey(block: Uint8Array, unlocker: Unlocker, purpose: SealPurpose = 'image', bound: Uint8Array = NOTHING): Buffer {
  const kind = keyBlockKind(block);
  const b = Buffer.from(block.buffer, block.byteOffset, KEY_BLOCK_BYTES);
  // The tail is not covered by the GCM tag; it must be zero so that no bit of the block goes unchecked.
  if (b.subarray(TAG_OFFSET + GCM_TAG).some((byte) => byte !== 0)) {
    throw new HiberkitError('IMAGE_CORRUPT', 'the image header\'s key block is damaged');
  }
  let kek: Buffer;
  if (kind === 'passphrase') {
    if (!('passphrase' in unlocker)) throw new HiberkitError('WRONG_KEY', 'the image is sealed with a passphrase; give the passphrase');
    const [logN, r, p] = [b[PARAMS_OFFSET]!, b[PARAMS_OFFSET + 1]!, b[PARAMS_OFFSET + 2]!];
    // The parameters are not authenticated until the unseal: a damaged or forged block must not
    // make resume allocate gigabytes, nor hand scrypt values it rejects.
    if (logN < 1 || r < 1 || p < 1 || scryptMemory(logN, r) * p > MAX_SCRYPT_WORK) {
      throw new HiberkitError('IMAGE_CORRUPT', `the key block asks for an unreasonable scrypt cost (N=2^${logN}, r=${r}, p=${p})`);
    }
    kek = scryptKek(unlocker.passphrase, b.subarray(PARAMS_OFFSET + 4, PARAMS_OFFSET + 20), logN, r, p);
  } else {
    if (!('privateKey' in unlocker)) throw new HiberkitError('WRONG_KEY', 'the image is sealed to a public key; give its private key');
    const privateKey = privateKeyObject(unlocker.privateKey);
    const myPublic = rawPublic(createPublicKey(privateKey));
    if (!recipientId(myPublic).equals(b.subarray(PARAMS_OFFSET + 32, PARAMS_OFFSET + 40))) {
      throw new HiberkitError('WRONG_KEY', 'the image was sealed to another public key');
    }
    const ephemeralPublic = b.subarray(PARAMS_OFFSET, PARAMS_OFFSET + 32);
    kek = x25519Kek(privateKey, publicKeyObject(ephemeralPublic), ephemeralPublic, myPublic);
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek, b.subarray(NONCE_OFFSET, SEALED_OFFSET));
    decipher.setAAD(Buffer.concat([PURPOSE_LABELS[purpose], bound, b.subarray(0, NONCE_OFFSET)]));
    decipher.setAuthTag(b.subarray(TAG_OFFSET, TAG_OFFSET + GCM_TAG));
    // update() hands out the plaintext before final() has checked the tag: wipe it if the tag fails.
    const plaintext = decipher.update(b.subarray(SEALED_OFFSET, TAG_OFFSET));
    try {
      decipher.final();
    } catch (err) {
      wipe(plaintext);
      throw err;
    }
    return plaintext;
  } catch {
    throw kind === 'passphrase'
      ? new HiberkitError('WRONG_PASSPHRASE', 'wrong passphrase (or a damaged key block)')
      : new HiberkitError('WRONG_KEY', 'the private key does not open this image (or the key block is damaged)');
  } finally {
    wipe(kek);
  }
}

/** The two keys an image uses, derived from its data key so one secret never serves two roles. */
export function deriveImageKeys(dataKey: Uint8Array): { chunkKey: Buffer; headerKey: Buffer } {
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), `hiberkit v1 ${info}`, 32));
  return { chunkKey: derive('chunks'), headerKey: derive('header') };
}

/** Bytes scrypt's memory-hard step takes: 128 · N · r. */
function scryptMemory(logN: number, r: number): number {
  return 128 * 2 ** logN * r;
}

/** The most scrypt work (memory × parallelism) a key block may ask of resume: 4× the default (1 GiB). */
const MAX_SCRYPT_WORK = 4 * scryptMemory(SCRYPT_LOG_N, SCRYPT_R) * SCRYPT_P;

function scryptKek(passphrase: Uint8Array, salt: Uint8Array, logN: number, r: number, p: number): Buffer {
  return scryptSync(passphrase, salt, 32, { N: 2 ** logN, r, p, maxmem: 2 * scryptMemory(logN, r) + 16 * 1024 * 1024 });
}

function x25519Kek(priv: KeyObject, pub: KeyObject, ephemeralPublic: Uint8Array, recipientPublic: Uint8Array): Buffer {
  const shared = diffieHellman({ privateKey: priv, publicKey: pub });
  try {
    const salt = Buffer.concat([ephemeralPublic, recipientPublic]);
    return Buffer.from(hkdfSync('sha256', shared, salt, 'hiberkit v1 x25519', 32));
  } finally {
    wipe(shared);
  }
}

function recipientId(publicKey: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', publicKey, Buffer.alloc(0), 'hiberkit v1 recipient id', 8));
}

// X25519 keys travel as 32 raw bytes; node wants KeyObjects. The DER wrappings of a raw X25519
// key are fixed prefixes (RFC 8410: SubjectPublicKeyInfo and PKCS#8 with OID 1.3.101.110).
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

function rawPublic(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

function privateKeyObject(raw: Uint8Array): KeyObject {
  const der = Buffer.concat([PKCS8_PREFIX, raw]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    wipe(der);
  }
}

/** A new X25519 key pair as raw bytes (the private half is for `sealPrivateKey`). */
export function generateRawKeyPair(): { publicKey: Buffer; privateKey: Buffer } {
  const pair = generateKeyPairSync('x25519');
  const der = pair.privateKey.export({ format: 'der', type: 'pkcs8' });
  const privateKey = Buffer.from(der.subarray(PKCS8_PREFIX.length));
  wipe(der);
  return { publicKey: rawPublic(pair.publicKey), privateKey };
}
