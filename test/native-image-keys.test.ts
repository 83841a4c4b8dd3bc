// hiberkit-resume's key handling (native/resume/image_keys.h, passphrase.h) against the TypeScript
// it ports: what lib/crypto and lib/image/security.ts seal, the C++ opens; what they refuse, the
// C++ refuses with the same code. The C++ runs in test/native/hiberkit_keys_probe (built by
// `npm run build:native`), linked with the system libcrypto as hiberkit-resume is.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Settings } from '../lib/config.js';
import { HiberkitError } from '../lib/errors.js';
import type { MachinePaths } from '../lib/machine-paths.js';
import { expectedSealing, unlockerFor } from '../lib/crypto/image-keys.js';
import { generateKeyFiles, openSecretKey, parsePublicKey } from '../lib/crypto/key-files.js';
import { keyFilePaths, writeKeyFiles } from '../lib/crypto/keygen.js';
import { deriveImageKeys, generateRawKeyPair, keyBlockKind, newDataKey, sealDataKey } from '../lib/crypto/keys.js';
import { generateSigningKeyPair, signOrigin } from '../lib/crypto/origin.js';
import { readPassphrase } from '../lib/crypto/passphrase.js';
import { chunkAad, headerMac, sealChunk } from '../lib/image/security.js';
import { shellQuote, startOnTerminal } from './terminal-session.js';

const PROBE = fileURLToPath(new URL('native/build/Release/hiberkit_keys_probe', import.meta.url));
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** The probe's answer: its last line of output, parsed. */
function probe(args: string[], input = ''): Record<string, unknown> {
  const lines = execFileSync(PROBE, args, { input, encoding: 'utf8', maxBuffer: 64 << 20 }).trim().split('\n');
  return JSON.parse(lines.at(-1)!) as Record<string, unknown>;
}

