/**
 * Encrypted, authenticated images (docs/image-format.md §2.1): the ciphers of both writers agree
 * byte for byte, images sealed with a passphrase or a public key load back exactly, a wrong or
 * missing key is reported as such, any changed bit is refused, and an attacker who recomputes
 * every CRC is caught by the MAC, the extent map hash or a chunk's tag.
 */
import { spawnSync } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ERRNO, HiberkitError } from '../lib/errors.js';
import { PAGE_SIZE } from '../lib/ioctls.js';
import { crc32c } from '../lib/codec/index.js';
import { deriveImageKeys, generateRawKeyPair, openDataKey, wipe } from '../lib/crypto/keys.js';
import { CHUNK_HEADER_BYTES, FLAG_SIGNED, checkHeaderPage, decodeChunkHeader, decodeSecurityBlock, markResumePage, pageContentCrc } from '../lib/image/format.js';
import { loadImage, readHeaderSummary, type LoadOptions, type UnlockedKey } from '../lib/image/reader.js';
import { headerMac, imageKeysFor, openChunk, sealChunk } from '../lib/image/security.js';
import { ImageWriter } from '../lib/image/writer.js';
import { requireNative, type NativeCriticalResult } from '../lib/native/binding.js';
import { NativeBlockDevice } from '../lib/native/block-device.js';
import { createNativeCriticalSection } from '../lib/native/critical-section.js';
import { NativeSnapshotDevice } from '../lib/native/snapshot-device.js';
import {
  MemoryBlockDevice,
  allocationPatterns,
  codeOf,
  expectSame,
  expectSameBytes,
  listAllocator,
  passphraseEncryption,
  publicKeyEncryption,
  randomBytes,
  signedPublicKeyEncryption,
  recordOffsets,
  seededRandom,
  snapshotLikeStream,
  streamOf,
  swapDevice,
  swapHeaderPage,
  testIdentity,
  textBytes,
  writeImage,
} from './image-support.js';
import { loadTestBinding, TEST_ADDON_PATH } from './native-test-binding.js';

const native = requireNative();
const testAddon = loadTestBinding();
const workdir = mkdtempSync(join(tmpdir(), 'hiberkit-encryption-'));
afterAll(() => rmSync(workdir, { recursive: true, force: true }));

/** Offsets of docs/image-format.md that the tampering below aims at. */
const H_CREATED_AT_MS = 72;
const H_KERNEL_RELEASE = 88;
const H_CRC = 4092;
const S_IMAGE_ID = 1152;
const M_ENTRIES = 24;
const C_CODEC = 16;
const C_TAG = 24;
const C_CRC = 44;

