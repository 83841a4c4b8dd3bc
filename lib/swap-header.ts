/**
 * Linux swap headers (`union swap_header` in the first page of the area), one module for both
 * backends: util-linux `mkswap` writes them (1024 bytes of zeroed boot bits, version 1, last_page,
 * nr_badpages, UUID, label, the bad-page list, and the signature "SWAPSPACE2" in the last 10 bytes
 * of the page); the kernel's swapon accepts them by the rules of swapAreaProblem(); the native
 * backend finds a `resume=UUID=…` / `LABEL=…` area by swapIdentity(); the emulator writes, reads
 * and activates them.
 */
import { randomUUID } from 'node:crypto';
import { PAGE_SIZE } from './ioctls.js';

export const SWAP_SIGNATURE = 'SWAPSPACE2';
/** The version-0 signature: the kernel no longer activates such areas, but the name still means swap. */
export const LEGACY_SWAP_SIGNATURE = 'SWAP-SPACE';
/** Both signatures a swap area can carry before a hibernation tool marks it. */
export const SWAP_SIGNATURES: readonly string[] = [SWAP_SIGNATURE, LEGACY_SWAP_SIGNATURE];
export const SWAP_SIGNATURE_OFFSET = PAGE_SIZE - 10;

const VERSION_OFFSET = 1024;
const LAST_PAGE_OFFSET = 1028;
const NR_BADPAGES_OFFSET = 1032;
const UUID_OFFSET = 1036;
const LABEL_OFFSET = 1052;
const LABEL_BYTES = 16;
const BADPAGES_OFFSET = 1536;
/** Bad-page entries fit between the list's start and the signature (the kernel's MAX_SWAP_BADPAGES). */
const MAX_BADPAGES = (SWAP_SIGNATURE_OFFSET - BADPAGES_OFFSET) / 4;

export interface SwapHeader {
  /** The 10 bytes at offset 4086: "SWAPSPACE2" for a usable area, something else once marked by a hibernation tool. */
  signature: string;
  version: number;
  /** Index of the last page of the area (size in pages − 1). */
  lastPage: number;
  /** nr_badpages as stored, which may exceed what the page can list (the kernel refuses such an area). */
  nrBadPages: number;
  /** The bad-page list, as far as the page holds it. */
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
  const nrBadPages = view.getUint32(NR_BADPAGES_OFFSET, true);
  const badPages: number[] = [];
  for (let i = 0; i < Math.min(nrBadPages, MAX_BADPAGES); i++) badPages.push(view.getUint32(BADPAGES_OFFSET + 4 * i, true));
  const labelBytes = page.subarray(LABEL_OFFSET, LABEL_OFFSET + LABEL_BYTES);
  const labelEnd = labelBytes.indexOf(0);
  return {
    signature: latin1(page.subarray(SWAP_SIGNATURE_OFFSET, PAGE_SIZE)),
    version: view.getUint32(VERSION_OFFSET, true),
    lastPage: view.getUint32(LAST_PAGE_OFFSET, true),
    nrBadPages,
    badPages,
    uuid: formatUuid(page.subarray(UUID_OFFSET, UUID_OFFSET + 16)),
    label: new TextDecoder().decode(labelEnd < 0 ? labelBytes : labelBytes.subarray(0, labelEnd)),
  };
}

/**
 * Why the kernel's swapon (read_swap_header in mm/swapfile.c) refuses an area with this header,
 * or null when it accepts it: the signature must be "SWAPSPACE2" and the version 1; last_page 0
 * is an empty area; the area must hold last_page + 1 pages; the bad-page list must fit in the
 * page, name pages of the area other than the header, and a swap file may have none.
 */
export function swapAreaProblem(header: SwapHeader, area: { sizeBytes: number; type: 'partition' | 'file' }): string | null {
  if (header.signature !== SWAP_SIGNATURE) return `no swap signature (found ${JSON.stringify(header.signature.replace(/\0+$/, ''))})`;
  if (header.version !== 1) return `unsupported swap header version ${header.version}`;
  if (header.lastPage === 0) return 'an empty swap area (last_page 0)';
  if (header.lastPage + 1 > Math.floor(area.sizeBytes / PAGE_SIZE)) return 'the swap area is shorter than its header says';
  if (header.nrBadPages > MAX_BADPAGES) return `nr_badpages ${header.nrBadPages} is more than a header page lists`;
  if (header.nrBadPages > 0 && area.type === 'file') return 'a swap file with bad pages';
  const outside = header.badPages.find((page) => page === 0 || page > header.lastPage);
  if (outside !== undefined) return `bad page ${outside} is outside the area`;
  return null;
}

/** Usable slots of an area swapAreaProblem() accepts: its pages minus the header and the bad pages. */
export function usableSwapPages(header: SwapHeader): number {
  return header.lastPage - header.badPages.length;
}

/**
 * The UUID and label that name a swap area (`resume=UUID=…`, `resume=LABEL=…`), or null when the
 * page is not a version-1 swap header: only those carry the two fields.
 */
export function swapIdentity(page: Uint8Array): { uuid: string; label: string } | null {
  if (page.length < PAGE_SIZE) return null;
  const header = parseSwapHeader(page);
  if (header.signature !== SWAP_SIGNATURE || header.version !== 1) return null;
  return { uuid: header.uuid, label: header.label };
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
