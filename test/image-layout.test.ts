// The image format's layout is defined once (lib/image/layout.ts); the C++ declarations are
// generated from it. These tests keep the committed header in step, and check that the layout
// describes a format that can exist: fields apart, inside their page and before its CRC.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CPP_LAYOUT_PATH, renderCppLayout } from '../lib/image/layout-cpp.js';
import {
  CHUNK,
  CHUNK_AUTHENTICATED_BYTES,
  CHUNK_HEADER_BYTES,
  CONSTANTS,
  EXTENT_ENTRY_BYTES,
  EXTENT_MAP,
  EXTENTS_PER_MAP_PAGE,
  FLAG_AUTHENTICATED,
  FLAG_ENCRYPTED,
  FLAG_LZ4,
  FLAG_PLATFORM_MODE,
  FLAG_SIGNED,
  FLAGS_SEALED,
  HEADER,
  MARKER,
  MARKER_OFFSET,
  ORIGINAL_SIGNATURE_OFFSET,
  PAGE_CRC_OFFSET,
  SECURITY,
  SECURITY_BLOCK_BYTES,
  SECURITY_BLOCK_OFFSET,
  SIGNATURE_BYTES,
  SIGNATURE_OFFSET,
  STRUCTURES,
  type Field,
  type Fields,
} from '../lib/image/layout.js';
import { PAGE_SIZE } from '../lib/ioctls.js';

const root = fileURLToPath(new URL('..', import.meta.url));

const end = (field: Field) => field.at + field.bytes;

/** The fields of a structure by offset, each with its name. */
function byOffset(fields: Fields): [string, Field][] {
  return Object.entries(fields).sort(([, a], [, b]) => a.at - b.at);
}

function expectApart(fields: [string, Field][]): void {
  for (let i = 1; i < fields.length; i++) {
    const [previousName, previous] = fields[i - 1];
    const [name, field] = fields[i];
    expect(end(previous), `${previousName} runs into ${name}`).toBeLessThanOrEqual(field.at);
  }
}

describe('native/image_layout.h', () => {
  it('is what lib/image/layout.ts renders, byte for byte', () => {
    const committed = readFileSync(`${root}/${CPP_LAYOUT_PATH}`, 'utf8');
    if (committed !== renderCppLayout()) expect.fail(`${CPP_LAYOUT_PATH} is stale: run npm run gen:layout`);
  });

  it('declares every constant and field under its C++ name', () => {
    const header = renderCppLayout();
    expect(header).toMatch(/^\/\/ Generated from lib\/image\/layout\.ts by npm run gen:layout; do not edit\.\n/);
    expect(header).toContain('constexpr uint32_t kFormatVersion = 1;');
    expect(header).toContain('constexpr uint32_t kChunkMagic = 0x4b434b48;');
    expect(header).toContain("constexpr char kHeaderMagic[8] = {'H', 'K', 'I', 'M', 'A', 'G', 'E', '\\0'};");
    expect(header).toContain('constexpr size_t kSKeyBlock = 1024;  // 128 bytes: ');
    expect(header).toContain('constexpr size_t kMarkerCrc = 4060;  // u32: ');
    const declarations = header.match(/^constexpr /gm) ?? [];
    const fields = STRUCTURES.reduce((sum, { fields }) => sum + Object.keys(fields).length, 0);
    expect(declarations).toHaveLength(Object.keys(CONSTANTS).length + fields);
  });
});