describe('the image ciphers', () => {
  const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  const aad = randomBytes(36, 1);

  it('use the nonce of the format: four zero bytes and the chunk index as a little-endian u64', () => {
    const payload = textBytes(1000, 2);
    const expected = createCipheriv('aes-256-gcm', key, Buffer.from('000000000504030201000000', 'hex'));
    expected.setAAD(aad);
    const ciphertext = Buffer.concat([expected.update(payload), expected.final()]);
    const sealed = sealChunk(key, 0x0102030405, aad, payload);
    expect(sealed.ciphertext.equals(ciphertext)).toBe(true);
    expect(sealed.tag.equals(expected.getAuthTag())).toBe(true);
    expect(openChunk(key, 0x0102030405, aad, sealed.ciphertext, sealed.tag)?.equals(Buffer.from(payload))).toBe(true);
  });

  it('give the same ciphertext and tags in C++ and TypeScript, for every length class', () => {
    for (const length of [1, 15, 16, 17, 287, 288, 289, 4096, 131072, 131077]) {
      for (const index of [0, 7, 2 ** 32 - 1, 2 ** 40 + 3]) {
        const payload = randomBytes(length, length + index);
        const inPlace = Uint8Array.from(payload);
        const tags = testAddon.imageCipherSealChunks(key, index, aad, inPlace, length);
        const sealed = sealChunk(key, index, aad, payload);
        expect(Buffer.from(inPlace).equals(sealed.ciphertext), `${length} bytes, chunk ${index}`).toBe(true);
        expect(tags.equals(sealed.tag), `${length} bytes, chunk ${index}`).toBe(true);
      }
    }
    // Consecutive chunks in one call get consecutive indexes.
    const data = randomBytes(300_000, 3);
    const inPlace = Uint8Array.from(data);
    const tags = testAddon.imageCipherSealChunks(key, 9, aad, inPlace, 131072);
    for (let i = 0; i < 3; i++) {
      const sealed = sealChunk(key, 9 + i, aad, data.subarray(i * 131072, (i + 1) * 131072));
      expect(sealed.tag.equals(tags.subarray(i * 16, (i + 1) * 16))).toBe(true);
    }
  });

  it('make the header MAC a GMAC with the all-zero nonce, the same in C++ and TypeScript', () => {
    const page = randomBytes(PAGE_SIZE, 4);
    const gmac = createCipheriv('aes-256-gcm', key, Buffer.alloc(12));
    gmac.setAAD(page);
    gmac.final();
    expect(headerMac(key, page).equals(gmac.getAuthTag())).toBe(true);
    expect(testAddon.imageCipherMacHeader(key, page).equals(gmac.getAuthTag())).toBe(true);
  });

  it('refuse a chunk that is altered, moved to another index or given other associated data', () => {
    const payload = randomBytes(5000, 5);
    const { ciphertext, tag } = sealChunk(key, 3, aad, payload);
    const flipped = Buffer.from(ciphertext);
    flipped[4999] ^= 1;
    const otherAad = Uint8Array.from(aad);
    otherAad[35] ^= 0x80;
    const otherTag = Buffer.from(tag);
    otherTag[0] ^= 1;
    expect(openChunk(key, 3, aad, flipped, tag)).toBeNull();
    expect(openChunk(key, 4, aad, ciphertext, tag)).toBeNull();
    expect(openChunk(key, 3, otherAad, ciphertext, tag)).toBeNull();
    expect(openChunk(key, 3, aad, ciphertext, otherTag)).toBeNull();
  });

  it('keep sealing and the extent map SHA-256 (EVP, a context started before the fork) free of allocation, in a forked child like the critical section', () => {
    // glibc's mtrace records every malloc, calloc, realloc and free between mtrace() and muntrace().
    const trace = (initInChild: boolean) => {
      const file = join(workdir, `mtrace-${initInChild}.txt`);
      const script = `const testAddon = require(${JSON.stringify(TEST_ADDON_PATH)});
        process.exitCode = testAddon.imageCipherTraceChild(require('node:crypto').randomBytes(3 << 20), 131072, ${initInChild});`;
      const run = spawnSync(process.execPath, ['-e', script], {
        env: { ...process.env, LD_PRELOAD: 'libc_malloc_debug.so.0', MALLOC_TRACE: file },
        encoding: 'utf8',
      });
      expect(run.status, run.stderr).toBe(0);
      return readFileSync(file, 'utf8').split('\n').filter((line) => /^@ .* [+-] 0x/.test(line));
    };
    expect(trace(false)).toEqual([]);
    // The check sees allocations: initialising a cipher (which the writer does before the freeze) makes some.
    expect(trace(true).length).toBeGreaterThan(0);
  });
});

