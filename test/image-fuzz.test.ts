/**
 * Every reader of on-disk data fed damaged and hostile input: the marker, header and extent map
 * decoders, the chunk record decoder, and loadImage on whole images (plain and encrypted) that
 * were cut short, overwritten, bit-flipped, shuffled, or rewritten by an attacker who recomputes
 * the CRCs (extents off the device or over the header and marker, huge counts, garbage LZ4).
 *
 * The properties: nothing but a HiberkitError ever escapes; a structure a decoder accepts encodes
 * back to exactly the same bytes (so no byte goes unchecked); and an image that loads yields
 * exactly the stream that was written. Every generator is seeded: a failure names its trial and
 * reproduces.
 */
import { describe, expect, it } from 'vitest';
import { HiberkitError } from '../lib/errors.js';
import { PAGE_SIZE } from '../lib/ioctls.js';
import { crc32c, lz4Decompress } from '../lib/codec/index.js';
import {
  CHUNK_HEADER_BYTES,
  EXTENTS_PER_MAP_PAGE,
  checkHeaderPage,
  decodeChunkHeader,
  decodeExtentMapPage,
  decodeHeader,
  decodeMarker,
  decodeSecurityBlock,
  encodeChunkHeader,
  encodeExtentMapPage,
  encodeHeader,
  markResumePage,
  pageContentCrc,
  type Extent,
} from '../lib/image/format.js';
import { loadImage, readHeaderSummary, readMarker, type LoadOptions } from '../lib/image/reader.js';
import {
  MemoryBlockDevice,
  allocationPatterns,
  expectSame,
  publicKeyEncryption,
  randomBytes,
  seededRandom,
  snapshotLikeStream,
  streamOf,
  swapHeaderPage,
  writeImage,
} from './image-support.js';

type Random = () => number;

const int = (random: Random, below: number) => Math.floor(random() * below);
const pick = <T>(random: Random, items: readonly T[]): T => items[int(random, items.length)];

/** Runs `read`; a HiberkitError is a refusal, anything else thrown fails the test with `label`. */
function refusedOrValue<T>(label: string, read: () => T): T | HiberkitError {
  try {
    return read();
  } catch (err) {
    if (err instanceof HiberkitError) return err;
    throw new Error(`${label}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`, { cause: err });
  }
}

function setU32(bytes: Uint8Array, at: number, value: number): void {
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, value >>> 0, true);
}

function setU64(bytes: Uint8Array, at: number, value: bigint): void {
  new DataView(bytes.buffer, bytes.byteOffset).setBigUint64(at, BigInt.asUintN(64, value), true);
}

/** Values that break naive arithmetic: zero, one, the edges of u32, safe integers and u64. */
const HOSTILE_U64 = [0n, 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n];

/** Overwrites 1..16 random bytes, flips 1..3 random bits, or stores a hostile u32/u64 at `from..to`. */
function mutate(random: Random, bytes: Uint8Array, from: number, to: number): void {
  const at = from + int(random, to - from);
  switch (int(random, 4)) {
    case 0:
      for (let i = 0, n = 1 + int(random, 16); i < n && at + i < to; i++) bytes[at + i] = int(random, 256);
      break;
    case 1:
      for (let i = 0, n = 1 + int(random, 3); i < n; i++) bytes[from + int(random, to - from)] ^= 1 << int(random, 8);
      break;
    case 2:
      if (at + 4 <= to) setU32(bytes, at - (at % 4), Number(BigInt.asUintN(32, pick(random, HOSTILE_U64))));
      break;
    default:
      if (at + 8 <= to) setU64(bytes, at - (at % 8), pick(random, HOSTILE_U64));
  }
}

/** Header and extent map pages end with the CRC32C of bytes 0..4091: what an attacker recomputes. */
function fixPageCrc(page: Uint8Array): void {
  setU32(page, 4092, crc32c(page.subarray(0, 4092)));
}

