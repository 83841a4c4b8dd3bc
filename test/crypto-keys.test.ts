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
} from '../lib/crypto/keys.js';
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
    const block = sealDataKey(key, { publicKey: parsePublicKey(files.publicText) });
    expect(keyBlockKind(block)).toBe('public-key');
    expect(openDataKey(block, { privateKey: openSecretKey(files.secretText, passphrase) })).toEqual(key);
    expect(codeOf(() => openDataKey(block, { privateKey: openSecretKey(other.secretText, passphrase) }))).toBe('WRONG_KEY');
    expect(codeOf(() => openSecretKey(files.secretText, pass('nope')))).toBe('WRONG_PASSPHRASE');
    expect(files.secretText).not.toContain(openSecretKey(files.secretText, passphrase).toString('base64url'));
  });

  test('every bit of the block is authenticated', () => {
    const passphrase = pass('pw');
    const files = generateKeyFiles(passphrase);
    const privateKey = openSecretKey(files.secretText, passphrase);
    const block = sealDataKey(newDataKey(), { publicKey: parsePublicKey(files.publicText) });
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
    for (const [at, value] of [[8, 0], [9, 0], [10, 0], [8, 30], [9, 255]] as const) {
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
