/**
 * Linux swap headers as util-linux `mkswap` writes them (`struct swap_header_v1_2` in the first
 * page of the area): 1024 bytes of zeroed boot bits, version 1, last_page, nr_badpages, UUID,
 * label, and the signature "SWAPSPACE2" in the last 10 bytes of the page.
 */
import { randomUUID } from 'node:crypto';
import { PAGE_SIZE } from '../lib/ioctls.js';

export const SWAP_SIGNATURE = 'SWAPSPACE2';
export const SWAP_SIGNATURE_OFFSET = PAGE_SIZE - 10;

const VERSION_OFFSET = 1024;
const LAST_PAGE_OFFSET = 1028;
const NR_BADPAGES_OFFSET = 1032;
const UUID_OFFSET = 1036;
const LABEL_OFFSET = 1052;
const LABEL_BYTES = 16;
const BADPAGES_OFFSET = 1536;
/** Bad-page entries fit between the list's start and the signature. */
const MAX_BADPAGES = (SWAP_SIGNATURE_OFFSET - BADPAGES_OFFSET) / 4;

export interface SwapHeader {
  /** The 10 bytes at offset 4086: "SWAPSPACE2" for a usable area, something else once marked by a hibernation tool. */
  signature: string;
  version: number;
  /** Index of the last page of the area (size in pages − 1). */
  lastPage: number;
  badPages: number[];
  /** Canonical lowercase 8-4-4-4-12 form. */
  uuid: string;
  label: string;
}

export interface MkswapOptions {
  sizeBytes: number;
  /** Default: a random version-4 UUID, as mkswap makes. */
  uuid?: string;
  label?: string;
}

/** The first page of a swap area exactly as `mkswap [-U uuid] [-L label]` writes it. */
export function writeSwapHeader(options: MkswapOptions): Uint8Array {
  const pages = Math.floor(options.sizeBytes / PAGE_SIZE);
  if (pages < 10) throw new RangeError(`a swap area needs at least 10 pages (mkswap's minimum); got ${pages}`);
  // mkswap copies the label with xstrncpy: at most 15 bytes, always NUL-terminated.
  const label = new TextEncoder().encode(options.label ?? '').subarray(0, LABEL_BYTES - 1);
  const page = new Uint8Array(PAGE_SIZE);
  const view = new DataView(page.buffer);
  view.setUint32(VERSION_OFFSET, 1, true);
  view.setUint32(LAST_PAGE_OFFSET, pages - 1, true);
  view.setUint32(NR_BADPAGES_OFFSET, 0, true);
  page.set(uuidBytes(options.uuid ?? randomUUID()), UUID_OFFSET);
  page.set(label, LABEL_OFFSET);
  page.set(new TextEncoder().encode(SWAP_SIGNATURE), SWAP_SIGNATURE_OFFSET);
  return page;
}

/** Reads the header fields of a swap header page, whatever its signature. */
export function parseSwapHeader(page: Uint8Array): SwapHeader {
  if (page.length < PAGE_SIZE) throw new RangeError(`a swap header is one ${PAGE_SIZE}-byte page`);
  const view = new DataView(page.buffer, page.byteOffset, PAGE_SIZE);
  const nrBadPages = Math.min(view.getUint32(NR_BADPAGES_OFFSET, true), MAX_BADPAGES);
  const badPages: number[] = [];
  for (let i = 0; i < nrBadPages; i++) badPages.push(view.getUint32(BADPAGES_OFFSET + 4 * i, true));
  const labelBytes = page.subarray(LABEL_OFFSET, LABEL_OFFSET + LABEL_BYTES);
  const labelEnd = labelBytes.indexOf(0);
  return {
    signature: latin1(page.subarray(SWAP_SIGNATURE_OFFSET, PAGE_SIZE)),
    version: view.getUint32(VERSION_OFFSET, true),
    lastPage: view.getUint32(LAST_PAGE_OFFSET, true),
    badPages,
    uuid: formatUuid(page.subarray(UUID_OFFSET, UUID_OFFSET + 16)),
    label: new TextDecoder().decode(labelEnd < 0 ? labelBytes : labelBytes.subarray(0, labelEnd)),
  };
}

function uuidBytes(uuid: string): Uint8Array {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new RangeError(`not a UUID: ${JSON.stringify(uuid)}`);
  return Uint8Array.from({ length: 16 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
}

function formatUuid(bytes: Uint8Array): string {
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function latin1(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}