describe('encrypted images round trip', () => {
  const stream = snapshotLikeStream(150, 6);

  it('with a passphrase: the unlock callback gets the key block and its kind, and the stream comes back', async () => {
    const { encryption, unlockWith } = passphraseEncryption('correct horse');
    const { device, summary } = writeImage({ stream, encryption });
    const calls: [Uint8Array, string][] = [];
    const options: LoadOptions = {
      unlock: (block, kind) => {
        calls.push([Uint8Array.from(block), kind]);
        return unlockWith('correct horse').unlock!(block, kind);
      },
    };
    const image = await loadImage(device, 0, expectSame, options);
    expectSameBytes(await streamOf(image), stream);
    expect(image.header).toMatchObject({ encrypted: true, storedBytes: summary.storedBytes });
    expect(calls).toHaveLength(1);
    expect(Buffer.from(calls[0][0]).equals(Buffer.from(encryption.keyBlock))).toBe(true);
    expect(calls[0][1]).toBe('passphrase');
    expect(readHeaderSummary(device, 0)).toMatchObject({ keyKind: 'passphrase', header: { encrypted: true, streamPages: 150 } });
  });

  it('with a public key, for every shape of image', async () => {
    const sealed = publicKeyEncryption();
    const shapes = [
      { compression: 'lz4', chunkPages: 32, pages: allocationPatterns.contiguous(400, 1) },
      { compression: 'none', chunkPages: 7, pages: allocationPatterns.shuffled(400, 1, 7) },
      { compression: 'lz4', chunkPages: 1, pages: allocationPatterns.scattered(400, 1), ioBytes: 4096 },
      { compression: 'lz4', chunkPages: 4096, pages: allocationPatterns.descendingRuns(400, 810, 3) },
    ] as const;
    for (const shape of shapes) {
      const { device } = writeImage({ stream, encryption: sealed.encryption, devicePages: 812, ...shape });
      const image = await loadImage(device, 0, expectSame, sealed.options);
      expectSameBytes(await streamOf(image, 13), stream, JSON.stringify(shape.compression + shape.chunkPages));
      expect(readHeaderSummary(device, 0).keyKind).toBe('public-key');
    }
  });

  it('leaves no plaintext on the disk, and gives each image its own id and ciphertext', () => {
    const secret = Buffer.from('hiberkit-plaintext-canary-'.repeat(200));
    const withSecret = new Uint8Array(8 * PAGE_SIZE);
    withSecret.set(secret, 1000);
    const { encryption } = publicKeyEncryption();
    const images = [writeImage({ stream: withSecret, encryption, compression: 'none' }), writeImage({ stream: withSecret, encryption })];
    for (const { device } of images) expect(Buffer.from(device.bytes).includes('plaintext-canary')).toBe(false);
    const headers = images.map(({ device, summary }) => device.bytes.subarray(summary.headerPage * PAGE_SIZE, (summary.headerPage + 1) * PAGE_SIZE));
    expect(Buffer.from(headers[0].subarray(S_IMAGE_ID, S_IMAGE_ID + 16)).equals(Buffer.from(headers[1].subarray(S_IMAGE_ID, S_IMAGE_ID + 16)))).toBe(false);
    // The plain image, for contrast, keeps it readable.
    expect(Buffer.from(writeImage({ stream: withSecret, compression: 'none' }).device.bytes).includes('plaintext-canary')).toBe(true);
  });

  it('wipes the writer’s derived keys when it finishes and when it fails', () => {
    const keysOf = (writer: ImageWriter) => (writer as unknown as { keys: { chunkKey: Buffer; headerKey: Buffer } }).keys;
    const { encryption } = publicKeyEncryption();
    const { device, original } = swapDevice(64);
    const options = { storage: device, resumePage: 0, originalResumePage: original, identity: testIdentity, compression: 'lz4', chunkPages: 1, streamPages: 2, ioBytes: 4096, encryption } as const;
    const finished = new ImageWriter({ ...options, allocator: listAllocator(allocationPatterns.contiguous(63)) });
    finished.writePages(new Uint8Array(2 * PAGE_SIZE));
    expect(keysOf(finished).chunkKey.equals(deriveImageKeys(encryption.dataKey).chunkKey)).toBe(true);
    finished.finish();
    const failed = new ImageWriter({ ...options, allocator: listAllocator([]) });
    // Random pages stay raw, so the first one fills the one-page I/O buffer and needs a swap page.
    expect(() => failed.writePages(randomBytes(2 * PAGE_SIZE, 11))).toThrow('test allocator exhausted');
    expect(() => failed.finish()).toThrow(/after a failure/);
    for (const writer of [finished, failed]) {
      expect(keysOf(writer).chunkKey.every((b) => b === 0)).toBe(true);
      expect(keysOf(writer).headerKey.every((b) => b === 0)).toBe(true);
    }
    // The data key is the caller's to wipe.
    expect(Buffer.from(encryption.dataKey).some((b) => b !== 0)).toBe(true);
  });
});

