/**
 * The cryptography of encrypted images (docs/image-format.md §2.1) in TypeScript: the keys a
 * writer needs, chunk sealing and opening (AES-256-GCM) and the header MAC (GMAC). The C++ writer
 * does its half in native/image_crypto.cc and produces the same bytes
 * (test/image-encryption.test.ts).
 */
import { createCipheriv, createDecipheriv, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ImageEncryption } from '../backend.js';
import { DATA_KEY_BYTES, KEY_BLOCK_BYTES, deriveImageKeys, wipe } from '../crypto/keys.js';
import { CHUNK_AUTHENTICATED_BYTES, IMAGE_ID_BYTES, MAC_BYTES, ORIGIN_SIGNATURE_BYTES } from './format.js';

const CIPHER = 'aes-256-gcm';
const NONCE_BYTES = 12;
/** The header key seals exactly one message per image (its header), so its nonce can be fixed. */
const HEADER_NONCE = Buffer.alloc(NONCE_BYTES);

/**
 * What writing an encrypted image takes: the two keys derived from the data key, the sealed key
 * block and the image id. Both writers take this (the C++ one through
 * lib/native/critical-section.ts); wipe it with wipeImageKeys when done.
 */
export interface ImageKeys {
  chunkKey: Buffer;
  headerKey: Buffer;
  keyBlock: Uint8Array;
  imageId: Uint8Array;
  /** The origin signature over imageId and keyBlock (lib/crypto/origin.ts), or null for an unsigned image. */
  originSignature: Uint8Array | null;
}

/**
 * The keys of a new image. Its id is the signed one of `encryption.origin`; otherwise random
 * unless given (tests that compare writers).
 */
export function imageKeysFor(encryption: ImageEncryption, imageId?: Uint8Array): ImageKeys {
  checkLength(encryption.dataKey, DATA_KEY_BYTES, 'data key');
  checkLength(encryption.keyBlock, KEY_BLOCK_BYTES, 'key block');
  if (encryption.origin && imageId) throw new RangeError('a signed image has the id its signature covers');
  const id = encryption.origin?.imageId ?? imageId ?? randomBytes(IMAGE_ID_BYTES);
  checkLength(id, IMAGE_ID_BYTES, 'image id');
  if (encryption.origin) checkLength(encryption.origin.signature, ORIGIN_SIGNATURE_BYTES, 'origin signature');
  const { chunkKey, headerKey } = deriveImageKeys(encryption.dataKey);
  return {
    chunkKey,
    headerKey,
    keyBlock: Uint8Array.from(encryption.keyBlock),
    imageId: Uint8Array.from(id),
    originSignature: encryption.origin ? Uint8Array.from(encryption.origin.signature) : null,
  };
}

export function wipeImageKeys(keys: { chunkKey: Uint8Array; headerKey: Uint8Array }): void {
  wipe(keys.chunkKey, keys.headerKey);
}

/**
 * A chunk's associated data: the first fields of its record header (magic, index, raw_bytes,
 * stored_bytes, codec) and the image id, so that a sealed payload cannot be moved to another
 * place, another length, another codec or another image.
 */
export function chunkAad(recordHeader: Uint8Array, imageId: Uint8Array): Buffer {
  return Buffer.concat([recordHeader.subarray(0, CHUNK_AUTHENTICATED_BYTES), imageId]);
}

/** Encrypts a chunk payload (after compression); the ciphertext is as long as the payload. */
export function sealChunk(chunkKey: Uint8Array, index: number, aad: Uint8Array, payload: Uint8Array): { ciphertext: Buffer; tag: Buffer } {
  const cipher = createCipheriv(CIPHER, chunkKey, chunkNonce(index));
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(payload), cipher.final()]);
  return { ciphertext, tag: cipher.getAuthTag() };
}

/** The payload of a sealed chunk, or null when the tag does not match (the chunk was altered). */
export function openChunk(chunkKey: Uint8Array, index: number, aad: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array): Buffer | null {
  const decipher = createDecipheriv(CIPHER, chunkKey, chunkNonce(index));
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  const plaintext = decipher.update(ciphertext);
  try {
    decipher.final();
  } catch {
    wipe(plaintext);
    return null;
  }
  return plaintext;
}

/** GMAC of `macInput` (format.ts headerMacInput) under the header key. */
export function headerMac(headerKey: Uint8Array, macInput: Uint8Array): Buffer {
  const cipher = createCipheriv(CIPHER, headerKey, HEADER_NONCE);
  cipher.setAAD(macInput);
  cipher.final();
  return cipher.getAuthTag();
}

/** Compares in constant time, so that the check tells an attacker nothing about the right MAC. */
export function headerMacMatches(headerKey: Uint8Array, macInput: Uint8Array, mac: Uint8Array): boolean {
  return mac.length === MAC_BYTES && timingSafeEqual(headerMac(headerKey, macInput), mac);
}

/**
 * Chunk `index`'s nonce: four zero bytes, then the index as a little-endian u64. Unique within an
 * image, and every image has its own chunk key.
 */
function chunkNonce(index: number): Buffer {
  const nonce = Buffer.alloc(NONCE_BYTES);
  nonce.writeBigUInt64LE(BigInt(index), 4);
  return nonce;
}

function checkLength(bytes: Uint8Array, length: number, what: string): void {
  if (bytes.length !== length) throw new RangeError(`the ${what} is ${length} bytes, got ${bytes.length}`);
}
