/**
 * Who made an image (docs/image-format.md §2.1, "Origin"). A public-key image can be sealed by
 * anyone who knows the public key, so this machine's hibernate also signs it: Ed25519 over the
 * image id and the key block, with a signing key that stays root-only on the root file system
 * and never goes into the initramfs. The signature is made before the freeze, in JavaScript; the
 * key block it covers seals the data key from which the header MAC and every chunk tag are
 * derived, so a valid signature plus a valid header MAC proves that the whole image came from the
 * holder of the signing key (or of the private key, which can only open, not sign).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { wipe } from './keys.js';

export const SIGNATURE_BYTES = 64;
export const SIGNING_KEY_BYTES = 32;

const ORIGIN_LABEL = Buffer.from('hiberkit v2 image origin\0');
// RFC 8410 DER wrappings of raw Ed25519 keys (OID 1.3.101.112).
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** A new Ed25519 pair as raw bytes: the 32-byte private seed (wipe it) and the public key. */
export function generateSigningKeyPair(): { signingKey: Buffer; verifyKey: Buffer } {
  const pair = generateKeyPairSync('ed25519');
  const der = pair.privateKey.export({ format: 'der', type: 'pkcs8' });
  const signingKey = Buffer.from(der.subarray(PKCS8_PREFIX.length));
  wipe(der);
  return { signingKey, verifyKey: pair.publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length) };
}

/** What the signature covers: a label, the image id and the sealed key block. */
function originMessage(imageId: Uint8Array, keyBlock: Uint8Array): Buffer {
  return Buffer.concat([ORIGIN_LABEL, imageId, keyBlock]);
}

export function signOrigin(signingKey: Uint8Array, imageId: Uint8Array, keyBlock: Uint8Array): Buffer {
  const der = Buffer.concat([PKCS8_PREFIX, signingKey]);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    wipe(der);
  }
  return sign(null, originMessage(imageId, keyBlock), key);
}

export function originSignatureValid(verifyKey: Uint8Array, imageId: Uint8Array, keyBlock: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES) return false;
  const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, verifyKey]), format: 'der', type: 'spki' });
  return verify(null, originMessage(imageId, keyBlock), key, signature);
}
