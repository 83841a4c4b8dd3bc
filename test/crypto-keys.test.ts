import { describe, expect, test } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  KEY_BLOCK_BYTES,
  deriveImageKeys,
  keyBlockKind,
  newDataKey,
  openDataKey,
  sealDataKey,
  scryptCost,
  assertStrongEnough,
  generateRawKeyPair,
} from '../lib/crypto/keys.js';
import { generateSigningKeyPair } from '../lib/crypto/origin.js';
import { generateKeyFiles, openSecretKey, parsePublicKey } from '../lib/crypto/key-files.js';
import { readPassphrase } from '../lib/crypto/passphrase.js';
import { HiberkitError } from '../lib/errors.js';

const pass = (s: string) => Buffer.from(s);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof HiberkitError ? err.code : `not a HiberkitError: ${String(err)}`;
  }
  return undefined;
}

describe('data key sealing', () => {
  test('a passphrase seals and opens; a wrong one is refused', () => {
    const key = newDataKey();
    const block = sealDataKey(key, { passphrase: pass('correct horse') });
    expect(block.length).toBe(KEY_BLOCK_BYTES);
    expect(keyBlockKind(block)).toBe('passphrase');
    expect(openDataKey(block, { passphrase: pass('correct horse') })).toEqual(key);
    expect(codeOf(() => openDataKey(block, { passphrase: pass('correct horsf') }))).toBe('WRONG_PASSPHRASE');
  });

  test('a public key seals without a secret; only its private key opens', () => {
    const passphrase = pass('pw');
    const files = generateKeyFiles(passphrase);
    const other = generateKeyFiles(passphrase);
    const key = newDataKey();
    const block = sealDataKey(key, { publicKey: parsePublicKey(files.publicText).publicKey });
    expect(keyBlockKind(block)).toBe('public-key');
    expect(openDataKey(block, { privateKey: openSecretKey(files.secretText, passphrase).privateKey })).toEqual(key);
    expect(codeOf(() => openDataKey(block, { privateKey: openSecretKey(other.secretText, passphrase).privateKey }))).toBe('WRONG_KEY');
    expect(codeOf(() => openSecretKey(files.secretText, pass('nope')))).toBe('WRONG_PASSPHRASE');
    expect(files.secretText).not.toContain(openSecretKey(files.secretText, passphrase).privateKey.toString('base64url'));
  });

  test('every bit of the block is authenticated', () => {
    const passphrase = pass('pw');
    const files = generateKeyFiles(passphrase);
    const { privateKey } = openSecretKey(files.secretText, passphrase);
    const block = sealDataKey(newDataKey(), { publicKey: parsePublicKey(files.publicText).publicKey });
    for (let bit = 0; bit < KEY_BLOCK_BYTES * 8; bit++) {
      const bad = Buffer.from(block);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      const code = codeOf(() => openDataKey(bad, { privateKey }));
      expect(code, `bit ${bit}`).toMatch(/^(IMAGE_CORRUPT|UNSUPPORTED_VERSION|WRONG_KEY)$/);
    }
    // The passphrase kind shares the layout; spot-check its parameters, nonce, sealed key and tag.
    const sealed = sealDataKey(newDataKey(), { passphrase });
    for (const byte of [9, 14, 50, 70, 100, 120]) {
      const bad = Buffer.from(sealed);
      bad[byte]! ^= 0x10;
      expect(codeOf(() => openDataKey(bad, { passphrase })), `byte ${byte}`).toMatch(/^(WRONG_PASSPHRASE|IMAGE_CORRUPT)$/);
    }
  });

  test('a damaged key block cannot ask for absurd scrypt work', () => {
    const block = sealDataKey(newDataKey(), { passphrase: pass('pw') });
    for (const [at, value] of [[8, 0], [9, 0], [10, 0], [8, 30], [10, 255]] as const) {
      const bad = Buffer.from(block);
      bad[at] = value;
      expect(codeOf(() => openDataKey(bad, { passphrase: pass('pw') })), `byte ${at} = ${value}`).toBe('IMAGE_CORRUPT');
    }
  });

  test('image keys are distinct and deterministic', () => {
    const key = newDataKey();
    const a = deriveImageKeys(key);
    expect(a.chunkKey.equals(a.headerKey)).toBe(false);
    expect(deriveImageKeys(key).chunkKey).toEqual(a.chunkKey);
  });
});