let dir: string;
beforeAll(() => {
  expect(existsSync(PROBE), `${PROBE} is built by \`npm run build:native\``).toBe(true);
  dir = mkdtempSync(join(tmpdir(), 'hk-native-keys-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function file(content: string | Uint8Array): string {
  const path = join(dir, `file-${files++}`);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

/** What resume's key step gives for a key block: the keys, or the refusal's code; and the progress lines. */
type Outcome = { dataKey: string; verifyKey: string | null; progress: string[] } | { code: string; progress: string[] };

interface KeySettings {
  passphraseFile?: string;
  secretKey?: string;
  encrypt?: Settings['encrypt'];
}

/**
 * The reader's key step in TypeScript: keyBlockKind, then unlockerFor's callback, with a default
 * private key path that does not exist (as on a machine without keys).
 */
async function typescriptUnlock(block: Uint8Array, keys: KeySettings): Promise<Outcome> {
  const progress: string[] = [];
  try {
    const unlock = unlockerFor(keys, machinePaths(), (line) => progress.push(line));
    const { dataKey, verifyKey } = await unlock(block, keyBlockKind(block));
    return { dataKey: hex(dataKey), verifyKey: verifyKey ? hex(verifyKey) : null, progress };
  } catch (err) {
    // What lib/resume.ts makes of an error that is not hiberkit's own (libcrypto refused): RESUME_FAILED.
    return { code: err instanceof HiberkitError ? err.code : 'RESUME_FAILED', progress };
  }
}

function machinePaths(): MachinePaths {
  const keyDirectory = join(dir, 'no-keys');
  return { configFile: join(dir, 'no.conf'), keyDirectory, publicKey: join(keyDirectory, 'key.pub'), secretKey: join(keyDirectory, 'key') };
}

/** The same in C++, with the settings hiberkit-resume resolves: the key file path and expectedSealing. */
function nativeUnlock(block: Uint8Array, keys: KeySettings): Outcome {
  const expected = expectedSealing(keys, machinePaths());
  const answer = probe([
    'unlock',
    hex(block),
    ...(keys.passphraseFile ? ['--passphrase-file', keys.passphraseFile] : []),
    '--secret-key',
    keys.secretKey ?? machinePaths().secretKey,
    ...(expected ? ['--expected', expected] : []),
  ]);
  return 'code' in answer
    ? { code: answer.code as string, progress: answer.progress as string[] }
    : { dataKey: answer.dataKey as string, verifyKey: answer.verifyKey as string | null, progress: answer.progress as string[] };
}

/** Both implementations' outcome, which must be the same. */
async function unlockBoth(block: Uint8Array, keys: KeySettings): Promise<Outcome> {
  const typescript = await typescriptUnlock(block, keys);
  expect(nativeUnlock(block, keys)).toEqual(typescript);
  return typescript;
}

const PASSPHRASE = 'correct horse battery staple';

describe('key blocks sealed with a passphrase (lib/crypto/keys.ts)', () => {
  const dataKey = newDataKey();
  const block = sealDataKey(dataKey, { passphrase: Buffer.from(PASSPHRASE) });

  test('the right passphrase opens the block to the same data key; a wrong one is WRONG_PASSPHRASE', async () => {
    expect(await unlockBoth(block, { passphraseFile: file(`${PASSPHRASE}\n`) })).toEqual({ dataKey: hex(dataKey), verifyKey: null, progress: [] });
    expect(await unlockBoth(block, { passphraseFile: file('Correct horse battery staple\n') })).toMatchObject({ code: 'WRONG_PASSPHRASE' });
  });

  test('a passphrase is bytes: UTF-8 and inner white space are kept exactly', async () => {
    const passphrase = ' grüße, 世界\tand a tab ';
    const unicode = sealDataKey(dataKey, { passphrase: Buffer.from(passphrase) });
    expect(await unlockBoth(unicode, { passphraseFile: file(`${passphrase}\r\n`) })).toMatchObject({ dataKey: hex(dataKey) });
    expect(await unlockBoth(unicode, { passphraseFile: file(passphrase.trim()) })).toMatchObject({ code: 'WRONG_PASSPHRASE' });
  });

  test('a passphrase from a descriptor opens it too; a passphrase file, when also given, comes first (passphraseSource)', () => {
    expect(probe(['unlock', hex(block), '--passphrase-fd', '0'], `${PASSPHRASE}\n`)).toMatchObject({ dataKey: hex(dataKey) });
    expect(probe(['unlock', hex(block), '--passphrase-fd', '0', '--passphrase-file', file(PASSPHRASE)], 'not it\n')).toMatchObject({ dataKey: hex(dataKey) });
    expect(probe(['unlock', hex(block), '--passphrase-fd', '0'], 'not it\n')).toMatchObject({ code: 'WRONG_PASSPHRASE', progress: [] });
  });

  test('a machine that seals to a public key refuses a passphrase image before asking (WRONG_KEY)', async () => {
    const outcome = await unlockBoth(block, { passphraseFile: join(dir, 'never-read'), encrypt: 'public-key' });
    expect(outcome).toMatchObject({ code: 'WRONG_KEY' });
    expect(probe(['unlock', hex(block), '--expected', 'public-key']).message).toBe(
      'the image says it is sealed with a passphrase, but this machine seals its images with a public-key: it was not made here, or with other settings (set `encrypt = passphrase` in the configuration to try it)',
    );
  });

  test('at the default cost (N = 2^18, 256 MiB), as real images are sealed', async () => {
    const lowered = process.env.HIBERKIT_TEST_SCRYPT_LOG_N;
    delete process.env.HIBERKIT_TEST_SCRYPT_LOG_N;
    let costly: Buffer;
    try {
      costly = sealDataKey(dataKey, { passphrase: Buffer.from(PASSPHRASE) });
    } finally {
      process.env.HIBERKIT_TEST_SCRYPT_LOG_N = lowered;
    }
    expect(costly[8]).toBe(18);
    expect(nativeUnlock(costly, { passphraseFile: file(PASSPHRASE) })).toMatchObject({ dataKey: hex(dataKey) });
  });

  /** The block with `change` made to a copy. */
  const altered = (change: (copy: Buffer) => void) => {
    const copy = Buffer.from(block);
    change(copy);
    return copy;
  };

  test.each([
    ['the magic', 'IMAGE_CORRUPT', (b: Buffer) => (b[0]! ^= 1)],
    ['the version', 'IMAGE_CORRUPT', (b: Buffer) => (b[4] = 2)],
    ['the kind, to one nobody knows', 'UNSUPPORTED_VERSION', (b: Buffer) => (b[5] = 9)],
    ['the unauthenticated tail', 'IMAGE_CORRUPT', (b: Buffer) => (b[127] = 1)],
    ['logN, to an absurd cost', 'IMAGE_CORRUPT', (b: Buffer) => (b[8] = 21)],
    ['logN, to zero', 'IMAGE_CORRUPT', (b: Buffer) => (b[8] = 0)],
    ['r, to zero', 'IMAGE_CORRUPT', (b: Buffer) => (b[9] = 0)],
    ['p, to 5 at the highest N allowed', 'IMAGE_CORRUPT', (b: Buffer) => ((b[8] = 20), (b[10] = 5))],
    ['logN, to another sane cost (authenticated)', 'WRONG_PASSPHRASE', (b: Buffer) => (b[8] = 13)],
    // Within the work allowed, but N >= 2^(16 r), which scrypt itself refuses: not the image's fault.
    ['r, to a cost libcrypto refuses', 'RESUME_FAILED', (b: Buffer) => ((b[8] = 17), (b[9] = 1))],
    ['the salt', 'WRONG_PASSPHRASE', (b: Buffer) => (b[12]! ^= 0x80)],
    ['the nonce', 'WRONG_PASSPHRASE', (b: Buffer) => (b[48]! ^= 1)],
    ['the sealed key', 'WRONG_PASSPHRASE', (b: Buffer) => (b[70]! ^= 1)],
    ['the tag', 'WRONG_PASSPHRASE', (b: Buffer) => (b[100]! ^= 1)],
  ])('a block with %s changed: %s in both', async (_what, code, change) => {
    const damaged = altered(change);
    const keys = { passphraseFile: file(PASSPHRASE) };
    const outcome = nativeUnlock(damaged, keys);
    expect(outcome).toMatchObject({ code });
    expect(await typescriptUnlock(damaged, keys)).toEqual(outcome);
  });

  test('the messages of the block\'s refusals are the TypeScript\'s', () => {
    expect(probe(['kind', hex(altered((b) => (b[0] = 0)))]).message).toBe('the image header\'s key block is damaged');
    expect(probe(['kind', hex(altered((b) => (b[5] = 9)))]).message).toBe('the image is sealed with an unknown key kind 9');
    expect(probe(['unlock', hex(altered((b) => (b[8] = 21))), '--passphrase-file', file(PASSPHRASE)]).message).toBe(
      'the key block asks for an unreasonable scrypt cost (N=2^21, r=8, p=1)',
    );
    expect(probe(['unlock', hex(block), '--passphrase-file', file('wrong')]).message).toBe('wrong passphrase (or a damaged key block)');
  });
});

describe('key blocks sealed to a public key, opened with the private key file keygen writes', () => {
  const dataKey = newDataKey();
  let keys: KeySettings;
  let block: Buffer;
  let verifyKey: string;

  beforeAll(() => {
    const keyDir = join(dir, 'keygen');
    const passphraseFile = file(`${PASSPHRASE}\n`);
    const written = writeKeyFiles(keyDir, { passphraseFile }, false);
    expect(written).toEqual(keyFilePaths(keyDir));
    const secretText = execFileSync('cat', [written.secretPath], { encoding: 'utf8' });
    const publicText = execFileSync('cat', [written.publicPath], { encoding: 'utf8' });
    block = sealDataKey(dataKey, { publicKey: parsePublicKey(publicText).publicKey });
    verifyKey = hex(openSecretKey(secretText, Buffer.from(PASSPHRASE)).verifyKey!);
    keys = { passphraseFile, secretKey: written.secretPath };
  });

  test('the key file\'s passphrase opens the private key, which opens the block; the verify key comes with it', async () => {
    expect(await unlockBoth(block, keys)).toEqual({ dataKey: hex(dataKey), verifyKey, progress: [] });
  });

  test('a wrong passphrase for the key file is WRONG_PASSPHRASE', async () => {
    expect(await unlockBoth(block, { ...keys, passphraseFile: file('not it') })).toMatchObject({ code: 'WRONG_PASSPHRASE' });
  });

  test('a block sealed to another public key is WRONG_KEY, and so is a passphrase machine\'s view of it', async () => {
    const other = sealDataKey(dataKey, { publicKey: generateRawKeyPair().publicKey });
    expect(await unlockBoth(other, keys)).toMatchObject({ code: 'WRONG_KEY' });
    expect(await unlockBoth(block, { ...keys, encrypt: 'passphrase' })).toMatchObject({ code: 'WRONG_KEY' });
  });

  test.each([
    // Any 32 bytes are an X25519 public key; a changed one (almost surely not one of the few
    // points libcrypto refuses) gives another shared secret, so the tag fails.
    ['the ephemeral public key', 20],
    ['the recipient id', 44],
    ['the nonce', 50],
    ['the tag', 95],
  ])('a block with %s changed: WRONG_KEY in both', async (_what, at) => {
    const damaged = Buffer.from(block);
    damaged[at]! ^= 4;
    expect(await unlockBoth(damaged, keys)).toMatchObject({ code: 'WRONG_KEY' });
  });

  test('a missing private key file is BAD_KEY_FILE, before any passphrase is asked', async () => {
    const missing = join(dir, 'nowhere', 'key');
    const outcome = await unlockBoth(block, { secretKey: missing, passphraseFile: join(dir, 'no-passphrase-either') });
    expect(outcome).toMatchObject({ code: 'BAD_KEY_FILE' });
    expect(probe(['unlock', hex(block), '--secret-key', missing]).message).toBe(
      `cannot read the private key ${missing}: no such file or directory (ENOENT) (make one with \`hiberkit keygen\`)`,
    );
  });

  test('a v1 key file (an older keygen, no verify key) opens with a warning; images cannot be checked for origin', async () => {
    const { publicKey, privateKey } = generateRawKeyPair();
    const v1 = file(`# old\nhiberkit-secret-key-v1:${sealDataKey(privateKey, { passphrase: Buffer.from(PASSPHRASE) }).toString('base64url')}\n`);
    const sealed = sealDataKey(dataKey, { publicKey });
    expect(await unlockBoth(sealed, { ...keys, secretKey: v1 })).toEqual({
      dataKey: hex(dataKey),
      verifyKey: null,
      progress: ['warning: the private key file has no verify key (an older hiberkit keygen): the image\'s origin cannot be checked; run `hiberkit keygen --force`'],
    });
  });
});

describe('private key files: parsed as lib/crypto/key-files.ts parses them', () => {
  const passphrase = Buffer.from(PASSPHRASE);
  const texts = generateKeyFiles(passphrase);
  const secretBase64 = /^hiberkit-secret-key-v2:(.*)$/m.exec(texts.secretText)![1]!;
  const verifyBase64 = /^hiberkit-verify-key-v2:(.*)$/m.exec(texts.secretText)![1]!;
  const withSecret = (base64: string) => texts.secretText.replace(secretBase64, base64);
  const block = Buffer.from(secretBase64, 'base64url');

  /** openSecretKey's outcome in TypeScript: the keys or the code. */
  function typescriptOpen(text: string, secret: Buffer): Record<string, unknown> {
    try {
      const opened = openSecretKey(text, secret);
      return { privateKey: hex(opened.privateKey), verifyKey: opened.verifyKey ? hex(opened.verifyKey) : null };
    } catch (err) {
      if (!(err instanceof HiberkitError)) throw err;
      return { code: err.code, message: err.message };
    }
  }

  test.each([
    ['as keygen wrote it', texts.secretText],
    ['starting with a byte order mark on a key line, with CRLF line ends', `\ufeff${texts.secretText.replace(/^#.*\n/, '').replace(/\n/g, '\r\n')}`],
    ['indented with spaces, tabs and no-break spaces, trailing ones too', texts.secretText.replace(/^hiberkit/gm, ' \t\u00a0\u3000hiberkit').replace(/\n/g, ' \u2028\n')],
    ['in the standard base64 alphabet with padding', withSecret(`${block.toString('base64')}==`)],
    ['with characters base64 skips inside the key', withSecret(`${secretBase64.slice(0, 40)}*. ${secretBase64.slice(40)}`)],
    ['with a = inside the key (node stops decoding there: too short)', withSecret(`${secretBase64.slice(0, 100)}=${secretBase64.slice(100)}`)],
    ['truncated (BAD_KEY_FILE: never IMAGE_CORRUPT, which would discard the image)', withSecret(secretBase64.slice(0, 150))],
    ['with a damaged magic', withSecret(Buffer.concat([Buffer.from('HKKX'), block.subarray(4)]).toString('base64url'))],
    ['without a verify key line', texts.secretText.replace(/^hiberkit-verify-key-v2:.*$/m, '')],
    ['with a short verify key', texts.secretText.replace(verifyBase64, verifyBase64.slice(0, 40))],
    ['with another verify key (it is vouched for by the passphrase)', texts.secretText.replace(verifyBase64, generateSigningKeyPair().verifyKey.toString('base64url'))],
    ['without any key line', '# nothing here\n'],
    ['with the secret line as the prefix of a longer word', texts.secretText.replace('hiberkit-secret-key-v2:', 'xhiberkit-secret-key-v2:')],
  ])('a key file %s', (_what, text) => {
    const path = file(text);
    const native = probe(['secret-key', path, hex(passphrase)]);
    const typescript = typescriptOpen(text, passphrase);
    expect(native).toEqual(typescript);
  });

  test('the wrong passphrase: WRONG_PASSPHRASE in both', () => {
    const path = file(texts.secretText);
    const wrong = Buffer.from('not the passphrase');
    expect(probe(['secret-key', path, hex(wrong)])).toEqual(typescriptOpen(texts.secretText, wrong));
    expect(typescriptOpen(texts.secretText, wrong)).toMatchObject({ code: 'WRONG_PASSPHRASE' });
  });
});

describe('image keys, chunks, header MAC and origin (lib/image/security.ts, lib/crypto/origin.ts)', () => {
  test('the chunk and header keys are the ones deriveImageKeys makes', () => {
    for (let i = 0; i < 4; i++) {
      const dataKey = newDataKey();
      const { chunkKey, headerKey } = deriveImageKeys(dataKey);
      expect(probe(['derive', hex(dataKey)])).toEqual({ chunkKey: hex(chunkKey), headerKey: hex(headerKey) });
    }
  });

  const chunkKey = newDataKey();
  const imageId = Buffer.alloc(16, 0x5a);
  const recordHeader = Buffer.alloc(48);
  recordHeader.write('HKCK', 0);
  recordHeader.writeBigUInt64LE(0x0102030405n, 4);
  const aad = chunkAad(recordHeader, imageId);
  const payload = Buffer.alloc(128 * 1024);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7919) & 0xff;
  const index = 0x0102030405;
  const sealed = sealChunk(chunkKey, index, aad, payload);

  test('a 128 KiB chunk sealed by the TypeScript (index above 2^32) opens to its payload', () => {
    expect(probe(['open-chunk', hex(chunkKey), String(index), hex(aad), hex(sealed.tag)], hex(sealed.ciphertext))).toEqual({
      opened: true,
      data: hex(payload),
    });
  });

  test.each([
    ['a flipped bit in the ciphertext', (c: Buffer) => (c[77777]! ^= 0x10), 0, 0, 0],
    ['a flipped bit in the tag', () => {}, 0, 0, 3],
    ['a flipped bit in the associated data', () => {}, 0, 19, 0],
    ['another index', () => {}, 1, 0, 0],
  ])('%s: refused, and what was decrypted is wiped', (_what, changeCiphertext, indexChange, aadByte, tagByte) => {
    const ciphertext = Buffer.from(sealed.ciphertext);
    changeCiphertext(ciphertext);
    const changedAad = Buffer.from(aad);
    if (aadByte) changedAad[aadByte]! ^= 1;
    const tag = Buffer.from(sealed.tag);
    if (tagByte) tag[tagByte]! ^= 1;
    const answer = probe(['open-chunk', hex(chunkKey), String(index + indexChange), hex(changedAad), hex(tag)], hex(ciphertext));
    expect(answer).toEqual({ opened: false, data: '00'.repeat(payload.length) });
  });

  test('the header MAC the TypeScript makes matches; one changed bit of the header or the MAC does not', () => {
    const headerKey = newDataKey();
    const page = Buffer.alloc(4096);
    for (let i = 0; i < page.length; i++) page[i] = (i * 31) & 0xff;
    const mac = headerMac(headerKey, page);
    expect(probe(['header-mac', hex(headerKey), hex(page), hex(mac)])).toEqual({ matches: true });
    const changedPage = Buffer.from(page);
    changedPage[4000]! ^= 1;
    expect(probe(['header-mac', hex(headerKey), hex(changedPage), hex(mac)])).toEqual({ matches: false });
    const changedMac = Buffer.from(mac);
    changedMac[15]! ^= 0x80;
    expect(probe(['header-mac', hex(headerKey), hex(page), hex(changedMac)])).toEqual({ matches: false });
  });

  test('an origin signature made by signOrigin verifies; another key, id, block or signature does not', () => {
    const { signingKey, verifyKey } = generateSigningKeyPair();
    const keyBlock = sealDataKey(newDataKey(), { publicKey: generateRawKeyPair().publicKey });
    const signature = signOrigin(signingKey, imageId, keyBlock);
    const verify = (key: Uint8Array, id: Uint8Array, block: Uint8Array, sig: Uint8Array) => probe(['origin', hex(key), hex(id), hex(block), hex(sig)]).valid;
    const flipped = (bytes: Uint8Array, at: number) => {
      const copy = Buffer.from(bytes);
      copy[at]! ^= 1;
      return copy;
    };
    expect(verify(verifyKey, imageId, keyBlock, signature)).toBe(true);
    expect(verify(generateSigningKeyPair().verifyKey, imageId, keyBlock, signature)).toBe(false);
    expect(verify(verifyKey, flipped(imageId, 3), keyBlock, signature)).toBe(false);
    expect(verify(verifyKey, imageId, flipped(keyBlock, 127), signature)).toBe(false);
    expect(verify(verifyKey, imageId, keyBlock, flipped(signature, 63))).toBe(false);
    // A verify key that is no point of the curve verifies nothing (and does not crash).
    expect(verify(Buffer.alloc(32, 0xff), imageId, keyBlock, signature)).toBe(false);
  });
});

describe('passphrase sources (lib/crypto/passphrase.ts)', () => {
  /** readPassphrase's outcome in TypeScript: the passphrase in hex, or the code and message. */
  function typescriptRead(source: { file: string } | { fd: number }): Record<string, unknown> {
    try {
      return { passphrase: hex(readPassphrase(source)) };
    } catch (err) {
      if (!(err instanceof HiberkitError)) throw err;
      return { code: err.code, message: err.message };
    }
  }

  test.each([
    ['a line', 'secret words\n'],
    ['no line end', 'secret words'],
    ['CRLF', 'secret words\r\n'],
    ['several line ends of both kinds', 'secret words\n\r\n\n'],
    ['inner line ends and white space kept', ' secret\nwords \n'],
    ['only a line end (empty)', '\n'],
    ['nothing (empty)', ''],
  ])('a passphrase file with %s: the same passphrase or refusal', (_what, content) => {
    const path = file(content);
    expect(probe(['passphrase', '--file', path])).toEqual(typescriptRead({ file: path }));
  });

  test('a descriptor is read to its end with the same line-end rule', () => {
    expect(probe(['passphrase', '--fd', '0'], 'secret words\r\n')).toEqual({ passphrase: hex(Buffer.from('secret words')) });
    expect(probe(['passphrase', '--fd', '0'], '\n')).toEqual({
      code: 'NO_PASSPHRASE',
      message: 'the passphrase from file descriptor 0 (--passphrase-fd) is empty',
    });
  });

  test('a missing file and a closed descriptor: NO_PASSPHRASE with the same message', () => {
    const missing = join(dir, 'missing-passphrase');
    expect(probe(['passphrase', '--file', missing])).toEqual(typescriptRead({ file: missing }));
    expect(probe(['passphrase', '--fd', '987'])).toEqual(typescriptRead({ fd: 987 }));
    expect(typescriptRead({ fd: 987 })).toMatchObject({ code: 'NO_PASSPHRASE' });
  });

  test('a directory as the passphrase file: NO_PASSPHRASE in both', () => {
    const directory = join(dir, 'a-directory');
    mkdirSync(directory);
    expect(probe(['passphrase', '--file', directory])).toMatchObject({ code: 'NO_PASSPHRASE', message: expect.stringMatching(/ \(EISDIR\)$/) });
    expect(typescriptRead({ file: directory })).toMatchObject({ code: 'NO_PASSPHRASE', message: expect.stringMatching(/ \(EISDIR\)$/) });
  });

  test('no terminal (no controlling terminal, stdin not the console): NO_PASSPHRASE at once, for a prompt and for an image', async () => {
    const block = sealDataKey(newDataKey(), { passphrase: Buffer.from(PASSPHRASE) });
    for (const args of [['passphrase', '--prompt', 'Passphrase: '], ['unlock', hex(block)]]) {
      // detached: a new session, without a controlling terminal; stdin is /dev/null.
      const child = spawn(PROBE, args, { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
      await new Promise((resolve) => child.on('close', resolve));
      expect(JSON.parse(out.trim().split('\n').at(-1)!)).toMatchObject({
        code: 'NO_PASSPHRASE',
        message: 'no terminal to ask for the passphrase on (no controlling terminal, and stdin is not the console): use --passphrase-file or --passphrase-fd',
      });
    }
  });
});

describe('the console prompt (on a pseudo-terminal)', () => {
  /** The probe with `args` on a terminal, then stty's view of echo there (`echo` or `-echo`). */
  const thenShowEcho = (args: string[]) => `${[PROBE, ...args].map(shellQuote).join(' ')}; stty -a | tr ' ' '\\n' | grep -x -- '-\\?echo'`;
  const hexOf = (text: string) => hex(Buffer.from(text));

  test.each([
    ['Backspace and Delete edit; Enter ends the line', 'secrx\x7fq\x08t\r', { passphrase: hexOf('secrt') }],
    ['Ctrl-U starts the line again', 'wrong\x15right\n', { passphrase: hexOf('right') }],
    ['an empty line is an empty passphrase (only a file\'s line end is stripped)', '\r', { passphrase: '' }],
    ['Ctrl-C abandons the prompt', 'sec\x03', { code: 'NO_PASSPHRASE', message: 'the passphrase prompt was abandoned (Ctrl-C)' }],
    ['Ctrl-D on an empty line abandons it', '\x04', { code: 'NO_PASSPHRASE', message: 'the passphrase prompt was abandoned (Ctrl-D)' }],
  ])('%s; nothing typed is echoed, and echo is back afterwards', async (_what, keys, answer) => {
    const session = startOnTerminal(thenShowEcho(['passphrase', '--prompt', 'Passphrase: ']));
    await session.whenShown('Passphrase: ');
    session.type(keys);
    const { shown, code } = await session.finished;
    expect(code).toBe(0);
    const [, result] = /Passphrase: \n(\{.*\})\necho\n$/.exec(shown) ?? [];
    expect(result, shown).toBeDefined();
    expect(JSON.parse(result!)).toEqual(answer);
    expect(shown).not.toMatch(/sec|wrong|right/);
  });

  test.each(['SIGTERM', 'SIGINT'] as const)('%s during the prompt ends the program and leaves the terminal echoing', async (signal) => {
    const session = startOnTerminal(thenShowEcho(['passphrase', '--prompt', 'Passphrase: ']));
    await session.whenShown('Passphrase: ');
    session.type('sec');
    const pid = Number(/"pid":(\d+)/.exec(session.shown())![1]);
    setTimeout(() => process.kill(pid, signal), 200);
    const { shown } = await session.finished;
    expect(shown).not.toContain('"passphrase"');
    expect(shown).toMatch(/(?<!-)echo\n$/);
  });

  test('wrong passphrases get the tries left; the right one on the last try opens the image', async () => {
    const dataKey = newDataKey();
    const block = sealDataKey(dataKey, { passphrase: Buffer.from(PASSPHRASE) });
    const session = startOnTerminal([PROBE, 'unlock', hex(block), '--tries', '3'].map(shellQuote).join(' '));
    for (const [times, typed] of [[1, 'first guess'], [2, 'second guess'], [3, PASSPHRASE]] as const) {
      await session.whenShown('Passphrase to resume: ', times);
      session.type(`${typed}\r`);
    }
    const { shown } = await session.finished;
    expect(JSON.parse(shown.trim().split('\n').at(-1)!)).toEqual({
      dataKey: hex(dataKey),
      verifyKey: null,
      progress: ['wrong passphrase (2 tries left)', 'wrong passphrase (1 try left)'],
    });
  });

  test('after the last try: WRONG_PASSPHRASE; a private key file gets its own prompt', async () => {
    const keyDir = join(dir, 'prompt-keys');
    const written = writeKeyFiles(keyDir, { passphraseFile: file(PASSPHRASE) }, false);
    const { publicKey } = parsePublicKey(execFileSync('cat', [written.publicPath], { encoding: 'utf8' }));
    const block = sealDataKey(newDataKey(), { publicKey });
    const session = startOnTerminal([PROBE, 'unlock', hex(block), '--secret-key', written.secretPath, '--tries', '2'].map(shellQuote).join(' '));
    for (const times of [1, 2]) {
      await session.whenShown('Passphrase of the hiberkit private key: ', times);
      session.type('not it\r');
    }
    const { shown } = await session.finished;
    expect(JSON.parse(shown.trim().split('\n').at(-1)!)).toEqual({
      code: 'WRONG_PASSPHRASE',
      message: 'wrong passphrase (or a damaged key block)',
      progress: ['wrong passphrase (1 try left)'],
    });
  });
});