describe('keys: missing, wrong, or required', () => {
  const stream = snapshotLikeStream(40, 7);

  it('KEY_REQUIRED without an unlock callback; IMAGE_NOT_ENCRYPTED for a plain image when encryption is required', async () => {
    const sealed = publicKeyEncryption();
    const encrypted = writeImage({ stream, encryption: sealed.encryption }).device;
    const plain = writeImage({ stream }).device;
    expect(await codeOf(loadImage(encrypted, 0, expectSame))).toBe('KEY_REQUIRED');
    expect(await codeOf(loadImage(plain, 0, expectSame, { requireEncryption: true }))).toBe('IMAGE_NOT_ENCRYPTED');
    expect(await codeOf(loadImage(encrypted, 0, expectSame, { ...sealed.options, requireEncryption: true }))).toBe('no error');
    expect(await codeOf(loadImage(plain, 0, expectSame, sealed.options))).toBe('no error');
  });

  it('passes WRONG_PASSPHRASE and WRONG_KEY from the callback through untouched', async () => {
    const { encryption, unlockWith } = passphraseEncryption('right');
    const byPassphrase = writeImage({ stream, encryption }).device;
    const rejection = await loadImage(byPassphrase, 0, expectSame, unlockWith('wrong')).catch((err: unknown) => err);
    expect(rejection).toMatchObject({ code: 'WRONG_PASSPHRASE' });
    const thrown = new HiberkitError('WRONG_PASSPHRASE', 'the caller’s own error');
    await expect(loadImage(byPassphrase, 0, expectSame, { unlock: () => Promise.reject(thrown) })).rejects.toBe(thrown);

    const sealed = publicKeyEncryption();
    const byPublicKey = writeImage({ stream, encryption: sealed.encryption }).device;
    const stranger = generateRawKeyPair().privateKey;
    expect(await codeOf(loadImage(byPublicKey, 0, expectSame, { unlock: async (block) => openDataKey(block, { privateKey: stranger }) }))).toBe('WRONG_KEY');
    expect(await codeOf(loadImage(byPassphrase, 0, expectSame, sealed.options))).toBe('WRONG_KEY');
  });

  it('asks for the key only once the header passed its CRC, and checks identity only after the MAC', async () => {
    const sealed = publicKeyEncryption();
    const { device, summary } = writeImage({ stream, encryption: sealed.encryption });
    let asked = 0;
    const counting: LoadOptions = { unlock: (block, kind) => (asked++, sealed.options.unlock!(block, kind)) };
    expect(await codeOf(loadImage(device, 0, { ...expectSame, kernelRelease: '6.12.0' }, counting))).toBe('WRONG_KERNEL');
    expect(asked).toBe(1);
    device.bytes[summary.headerPage * PAGE_SIZE + H_CREATED_AT_MS] ^= 1;
    expect(await codeOf(loadImage(device, 0, expectSame, counting))).toBe('IMAGE_CORRUPT');
    expect(asked).toBe(1);
  });
});

/** An encrypted image on contiguous pages (the chunk stream starts at page 1), with what tampering needs. */
function encryptedImage(stream: Uint8Array, compression: 'lz4' | 'none' = 'lz4', chunkPages = 4) {
  const sealed = publicKeyEncryption();
  const written = writeImage({ stream, encryption: sealed.encryption, compression, chunkPages, pages: allocationPatterns.contiguous(stream.length / PAGE_SIZE * 2 + 8, 1) });
  return { ...written, ...sealed, bytes: written.device.bytes };
}

/** Where encryptedImage's chunk stream starts: page 1, right after the resume page. */
const STREAM_START = PAGE_SIZE;

/** The attacker's tools: recompute the CRCs a change broke. */
function fixRecordCrc(bytes: Uint8Array, at: number): void {
  new DataView(bytes.buffer, bytes.byteOffset + at).setUint32(C_CRC, crc32c(bytes.subarray(at, at + C_CRC)), true);
}

function fixPayloadCrc(bytes: Uint8Array, at: number): void {
  const chunk = decodeChunkHeader(bytes, at, true);
  new DataView(bytes.buffer, bytes.byteOffset + at).setUint32(20, crc32c(bytes.subarray(at + CHUNK_HEADER_BYTES, at + CHUNK_HEADER_BYTES + chunk.storedBytes)), true);
  fixRecordCrc(bytes, at);
}

/** Header page CRC, then the marker (its copy of that CRC and its own CRC). */
function fixHeaderAndMarker(bytes: Uint8Array, headerPage: number, original: Uint8Array): void {
  const page = bytes.subarray(headerPage * PAGE_SIZE, (headerPage + 1) * PAGE_SIZE);
  new DataView(page.buffer, page.byteOffset).setUint32(H_CRC, crc32c(page.subarray(0, H_CRC)), true);
  bytes.set(markResumePage(original, headerPage, pageContentCrc(page)), 0);
}

/**
 * Bit flips among `candidates` ([byte, bit] in `page`) that leave pageContentCrc unchanged: CRC32C
 * is linear, so with more than 32 candidates some nonempty subset cancels out (Gaussian elimination).
 */
function crcNeutralFlips(page: Uint8Array, candidates: [number, number][]): [number, number][] {
  const base = pageContentCrc(page);
  const rows = new Map<number, { vector: number; members: Set<number> }>();
  for (let i = 0; i < candidates.length; i++) {
    const [byte, bit] = candidates[i];
    page[byte] ^= 1 << bit;
    let vector = (pageContentCrc(page) ^ base) >>> 0;
    page[byte] ^= 1 << bit;
    let members = new Set([i]);
    while (vector !== 0) {
      const pivot = 31 - Math.clz32(vector);
      const row = rows.get(pivot);
      if (!row) {
        rows.set(pivot, { vector, members });
        break;
      }
      vector = (vector ^ row.vector) >>> 0;
      members = new Set([...members].filter((m) => !row.members.has(m)).concat([...row.members].filter((m) => !members.has(m))));
    }
    if (vector === 0) return [...members].map((m) => candidates[m]);
  }
  throw new Error('no CRC-neutral set of flips among the candidates');
}