describe('the structure decoders, on hostile pages', () => {
  it('marker: refuses or decodes, for random markers with and without a valid CRC', () => {
    const random = seededRandom(101);
    const original = swapHeaderPage(1000);
    for (let trial = 0; trial < 3000; trial++) {
      const page = markResumePage(original, int(random, 2 ** 20), int(random, 2 ** 32));
      mutate(random, page, 4048, 4096);
      if (random() < 0.5) {
        setU32(page, 4060, 0);
        setU32(page, 4060, crc32c(page.subarray(4048)));
      }
      const marker = refusedOrValue(`marker trial ${trial}`, () => decodeMarker(page));
      if (!(marker instanceof HiberkitError)) {
        expect(Buffer.from(markResumePage(original, marker.headerPage, marker.headerCrc32c)).equals(Buffer.from(page)), `marker trial ${trial}`).toBe(true);
      }
    }
  });

  it('header: refuses or decodes to a header that encodes back to the same page, plain and encrypted', () => {
    const random = seededRandom(102);
    const sealed = publicKeyEncryption();
    const images = [writeImage({ stream: snapshotLikeStream(30, 1) }), writeImage({ stream: snapshotLikeStream(30, 2), encryption: sealed.encryption })];
    const pages = images.map(({ device, summary }) => device.bytes.slice(summary.headerPage * PAGE_SIZE, (summary.headerPage + 1) * PAGE_SIZE));
    let accepted = 0;
    for (let trial = 0; trial < 4000; trial++) {
      const page = Uint8Array.from(pick(random, pages));
      // Mostly the fields and the security block, where a decoder has something to get wrong.
      const region = pick(random, [[0, 218], [1024, 1232], [0, 4096]] as const);
      mutate(random, page, region[0], region[1]);
      if (random() < 0.8) fixPageCrc(page);
      const header = refusedOrValue(`header trial ${trial}`, () => decodeHeader(page));
      if (header instanceof HiberkitError) continue;
      accepted++;
      const security = header.encrypted ? decodeSecurityBlock(page) : null;
      expect(Buffer.from(encodeHeader(header, security)).equals(Buffer.from(page)), `header trial ${trial}`).toBe(true);
      expect(checkHeaderPage(page).encrypted).toBe(header.encrypted);
    }
    // Some mutations leave a valid header (a changed count that still adds up, a new creation time).
    expect(accepted).toBeGreaterThan(0);
  });

  it('extent map page: refuses or decodes to extents that encode back to the same page', () => {
    const random = seededRandom(103);
    for (let trial = 0; trial < 3000; trial++) {
      const count = 1 + int(random, EXTENTS_PER_MAP_PAGE);
      const extents: Extent[] = Array.from({ length: count }, () => ({ startPage: int(random, 2 ** 40), pageCount: 1 + int(random, 1000) }));
      const sequence = int(random, 4);
      const page = encodeExtentMapPage(sequence, extents, int(random, 2 ** 30));
      mutate(random, page, 0, random() < 0.5 ? 24 : 4096);
      if (random() < 0.8) fixPageCrc(page);
      const decoded = refusedOrValue(`map trial ${trial}`, () => decodeExtentMapPage(page, sequence));
      if (!(decoded instanceof HiberkitError)) {
        expect(Buffer.from(encodeExtentMapPage(sequence, decoded.extents, decoded.nextPage)).equals(Buffer.from(page)), `map trial ${trial}`).toBe(true);
      }
    }
  });

  it('chunk record header: refuses or decodes to a header that encodes back to the same bytes', () => {
    const random = seededRandom(104);
    for (let trial = 0; trial < 5000; trial++) {
      const encrypted = random() < 0.5;
      const bytes = new Uint8Array(CHUNK_HEADER_BYTES + 8);
      encodeChunkHeader(bytes, 4, {
        index: int(random, 2 ** 32),
        rawBytes: int(random, 2 ** 24),
        storedBytes: int(random, 2 ** 24),
        codec: int(random, 2) as 0 | 1,
        payloadCrc32c: int(random, 2 ** 32),
        ...(encrypted ? { tag: randomBytes(16, trial) } : {}),
      });
      mutate(random, bytes, 4, 4 + CHUNK_HEADER_BYTES);
      if (random() < 0.8) setU32(bytes, 4 + 44, crc32c(bytes.subarray(4, 4 + 44)));
      const at = random() < 0.05 ? int(random, bytes.length) : 4;
      const chunk = refusedOrValue(`record trial ${trial}`, () => decodeChunkHeader(bytes, at, encrypted));
      if (!(chunk instanceof HiberkitError)) {
        const again = new Uint8Array(bytes.length);
        encodeChunkHeader(again, at, chunk);
        expect(Buffer.from(again.subarray(at, at + CHUNK_HEADER_BYTES)).equals(Buffer.from(bytes.subarray(at, at + CHUNK_HEADER_BYTES))), `record trial ${trial}`).toBe(true);
      }
    }
  });

  it('LZ4 payloads: damaged blocks decode to -1 or to at most the room given, never throw', () => {
    const random = seededRandom(105);
    const stream = snapshotLikeStream(64, 3);
    const { device } = writeImage({ stream, chunkPages: 16, compression: 'lz4', pages: allocationPatterns.contiguous(200, 1) });
    // The LZ4 payloads of the image, as written.
    const blocks: Uint8Array[] = [];
    for (let at = PAGE_SIZE, i = 0; i < 4; i++) {
      const chunk = decodeChunkHeader(device.bytes, at, false);
      if (chunk.codec === 1) blocks.push(device.bytes.slice(at + CHUNK_HEADER_BYTES, at + CHUNK_HEADER_BYTES + chunk.storedBytes));
      at += CHUNK_HEADER_BYTES + chunk.storedBytes;
    }
    expect(blocks.length).toBeGreaterThan(0);
    const out = new Uint8Array(16 * PAGE_SIZE);
    for (let trial = 0; trial < 3000; trial++) {
      const block = Uint8Array.from(pick(random, blocks));
      mutate(random, block, 0, block.length);
      const cut = random() < 0.2 ? block.subarray(0, int(random, block.length)) : block;
      const n = lz4Decompress(cut, out.subarray(0, int(random, out.length + 1)));
      expect(n === -1 || (n >= 0 && n <= out.length), `lz4 trial ${trial}: ${n}`).toBe(true);
    }
  });
});