describe('key files (issue #10)', () => {
  test('the private key file does not repeat the public key; the verify key in it is vouched for by the passphrase', () => {
    const passphrase = pass('long enough passphrase');
    const files = generateKeyFiles(passphrase);
    const publicBase64 = parsePublicKey(files.publicText).publicKey.toString('base64url');
    expect(files.secretText).not.toContain(publicBase64);
    expect(parsePublicKey(files.publicText).signed).toBe(true);
    const { verifyKey } = openSecretKey(files.secretText, passphrase);
    expect(verifyKey).toHaveLength(32);
    // An attacker who swaps in a verify key of their own (to sign forged images) breaks the seal.
    const forged = generateSigningKeyPair().verifyKey.toString('base64url');
    const swapped = files.secretText.replace(/^(hiberkit-verify-key-v2:).*$/m, `$1${forged}`);
    expect(codeOf(() => openSecretKey(swapped, passphrase))).toBe('WRONG_PASSPHRASE');
  });

  test('a key file sealed block has a purpose of its own: it does not open as an image key block, nor the other way round', () => {
    const passphrase = pass('long enough passphrase');
    const key = newDataKey();
    const imageBlock = sealDataKey(key, { passphrase });
    expect(codeOf(() => openDataKey(imageBlock, { passphrase }, 'key-file'))).toBe('WRONG_PASSPHRASE');
    const fileBlock = sealDataKey(key, { passphrase }, 'key-file');
    expect(codeOf(() => openDataKey(fileBlock, { passphrase }))).toBe('WRONG_PASSPHRASE');
    expect(openDataKey(fileBlock, { passphrase }, 'key-file')).toEqual(key);
  });

  test('a damaged or truncated sealed private key is the key file\'s fault (BAD_KEY_FILE), never IMAGE_CORRUPT: resume keeps the image', () => {
    const passphrase = pass('long enough passphrase');
    const text = generateKeyFiles(passphrase).secretText;
    const secretLine = /^hiberkit-secret-key-v2:(.*)$/m.exec(text)!;
    const withBlock = (block: Buffer) => text.replace(secretLine[1]!, block.toString('base64url'));
    const block = Buffer.from(secretLine[1]!, 'base64url');
    const damagedMagic = Buffer.concat([Buffer.from('XXXX'), block.subarray(4)]);
    const unknownKind = Buffer.from(block);
    unknownKind[5] = 9;
    const nonzeroTail = Buffer.from(block);
    nonzeroTail[127] = 1;
    for (const damaged of [block.subarray(0, 100), damagedMagic, unknownKind, nonzeroTail]) {
      expect(codeOf(() => openSecretKey(withBlock(damaged), passphrase))).toBe('BAD_KEY_FILE');
    }
    const v1 = `hiberkit-secret-key-v1:${block.subarray(0, 100).toString('base64url')}\n`;
    expect(codeOf(() => openSecretKey(v1, passphrase))).toBe('BAD_KEY_FILE');
    expect(codeOf(() => openSecretKey(text, pass('another passphrase')))).toBe('WRONG_PASSPHRASE');
  });

  test('a v1 private key file of an older keygen still opens, without a verify key', () => {
    const passphrase = pass('pw');
    const { privateKey } = generateRawKeyPair();
    const v1 = `# old\nhiberkit-secret-key-v1:${sealDataKey(privateKey, { passphrase }).toString('base64url')}\n`;
    expect(openSecretKey(v1, passphrase)).toEqual({ privateKey, verifyKey: null });
    expect(parsePublicKey('hiberkit-public-key-v1:' + Buffer.alloc(32, 7).toString('base64url')).signed).toBe(false);
  });
});

describe('scrypt cost (issue #10)', () => {
  test('new blocks use N = 2^18 by default (not lowered): 256 MiB per guess, and they open', () => {
    const lowered = process.env.HIBERKIT_TEST_SCRYPT_LOG_N;
    delete process.env.HIBERKIT_TEST_SCRYPT_LOG_N;
    try {
      expect(scryptCost()).toBe(18);
      const key = newDataKey();
      const block = sealDataKey(key, { passphrase: pass('correct horse battery') });
      expect([block[8], block[9], block[10]]).toEqual([18, 8, 1]);
      expect(openDataKey(block, { passphrase: pass('correct horse battery') })).toEqual(key);
    } finally {
      if (lowered !== undefined) process.env.HIBERKIT_TEST_SCRYPT_LOG_N = lowered;
    }
  });

  test('blocks sealed with the former N = 2^15 keep opening', () => {
    const lowered = process.env.HIBERKIT_TEST_SCRYPT_LOG_N;
    process.env.HIBERKIT_TEST_SCRYPT_LOG_N = '15';
    try {
      const key = newDataKey();
      const block = sealDataKey(key, { passphrase: pass('pw') });
      expect(block[8]).toBe(15);
      delete process.env.HIBERKIT_TEST_SCRYPT_LOG_N;
      expect(openDataKey(block, { passphrase: pass('pw') })).toEqual(key);
    } finally {
      if (lowered === undefined) delete process.env.HIBERKIT_TEST_SCRYPT_LOG_N;
      else process.env.HIBERKIT_TEST_SCRYPT_LOG_N = lowered;
    }
  });

  test('a passphrase being set must have at least 8 characters', () => {
    expect(codeOf(() => assertStrongEnough(pass('seven77')))).toBe('WEAK_PASSPHRASE');
    expect(codeOf(() => assertStrongEnough(pass('ééééééé')))).toBe('WEAK_PASSPHRASE');
    expect(codeOf(() => assertStrongEnough(pass('eight888')))).toBeUndefined();
  });
});

describe('passphrase sources', () => {
  test('file and fd, trailing newline removed; empty refused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hk-pass-'));
    const file = join(dir, 'pass');
    writeFileSync(file, 'secret words\n');
    expect(readPassphrase({ file }).toString()).toBe('secret words');
    writeFileSync(file, '\n');
    expect(codeOf(() => readPassphrase({ file }))).toBe('NO_PASSPHRASE');
  });
});