describe('an attacker who recomputes every CRC is caught', () => {
  const stream = snapshotLikeStream(40, 8);

  async function codeAfter(tamper: (image: ReturnType<typeof encryptedImage>) => void, compression: 'lz4' | 'none' = 'lz4'): Promise<string> {
    const image = encryptedImage(stream, compression);
    expect(await codeOf(loadImage(image.device, 0, expectSame, image.options))).toBe('no error');
    tamper(image);
    return codeOf(loadImage(image.device, 0, expectSame, image.options));
  }

  it('by the header MAC: a changed field, kernel release or image id', async () => {
    for (const offset of [H_CREATED_AT_MS, H_KERNEL_RELEASE, S_IMAGE_ID]) {
      const code = await codeAfter(({ bytes, summary, original }) => {
        bytes[summary.headerPage * PAGE_SIZE + offset] ^= 0x04;
        fixHeaderAndMarker(bytes, summary.headerPage, original);
      });
      expect(code, `header byte ${offset}`).toBe('IMAGE_TAMPERED');
    }
  });

  it('by the header copy of the original signature: a marker that would put another one back', async () => {
    const code = await codeAfter(({ bytes, summary, original }) => {
      const other = Uint8Array.from(original);
      other.set(Buffer.from('SWAP-SPACE', 'latin1'), 4086);
      const page = bytes.subarray(summary.headerPage * PAGE_SIZE, (summary.headerPage + 1) * PAGE_SIZE);
      bytes.set(markResumePage(other, summary.headerPage, pageContentCrc(page)), 0);
    });
    expect(code).toBe('IMAGE_TAMPERED');
  });

  it('by the extent map SHA-256: a map forged to keep its CRC', async () => {
    const code = await codeAfter(({ bytes, device }) => {
      const mapPageIndex = readHeaderSummary(device, 0).header.extentMapPage;
      const page = bytes.subarray(mapPageIndex * PAGE_SIZE, (mapPageIndex + 1) * PAGE_SIZE);
      // The low bits of the first extent's start and length: a map that names other pages.
      const candidates: [number, number][] = [];
      for (const field of [M_ENTRIES, M_ENTRIES + 8]) for (let bit = 0; bit < 20; bit++) candidates.push([field + (bit >> 3), bit & 7]);
      for (const [byte, bit] of crcNeutralFlips(page, candidates)) page[byte] ^= 1 << bit;
    });
    expect(code).toBe('IMAGE_TAMPERED');
  });

  it('by the chunk tags: a changed payload, tag or codec, or two chunks swapped', async () => {
    const count = Math.ceil(stream.length / PAGE_SIZE / 4);
    expect(await codeAfter(({ bytes }) => {
      const at = recordOffsets(bytes, STREAM_START, count, true)[2];
      bytes[at + CHUNK_HEADER_BYTES + 10] ^= 0x01;
      fixPayloadCrc(bytes, at);
    })).toBe('IMAGE_TAMPERED');
    expect(await codeAfter(({ bytes }) => {
      const at = recordOffsets(bytes, STREAM_START, count, true)[1];
      bytes[at + C_TAG + 15] ^= 0x80;
      fixRecordCrc(bytes, at);
    })).toBe('IMAGE_TAMPERED');
    // Raw chunks all have the same length, so they can trade places and numbers.
    expect(await codeAfter(({ bytes }) => {
      const [first, second] = recordOffsets(bytes, STREAM_START, count, true);
      const length = second - first;
      const a = bytes.slice(first, second);
      bytes.copyWithin(first, second, second + length);
      bytes.set(a, second);
      bytes.copyWithin(first + 4, second + 4, second + 8);
      new DataView(bytes.buffer).setUint32(second + 4, 1, true);
      fixRecordCrc(bytes, first);
      fixRecordCrc(bytes, second);
    }, 'none')).toBe('IMAGE_TAMPERED');
    // An LZ4 chunk relabelled raw is refused on its length; one with a codec the tag never saw, on its tag.
    expect(await codeAfter(({ bytes }) => {
      const at = recordOffsets(bytes, STREAM_START, count, true)[0];
      bytes[at + C_CODEC] ^= 1;
      fixRecordCrc(bytes, at);
    })).toMatch(/^IMAGE_(CORRUPT|TAMPERED)$/);
  });

  it('by the image id: pieces of two images made with the same keys do not mix', async () => {
    // Writers take a fresh data key per image; sharing one here leaves only the image id to tell them apart.
    const sealed = publicKeyEncryption();
    const write = (seed: number) =>
      writeImage({ stream: randomBytes(40 * PAGE_SIZE, seed), encryption: sealed.encryption, compression: 'none', pages: allocationPatterns.contiguous(88, 1) });
    const [first, second] = [write(1), write(2)];
    const headerPage = first.summary.headerPage;
    expect(second.summary.headerPage).toBe(headerPage);
    // The second image's chunk stream under the first one's header: same lengths, valid CRCs.
    const chunks = new MemoryBlockDevice(Uint8Array.from(first.device.bytes));
    chunks.bytes.set(second.device.bytes.subarray(PAGE_SIZE, headerPage * PAGE_SIZE), PAGE_SIZE);
    expect(await codeOf(loadImage(chunks, 0, expectSame, sealed.options))).toBe('IMAGE_TAMPERED');
    // The second image's header (valid MAC, same extent map) under the first one's marker, made to match it.
    const header = new MemoryBlockDevice(Uint8Array.from(first.device.bytes));
    header.bytes.set(second.device.bytes.subarray(headerPage * PAGE_SIZE, (headerPage + 1) * PAGE_SIZE), headerPage * PAGE_SIZE);
    fixHeaderAndMarker(header.bytes, headerPage, first.original);
    expect(await codeOf(loadImage(header, 0, expectSame, sealed.options))).toBe('IMAGE_TAMPERED');
  });
});