describe('the layout', () => {
  it('gives integer fields the size of their type', () => {
    for (const { title, fields } of STRUCTURES) {
      for (const [name, field] of Object.entries(fields)) {
        if (field.type !== 'bytes') expect(field.bytes, `${title}: ${name}`).toBe(field.type === 'u32' ? 4 : 8);
      }
    }
  });

  it('keeps the fields of each page apart, inside the page and before its CRC', () => {
    for (const fields of [HEADER, SECURITY, EXTENT_MAP]) {
      const sorted = byOffset(fields);
      expectApart(sorted);
      for (const [name, field] of sorted) {
        expect(field.at, name).toBeGreaterThanOrEqual(0);
        if (name !== 'crc') expect(end(field), name).toBeLessThanOrEqual(PAGE_CRC_OFFSET);
      }
    }
    expect(HEADER.crc).toMatchObject({ at: PAGE_CRC_OFFSET, bytes: PAGE_SIZE - PAGE_CRC_OFFSET });
    expect(EXTENT_MAP.crc).toMatchObject({ at: PAGE_CRC_OFFSET, bytes: PAGE_SIZE - PAGE_CRC_OFFSET });
  });

  it('keeps the security block inside its range, clear of the header fields', () => {
    for (const [name, field] of Object.entries(SECURITY)) {
      expect(field.at, name).toBeGreaterThanOrEqual(SECURITY_BLOCK_OFFSET);
      expect(end(field), name).toBeLessThanOrEqual(SECURITY_BLOCK_OFFSET + SECURITY_BLOCK_BYTES);
    }
    expectApart(byOffset({ ...HEADER, securityBlock: { at: SECURITY_BLOCK_OFFSET, bytes: SECURITY_BLOCK_BYTES, type: 'bytes', doc: '' } }));
    expect(SECURITY.originalSignature.bytes).toBe(SIGNATURE_BYTES);
  });

  it('fits the marker and both signatures in the last bytes of the resume page', () => {
    const marker: [string, Field][] = [
      ...byOffset(MARKER),
      ['originalSignature', { at: ORIGINAL_SIGNATURE_OFFSET, bytes: SIGNATURE_BYTES, type: 'bytes', doc: '' }],
      ['signature', { at: SIGNATURE_OFFSET, bytes: SIGNATURE_BYTES, type: 'bytes', doc: '' }],
    ];
    expectApart(marker);
    expect(marker[0][1].at).toBe(MARKER_OFFSET);
    expect(SIGNATURE_OFFSET + SIGNATURE_BYTES).toBe(PAGE_SIZE);
  });

  it('ends a chunk header with its CRC, after the authenticated bytes and the tag', () => {
    expectApart(byOffset(CHUNK));
    expect(end(CHUNK.crc)).toBe(CHUNK_HEADER_BYTES);
    expect(CHUNK.codec.at + CHUNK.codec.bytes).toBe(CHUNK_AUTHENTICATED_BYTES);
    expect(CHUNK.tag.at).toBeGreaterThanOrEqual(end(CHUNK.payloadCrc));
  });

  it('fills an extent map page with as many entries as fit before its CRC', () => {
    expect(EXTENT_MAP.entries.bytes).toBe(EXTENTS_PER_MAP_PAGE * EXTENT_ENTRY_BYTES);
    expect(end(EXTENT_MAP.entries) + EXTENT_ENTRY_BYTES).toBeGreaterThan(PAGE_CRC_OFFSET);
  });

  it('gives each flag its own bit, and seals with both the encryption and authentication bits', () => {
    const flags = [FLAG_LZ4, FLAG_PLATFORM_MODE, FLAG_ENCRYPTED, FLAG_AUTHENTICATED, FLAG_SIGNED];
    for (const flag of flags) expect(flag & (flag - 1), `flag ${flag} is one bit`).toBe(0);
    expect(flags.reduce((all, flag) => all | flag, 0)).toBe(0b11111);
    expect(FLAGS_SEALED).toBe(FLAG_ENCRYPTED | FLAG_AUTHENTICATED);
  });

  it('gives magics and signatures their field length', () => {
    expect(CONSTANTS.HEADER_MAGIC.value).toHaveLength(HEADER.magic.bytes);
    expect(CONSTANTS.MAP_MAGIC.value).toHaveLength(EXTENT_MAP.magic.bytes);
    for (const name of ['IMAGE_SIGNATURE', 'SWAP_SIGNATURE', 'LEGACY_SWAP_SIGNATURE'] as const) {
      expect(CONSTANTS[name].value, name).toHaveLength(SIGNATURE_BYTES);
    }
    expect(Buffer.from('HKCK', 'latin1').readUInt32LE(0)).toBe(CONSTANTS.CHUNK_MAGIC.value);
  });
});