/** A written image and what the attacker needs to know about it. */
interface Target {
  label: string;
  device: MemoryBlockDevice;
  original: Uint8Array;
  stream: Uint8Array;
  headerPage: number;
  mapPages: number[];
  extents: Extent[];
  options: LoadOptions;
}

async function target(label: string, encrypted: boolean): Promise<Target> {
  const stream = snapshotLikeStream(24, encrypted ? 5 : 4);
  const sealed = publicKeyEncryption();
  // Scattered pages: an extent per page, so that the map has something to get wrong.
  const { device, original, summary } = writeImage({ stream, chunkPages: 4, devicePages: 90, pages: allocationPatterns.scattered(44, 1), ...(encrypted ? { encryption: sealed.encryption } : {}) });
  const image = await loadImage(device, 0, expectSame, sealed.options);
  const mapPages: number[] = [];
  for (let next = image.header.extentMapPage, i = 0; i < image.header.extentMapPages; i++) {
    mapPages.push(next);
    next = decodeExtentMapPage(device.bytes.subarray(next * PAGE_SIZE, (next + 1) * PAGE_SIZE), i).nextPage;
  }
  return { label, device, original, stream, headerPage: summary.headerPage, mapPages, extents: [...image.extents], options: sealed.options };
}

/**
 * The attacker's reseal after editing the map or the header: every map page's CRC, the header's
 * map CRC and its own CRC, the marker. (An encrypted header's MAC cannot be redone without the key.)
 */