describe('one changed bit anywhere in an encrypted image', () => {
  it('is refused with a HiberkitError, never loaded', async () => {
    const stream = snapshotLikeStream(6, 10);
    const { device, summary, options } = encryptedImage(stream, 'lz4', 2);
    const clean = Uint8Array.from(device.bytes);
    // The data key behind the intact key block, kept so that each load need not run X25519 again.
    const headerBytes = device.bytes.subarray(summary.headerPage * PAGE_SIZE, (summary.headerPage + 1) * PAGE_SIZE);
    const intactBlock = Buffer.from(decodeSecurityBlock(headerBytes).keyBlock);
    const dataKey = (await options.unlock!(intactBlock, 'public-key')) as Uint8Array;
    const fast: LoadOptions = { unlock: async (block, kind) => (Buffer.from(block).equals(intactBlock) ? Uint8Array.from(dataKey) : options.unlock!(block, kind)) };
    const image = await loadImage(device, 0, expectSame, fast);
    const streamPages = image.extents.flatMap((e) => Array.from({ length: e.pageCount }, (_, i) => e.startPage + i));
    const mapPage = image.header.extentMapPage;
    expect(streamPages.length).toBeGreaterThanOrEqual(2);

    // Every bit of the marker, the security block's fields, the map's first entries, the chunk
    // headers and the start of the padding; one random bit of every other byte of the header page,
    // and of every fourth byte of the map and chunk stream pages (whose loads, past the MAC, are
    // the slow ones: all of them would take this test over ten seconds).
    const random = seededRandom(12);
    const flips: [number, number][] = [];
    const everyBit = (from: number, to: number) => {
      for (let at = from; at < to; at++) for (let bit = 0; bit < 8; bit++) flips.push([at, bit]);
    };
    const oneBitEvery = (step: number, from: number, to: number) => {
      for (let at = from + Math.floor(random() * step); at < to; at += step) flips.push([at, Math.floor(random() * 8)]);
    };
    everyBit(4048, PAGE_SIZE);
    const header = summary.headerPage * PAGE_SIZE;
    oneBitEvery(1, header, header + 1024);
    everyBit(header + 1024, header + 1232);
    oneBitEvery(1, header + 1232, header + PAGE_SIZE);
    everyBit(mapPage * PAGE_SIZE, mapPage * PAGE_SIZE + 64);
    oneBitEvery(4, mapPage * PAGE_SIZE + 64, (mapPage + 1) * PAGE_SIZE);
    const records = recordOffsets(device.bytes, STREAM_START, image.header.chunkCount, true);
    for (const at of records) everyBit(at, at + CHUNK_HEADER_BYTES);
    for (const page of streamPages) oneBitEvery(4, page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
    const paddingStart = PAGE_SIZE + image.header.storedBytes;
    expect(paddingStart % PAGE_SIZE).not.toBe(0);
    everyBit(paddingStart, paddingStart + 16);

    // A single changed bit never gets past the CRCs (the accidental-damage check comes first);
    // the signature's bits turn the page into something else than a hiberkit marker.
    const expected = new Set(['IMAGE_CORRUPT', 'FOREIGN_SIGNATURE', 'UNSUPPORTED_VERSION']);
    for (const [at, bit] of flips) {
      device.bytes[at] ^= 1 << bit;
      const code = await codeOf(loadImage(device, 0, expectSame, fast));
      if (!expected.has(code)) expect.fail(`byte ${at} (page ${Math.floor(at / PAGE_SIZE)}) bit ${bit}: ${code}`);
      device.bytes[at] = clean[at];
    }
    expect(flips.length).toBeGreaterThan(10_000);
    expect(Buffer.compare(device.bytes, clean)).toBe(0);
    expectSameBytes(await streamOf(await loadImage(device, 0, expectSame, fast)), stream);
    wipe(dataKey);
    // Over ten thousand loads: about 20 s on a quiet 2-core host, several times that when VMs share it.
  }, 240_000);
});

describe('the native critical section with an encrypted plan', () => {
  /** A storage file with a clean swap header at page 1 (the hibernate path never reaches the write here). */
  function storageFile(name: string): { path: string; original: Uint8Array } {
    const original = swapHeaderPage(15);
    const file = new Uint8Array(16 * PAGE_SIZE);
    file.set(original, PAGE_SIZE);
    const path = join(workdir, name);
    writeFileSync(path, file);
    return { path, original };
  }

  it('derives the keys, hands them over, wipes its copies, and gets as far as the freeze', async () => {
    const { path, original } = storageFile('critical.img');
    const storage = new NativeBlockDevice(native, path, { write: true });
    const passed: { chunkKey: Uint8Array; copy: Uint8Array; keyBlock: Uint8Array; imageId: Uint8Array }[] = [];
    const binding = {
      ...native,
      snapshotOpen: () => openSync('/dev/null', 'r'),
      snapshotAvailSwapSize: () => 15 * PAGE_SIZE,
      criticalHibernate: (params: Parameters<NonNullable<typeof native.criticalHibernate>>[0]) => {
        const keys = params.encryption!;
        passed.push({ chunkKey: keys.chunkKey, copy: Uint8Array.from(keys.chunkKey), keyBlock: Uint8Array.from(keys.keyBlock), imageId: keys.imageId });
        return native.criticalHibernate!(params);
      },
    };
    const { encryption } = publicKeyEncryption();
    const expectedChunkKey = deriveImageKeys(encryption.dataKey).chunkKey;
    const reports: NativeCriticalResult[] = [];
    try {
      const outcome = await createNativeCriticalSection(binding, { onReport: (r) => reports.push(r) }).hibernate({
        device: new NativeSnapshotDevice(binding, '/dev/null', 'hibernate'),
        storage,
        resumePage: 1,
        originalResumePage: original,
        header: { kernelRelease: '6.1.0-test', machineId: 'host-test', createdAtMs: Date.now(), platformMode: false },
        compression: 'lz4',
        chunkPages: 32,
        powerOff: 'shutdown',
        progressFd: -1,
        encryption,
      });
      expect(outcome.kind).toBe('failed');
      // The addon accepted the keys and prepared its cipher: the child ran up to SNAPSHOT_FREEZE.
      expect(reports[0]).toMatchObject({ outcome: 'failed', stage: 'freeze', errno: ERRNO.ENOTTY });
      expect(Buffer.from(passed[0].copy).equals(expectedChunkKey)).toBe(true);
      // The data key itself is wiped once the addon has the derived keys: it must not be in the
      // heap that the image copies (issue #10).
      expect(encryption.dataKey.every((b) => b === 0)).toBe(true);
      expect(Buffer.from(passed[0].keyBlock).equals(Buffer.from(encryption.keyBlock))).toBe(true);
      expect(passed[0].imageId).toHaveLength(16);
      expect(passed[0].chunkKey.every((b) => b === 0)).toBe(true);
    } finally {
      storage.close();
    }
  });

  it('names a malformed key in its TypeError, and still closes the device', () => {
    const { path, original } = storageFile('critical-bad.img');
    const storageFd = openSync(path, 'r+');
    const keys = imageKeysFor(publicKeyEncryption().encryption);
    try {
      expect(() =>
        native.criticalHibernate!({
          snapshotFd: openSync('/dev/null', 'r'),
          snapshotPath: join(workdir, 'no-snapshot-device'),
          storageFd,
          resumePage: 1,
          originalResumePage: original,
          progressFd: -1,
          kernelRelease: '6.1.0-test',
          machineId: 'host-test',
          createdAtMs: 0,
          platformMode: false,
          compress: true,
          chunkPages: 32,
          maxStoredPages: 15,
          ioBytes: 1 << 20,
          powerOff: 'shutdown',
          encryption: { ...keys, headerKey: keys.headerKey.subarray(0, 31) },
        }),
      ).toThrow(new TypeError('criticalHibernate: headerKey must be a Uint8Array of 32 bytes'));
    } finally {
      closeSync(storageFd);
    }
  });
});

describe('the origin signature of a public-key image (issue #10)', () => {
  const stream = snapshotLikeStream(12, 31);
  const signedImage = () => {
    const signed = signedPublicKeyEncryption(randomBytes(16, 32));
    const written = writeImage({ stream, encryption: signed.encryption, compression: 'lz4', chunkPages: 4 });
    const headerPage = readHeaderSummary(written.device, 0).marker.headerPage;
    return { ...written, ...signed, headerPage, header: written.device.bytes.subarray(headerPage * PAGE_SIZE, (headerPage + 1) * PAGE_SIZE) };
  };

  it('is stored with flag bit 4 and opens with the verify key', async () => {
    const { device, options, header } = signedImage();
    expect(new DataView(header.buffer, header.byteOffset).getUint32(12, true) & FLAG_SIGNED).toBe(FLAG_SIGNED);
    expect(decodeSecurityBlock(header).originSignature).toHaveLength(64);
    expectSameBytes(await streamOf(await loadImage(device, 0, expectSame, options)), stream);
  });

  it('a changed signature, with every CRC recomputed as an attacker would: IMAGE_FORGED', async () => {
    const { device, options, header, headerPage, original } = signedImage();
    header[1232 + 7]! ^= 0x01;
    fixHeaderAndMarker(device.bytes, headerPage, original);
    expect(await codeOf(loadImage(device, 0, expectSame, options))).toBe('IMAGE_FORGED');
  });

  it('the signature flag cleared (as if unsigned), CRCs recomputed: IMAGE_FORGED', async () => {
    const { device, options, header, headerPage, original } = signedImage();
    const view = new DataView(header.buffer, header.byteOffset);
    view.setUint32(12, view.getUint32(12, true) & ~FLAG_SIGNED, true);
    fixHeaderAndMarker(device.bytes, headerPage, original);
    expect(await codeOf(loadImage(device, 0, expectSame, options))).toBe('IMAGE_FORGED');
  });

  it('an unsigned image, or one signed with another key, where this machine verifies: IMAGE_FORGED', async () => {
    const someVerifyKey = signedImage().verifyKey;
    const unsigned = encryptedImage(stream);
    const verifying: LoadOptions = { unlock: async (block) => ({ dataKey: openDataKey(block, { privateKey: unsigned.privateKey }), verifyKey: someVerifyKey }) };
    expect(await codeOf(loadImage(unsigned.device, 0, expectSame, verifying))).toBe('IMAGE_FORGED');
    // Without a verify key (a private-key file of an older keygen) the same image opens.
    expect((await loadImage(unsigned.device, 0, expectSame, unsigned.options)).header.encrypted).toBe(true);
    const signed = signedImage();
    const otherKey: LoadOptions = {
      unlock: async (block) => {
        const { dataKey } = (await signed.options.unlock!(block, 'public-key')) as UnlockedKey;
        return { dataKey, verifyKey: someVerifyKey };
      },
    };
    expect(await codeOf(loadImage(signed.device, 0, expectSame, otherKey))).toBe('IMAGE_FORGED');
  });

  it('flag bit 4 without encryption is a format this version does not define', () => {
    const { device } = writeImage({ stream, compression: 'lz4', chunkPages: 4 });
    const headerPage = readHeaderSummary(device, 0).marker.headerPage;
    const header = device.bytes.subarray(headerPage * PAGE_SIZE, (headerPage + 1) * PAGE_SIZE);
    const view = new DataView(header.buffer, header.byteOffset);
    view.setUint32(12, view.getUint32(12, true) | FLAG_SIGNED, true);
    view.setUint32(4092, crc32c(header.subarray(0, 4092)), true);
    expect(() => checkHeaderPage(header)).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_VERSION' }));
  });
});