function reseal(t: Target, bytes: Uint8Array): void {
  let mapCrc = 0;
  for (const page of t.mapPages) {
    const view = bytes.subarray(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
    fixPageCrc(view);
    mapCrc = pageContentCrc(view, mapCrc);
  }
  const header = bytes.subarray(t.headerPage * PAGE_SIZE, (t.headerPage + 1) * PAGE_SIZE);
  setU32(header, 80, mapCrc);
  fixPageCrc(header);
  bytes.set(markResumePage(t.original, t.headerPage, pageContentCrc(header)), 0);
}

/** The device byte that holds chunk stream byte `at`. */
function diskByte(extents: readonly Extent[], at: number): number {
  for (const extent of extents) {
    if (at < extent.pageCount * PAGE_SIZE) return extent.startPage * PAGE_SIZE + at;
    at -= extent.pageCount * PAGE_SIZE;
  }
  throw new RangeError('past the chunk stream');
}

/** Chunk stream bytes `at..at+length`, copied out of the device, and a way to put them back. */
function streamBytes(t: Target, bytes: Uint8Array, at: number, length: number): { data: Uint8Array; writeBack: () => void } {
  const data = Uint8Array.from({ length }, (_, i) => bytes[diskByte(t.extents, at + i)]);
  return { data, writeBack: () => data.forEach((b, i) => (bytes[diskByte(t.extents, at + i)] = b)) };
}

/**
 * The attacks: each changes `bytes` (a copy of the target's device) the way its name says, or
 * returns a shorter device.
 */
const attacks: Record<string, (t: Target, bytes: Uint8Array, random: Random) => Uint8Array | void> = {
  'random damage to a page of the image': (t, bytes, random) => {
    const page = pick(random, [0, t.headerPage, ...t.mapPages, ...t.extents.map((e) => e.startPage)]);
    mutate(random, bytes, page === 0 ? 4048 : page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
  },
  'two pages swapped': (t, bytes, random) => {
    const used = [t.headerPage, ...t.mapPages, ...t.extents.map((e) => e.startPage)];
    const [a, b] = [pick(random, used), random() < 0.5 ? pick(random, used) : int(random, bytes.length / PAGE_SIZE)];
    const saved = bytes.slice(a * PAGE_SIZE, (a + 1) * PAGE_SIZE);
    bytes.copyWithin(a * PAGE_SIZE, b * PAGE_SIZE, (b + 1) * PAGE_SIZE);
    bytes.set(saved, b * PAGE_SIZE);
  },
  'an extent moved off the device, onto the header, the marker or a map page (CRCs redone)': (t, bytes, random) => {
    const entry = int(random, t.extents.length);
    const page = t.mapPages[Math.floor(entry / EXTENTS_PER_MAP_PAGE)];
    const where = page * PAGE_SIZE + 24 + (entry % EXTENTS_PER_MAP_PAGE) * 16;
    const devicePages = bytes.length / PAGE_SIZE;
    const start = pick(random, [devicePages, devicePages - 1, 2 ** 40, t.headerPage, 0, ...t.mapPages]);
    setU64(bytes, where, BigInt(start));
    if (random() < 0.5) setU64(bytes, where + 8, pick(random, HOSTILE_U64));
    reseal(t, bytes);
  },
  'huge or inconsistent counts in the header (CRCs redone)': (t, bytes, random) => {
    const field = pick(random, [16, 24, 32, 40, 48, 56, 64, 72]);
    const header = t.headerPage * PAGE_SIZE;
    if (field === 40) setU32(bytes, header + field, Number(BigInt.asUintN(32, pick(random, HOSTILE_U64))));
    else setU64(bytes, header + field, pick(random, HOSTILE_U64));
    reseal(t, bytes);
  },
  'a chunk record with hostile lengths, codec or index (CRC redone)': (t, bytes, random) => {
    const { data, writeBack } = streamBytes(t, bytes, 0, CHUNK_HEADER_BYTES);
    const field = pick(random, [4, 8, 12, 16]);
    setU32(data, field, Number(BigInt.asUintN(32, pick(random, HOSTILE_U64))));
    setU32(data, 44, crc32c(data.subarray(0, 44)));
    writeBack();
  },
  'garbage in a payload (payload and record CRCs redone)': (t, bytes, random) => {
    const header = streamBytes(t, bytes, 0, CHUNK_HEADER_BYTES);
    const stored = new DataView(header.data.buffer).getUint32(12, true);
    const payload = streamBytes(t, bytes, CHUNK_HEADER_BYTES, stored);
    mutate(random, payload.data, 0, stored);
    payload.writeBack();
    setU32(header.data, 20, crc32c(payload.data));
    setU32(header.data, 44, crc32c(header.data.subarray(0, 44)));
    header.writeBack();
  },
  'the device cut short': (t, bytes, random) => {
    const lastUsed = Math.max(t.headerPage, ...t.mapPages, ...t.extents.map((e) => e.startPage + e.pageCount - 1));
    return bytes.subarray(0, (1 + int(random, lastUsed + 1)) * PAGE_SIZE);
  },
};

describe('loadImage on damaged and hostile images', () => {
  it.each([
    ['plain', false],
    ['encrypted', true],
  ] as const)('%s: only HiberkitErrors, and whatever loads is the original stream', async (label, encrypted) => {
    const t = await target(label, encrypted);
    const random = seededRandom(encrypted ? 202 : 201);
    const names = Object.keys(attacks);
    const outcomes = new Map<string, Map<string, number>>();
    for (let trial = 0; trial < 1400; trial++) {
      const name = names[trial % names.length];
      const bytes = Uint8Array.from(t.device.bytes);
      const device = new MemoryBlockDevice(attacks[name](t, bytes, random) ?? bytes);
      const where = `${label} trial ${trial} (${name})`;
      let code: string;
      try {
        refusedOrValue(`${where}, summary`, () => readHeaderSummary(device, 0));
        refusedOrValue(`${where}, marker`, () => readMarker(device, 0));
        const image = await loadImage(device, 0, expectSame, t.options);
        expect(Buffer.compare(await streamOf(image), t.stream), `${where}: a different stream loaded`).toBe(0);
        code = 'loaded';
      } catch (err) {
        if (!(err instanceof HiberkitError)) throw new Error(`${where}: ${String(err)}`, { cause: err });
        code = err.code;
      }
      const counts = outcomes.get(name) ?? new Map<string, number>();
      counts.set(code, (counts.get(code) ?? 0) + 1);
      outcomes.set(name, counts);
    }
    // Each attack was refused at least sometimes (a swap of two unused pages, say, may load fine).
    for (const name of names) expect([...outcomes.get(name)!.keys()].some((code) => code !== 'loaded'), `${label}: ${name}`).toBe(true);
    if (encrypted) {
      // With the CRCs redone, only the authentication stands in the way.
      expect(outcomes.get('garbage in a payload (payload and record CRCs redone)')!.get('IMAGE_TAMPERED')).toBeGreaterThan(0);
      expect(outcomes.get('huge or inconsistent counts in the header (CRCs redone)')!.get('IMAGE_TAMPERED')).toBeGreaterThan(0);
    }
  });
});
