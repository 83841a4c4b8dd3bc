/**
 * Host side of the hiberkit CLI cycle tests (cycle.vm.test.ts, encrypted-cycle.vm.test.ts):
 * reading what the cycle-* scenarios report (guest/scenarios/cycle-common.sh), judging a
 * hibernation and a resume, and finding and damaging hiberkit images in the VM's disk files
 * with the image format's own decoders (lib/image/format.ts).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readSync, truncateSync, writeSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { expect } from 'vitest';

import { crc32c } from '../../lib/codec/index.js';
import {
  CHUNK_HEADER_BYTES,
  classifyResumePage,
  decodeChunkHeader,
  decodeExtentMapPage,
  decodeHeader,
  decodeMarker,
  encodeChunkHeader,
  signatureAt,
  SIGNATURE_OFFSET,
  type Extent,
  type ImageHeader,
} from '../../lib/image/format.js';
import { PAGE_SIZE } from '../../lib/ioctls.js';
import type { ImageIdentity } from '../../lib/backend.js';
import { newDataKey, sealDataKey } from '../../lib/crypto/keys.js';
import { parsePublicKey } from '../../lib/crypto/key-files.js';
import { ImageWriter } from '../../lib/image/writer.js';
import { listAllocator, MemoryBlockDevice } from '../image-support.js';
import { CACHE_DIR } from '../../vm/paths.js';
import { bootVm, describeBoot, payloadsOf, type BootResult } from '../../vm/vm.js';

// ---------------------------------------------------------------------------------------------
// What the scenarios report

/** `cycle_report_state`: the tmpfs file's hash and the holder's "VALUE COUNT" answer. */
export interface StateReport {
  phase: 'before' | 'after';
  cycle: number;
  sha256: string;
  holder: string;
}

/** `cycle_refused_resume`: how `hiberkit resume` ended and what it left on the device. */
export interface RefusedReport {
  phase: 'refused';
  name: string;
  device: string;
  status: number;
  signature: string;
  swapon: boolean;
}

/** A hibernating or resuming boot takes well under a minute alone; this leaves room for a loaded host. */
const BOOT_TIMEOUT_MS = 240_000;

/**
 * Guest RAM of every cycle boot (a resume boot must have the hibernated boot's). 512 MB was
 * measured too: the image shrinks only from 220 to 182 MiB (the 110 MB initramfs and node stay
 * whatever the RAM) and the cycles were no faster within the noise, so 1024 MB stays.
 */
const GUEST_MEM_MB = 1024;

/** Swap disk size: holds the image of a 1024 MB guest (about 100 MiB with LZ4, 220 MiB without). */
export const SWAP_MB = 512;

/** bootVm with the cycle tests' memory size and timeout. */
export function bootCycleVm(options: Parameters<typeof bootVm>[0]): Promise<BootResult> {
  return bootVm({ timeoutMs: BOOT_TIMEOUT_MS, memMB: GUEST_MEM_MB, ...options });
}

/** The HK:RESULT objects of a boot with this `phase` (and `cycle`, if given). */
export function reports<T extends { phase: string }>(boot: BootResult, phase: T['phase'], cycle?: number): T[] {
  return payloadsOf<T & { cycle?: number }>(boot.lines, 'RESULT').filter((r) => r.phase === phase && (cycle === undefined || r.cycle === cycle));
}

/** The one report of a phase; fails the test, naming the log, when it is missing. */
export function report<T extends { phase: string }>(boot: BootResult, phase: T['phase'], cycle?: number): T {
  const found = reports<T>(boot, phase, cycle);
  expect(found.length, `one "${phase}" report${cycle === undefined ? '' : ` of cycle ${cycle}`}; ${describeBoot(boot)}`).toBe(1);
  return found[0]!;
}

/** The console lines `hiberkit` and hiberkit-resume printed ("hiberkit: ...", "hiberkit-resume: ..."), in order. */
export function hiberkitLines(boot: BootResult): string[] {
  return consoleLines(boot).filter((line) => /^hiberkit(-resume)?: /.test(line));
}

function consoleLines(boot: BootResult): string[] {
  return boot.log.split('\n').map((line) => line.replace(/\r$/, ''));
}

// ---------------------------------------------------------------------------------------------
// Judging a cycle

/** Figures of one cycle for the run-time report. */
export interface CycleTimes {
  cycle: number;
  /** From the critical section's lines in the hibernating boot. */
  snapshotMiB?: number;
  storedMiB?: number;
  writeMs?: number;
  freezeToOffMs?: number;
  /**
   * Host milliseconds in the resume boot from `hiberkit resume` to the `resumed` line, and its
   * parts: loading the image (read, verified and uploaded to /dev/snapshot in one pass), then
   * the freeze and restore.
   */
  resumeMs: number;
  loadMs: number;
  restoreMs: number;
  hibernateBootMs: number;
  resumeBootMs: number;
}

/**
 * The boot ended inside `hiberkit hibernate` CYCLE: the image was saved, the machine powered off
 * (or rebooted: -no-reboot ends qemu too) and the scenario never got past the call.
 */
export function expectHibernated(boot: BootResult, cycle: number): void {
  const context = describeBoot(boot);
  expect(boot.timedOut || boot.panicked, context).toBe(false);
  expect(boot.exitCode, context).toBe(0);
  expect(boot.scenarioExit, `the boot must end inside hiberkit hibernate; ${context}`).toBeNull();
  expect(reports(boot, 'hibernate-returned', cycle), context).toEqual([]);
  expect(hiberkitLines(boot).some((line) => line.startsWith('hiberkit: image saved')), `no "image saved" line; ${context}`).toBe(true);
}

/**
 * In `resumeBoot`, the hibernated session of cycle CYCLE came back: after the boot's own
 * `hiberkit resume` started, the very `hiberkit hibernate` process printed its `resumed` line and
 * exited 0, the tmpfs file kept its hash, and the holder answered with its value and the next
 * count (it answered once before the first cycle and once after each).
 */
export function expectResumed(resumeBoot: BootResult, cycle: number, before: StateReport, blockDevice: string): void {
  const context = describeBoot(resumeBoot);
  expect(resumeBoot.timedOut || resumeBoot.panicked, context).toBe(false);
  const returned = report<{ phase: 'hibernate-returned'; status: number }>(resumeBoot, 'hibernate-returned', cycle);
  expect(returned.status, `hiberkit hibernate exit status; ${context}`).toBe(0);
  expect(reports(resumeBoot, 'resume-returned'), `the boot's own hiberkit resume returned; ${context}`).toEqual([]);

  const resumedAt = resumedLineIndex(resumeBoot, cycle);
  expect(resumedAt, `no "hiberkit: resumed after hibernating to ${blockDevice}" line after this boot's resume-start; ${context}`).toBeGreaterThanOrEqual(0);
  expect(consoleLines(resumeBoot)[resumedAt]).toContain(`resumed after hibernating to ${blockDevice}`);

  expectStateKept(resumeBoot, cycle, before);
}

/**
 * The state of `before` came back after cycle CYCLE (reported in `boot`): the tmpfs file kept
 * its hash, and the holder answered with its value and the next count (it answered once before
 * the first cycle and once after each).
 */
export function expectStateKept(boot: BootResult, cycle: number, before: StateReport): void {
  const context = describeBoot(boot);
  const after = report<StateReport>(boot, 'after', cycle);
  expect(after.sha256, `tmpfs file hash after cycle ${cycle}; ${context}`).toBe(before.sha256);
  const [value, count] = before.holder.split(' ');
  expect(value, `the holder's first answer; ${context}`).toMatch(/^[0-9a-f]{16}$/);
  expect(count).toBe('1');
  expect(after.holder, `the holder process after cycle ${cycle}; ${context}`).toBe(`${value} ${cycle + 1}`);
}

/**
 * Line index (0-based) in the console of the `hiberkit: resumed` line of CYCLE: after this boot's
 * `resume-start` stamp and before the cycle's hibernate-returned report. -1 if there is none.
 */
function resumedLineIndex(boot: BootResult, cycle: number): number {
  const start = boot.lines.find((l) => l.kind === 'STAMP' && l.payload.startsWith('resume-start '));
  const returned = boot.lines.find((l) => {
    const json = l.json as { phase?: string; cycle?: number } | undefined;
    return l.kind === 'RESULT' && json?.phase === 'hibernate-returned' && json.cycle === cycle;
  });
  if (!start || !returned) return -1;
  const lines = consoleLines(boot);
  // lineNo is 1-based: lines[lineNo - 1] is the protocol line itself.
  for (let i = start.lineNo; i < returned.lineNo - 1; i++) {
    if (/^hiberkit: resumed after hibernating to /.test(lines[i]!)) return i;
  }
  return -1;
}

/** The figures of one cycle: the hibernating boot's own lines, the resume timed on the host. */
export function cycleTimes(hibernateBoot: BootResult, resumeBoot: BootResult, cycle: number): CycleTimes {
  const text = hiberkitLines(hibernateBoot).join('\n');
  const snapshot = /snapshot of (\d+) MiB taken/.exec(text);
  const saved = /image saved \((\d+) MiB on disk\) in (\d+) ms, (\d+) ms after the freeze/.exec(text);
  const start = resumeBoot.lines.find((l) => l.kind === 'STAMP' && l.payload.startsWith('resume-start '));
  const lines = consoleLines(resumeBoot);
  const startAt = start ? start.lineNo - 1 : -1;
  const loadedAt = lines.findIndex((line, i) => i > startAt && /^hiberkit(-resume)?: loaded and verified /.test(line));
  const resumedAt = resumedLineIndex(resumeBoot, cycle);
  const between = (from: number, to: number): number => (from >= 0 && to >= 0 ? resumeBoot.lineTimesMs[to]! - resumeBoot.lineTimesMs[from]! : NaN);
  return {
    cycle,
    snapshotMiB: snapshot ? Number(snapshot[1]) : undefined,
    storedMiB: saved ? Number(saved[1]) : undefined,
    writeMs: saved ? Number(saved[2]) : undefined,
    freezeToOffMs: saved ? Number(saved[3]) : undefined,
    resumeMs: between(startAt, resumedAt),
    loadMs: between(startAt, loadedAt),
    restoreMs: between(loadedAt, resumedAt),
    hibernateBootMs: hibernateBoot.elapsedMs,
    resumeBootMs: resumeBoot.elapsedMs,
  };
}

export function formatTimes(label: string, t: CycleTimes): string {
  return (
    `${label}: snapshot ${t.snapshotMiB} MiB, stored ${t.storedMiB} MiB written in ${t.writeMs} ms ` +
    `(freeze to power-off ${t.freezeToOffMs} ms); resume command to "resumed" ${t.resumeMs} ms ` +
    `(start-up and load ${t.loadMs}, freeze and restore ${t.restoreMs}); ` +
    `boots ${(t.hibernateBootMs / 1000).toFixed(1)} s + ${(t.resumeBootMs / 1000).toFixed(1)} s`
  );
}

/**
 * A refused resume: `hiberkit resume` (or hiberkit-resume, whose one line also names the code)
 * exited non-zero with a message saying the image was not restored, the swap signature is back
 * (SWAPSPACE2), swapon took the device, and the boot went on (the scenario ended normally).
 * Returns the message about this device.
 * `swapon: false` is for a device smaller than its own swap header says, which the kernel's
 * swapon refuses (EINVAL) whatever its signature.
 */
export function expectRefused(boot: BootResult, name: string, expected: { swapon: boolean } = { swapon: true }): string {
  const context = describeBoot(boot);
  expect(boot.scenarioExit, `the boot must go on after the refusal; ${context}`).toBe(0);
  const refused = reports<RefusedReport>(boot, 'refused').find((r) => r.name === name);
  expect(refused, `no refusal report for ${name}; ${context}`).toBeDefined();
  expect(refused!.status, context).not.toBe(0);
  expect(refused!.signature, context).toBe('SWAPSPACE2');
  expect(refused!.swapon, `swapon ${refused!.device}; ${context}`).toBe(expected.swapon);
  const message = hiberkitLines(boot).find((line) => line.replace(/^hiberkit-resume: [A-Z_]+: /, 'hiberkit: ').startsWith(`hiberkit: the image on ${refused!.device} was not restored: `));
  expect(message, `no "not restored" message for ${refused!.device}; ${context}`).toBeDefined();
  expect(message).toContain('It was discarded and the swap signature put back; the boot continues normally.');
  return message!;
}

/** Why a refusal message says the image was not restored, whichever implementation printed it. */
export function refusalReason(message: string): string {
  return message.replace(/^.*? was not restored: /, '');
}

// ---------------------------------------------------------------------------------------------
// Images in disk files

/** A sparse copy of a disk image under .cache/vm/disks/ (relative `name`), replacing any older one. */
export function copyDisk(source: string, name: string): string {
  const target = isAbsolute(name) ? name : join(CACHE_DIR, 'disks', name);
  execFileSync('cp', ['--sparse=always', source, target]);
  return target;
}

/** The signature at the end of page `page` of a disk file, and what it means to hiberkit. */
export function resumePageOf(diskPath: string, page = 0): { kind: string; signature: string } {
  const bytes = withDisk(diskPath, 'r', (fd) => readAt(fd, page * PAGE_SIZE, PAGE_SIZE));
  return { kind: classifyResumePage(bytes).kind, signature: signatureAt(bytes, SIGNATURE_OFFSET) };
}

/** Where a hiberkit image lies on a disk: its header page and the chunk stream's extents. */
export interface ImageLocation {
  headerPage: number;
  header: ImageHeader;
  extents: Extent[];
}

/** Follows the marker of page `resumePage`, the header and the extent map chain. */
export function locateImage(diskPath: string, resumePage = 0): ImageLocation {
  return withDisk(diskPath, 'r', (fd) => locate(fd, resumePage));
}

/**
 * Damages the payload of the middle chunk record: one byte inverted. With `fixChecksums`, the
 * payload CRC and the record header's CRC are recomputed as a deliberate attacker would, so only
 * authentication (an encrypted image's AES-GCM tag) can notice. Returns the chunk's index.
 */
export function corruptChunkPayload(diskPath: string, resumePage: number, options: { fixChecksums: boolean }): { chunk: number; diskByte: number } {
  return withDisk(diskPath, 'r+', (fd) => {
    const { header, extents } = locate(fd, resumePage);
    const target = Math.floor(header.chunkCount / 2);
    let at = 0;
    for (let index = 0; index < target; index++) {
      at += CHUNK_HEADER_BYTES + decodeChunkHeader(readStream(fd, extents, at, CHUNK_HEADER_BYTES), 0, header.encrypted).storedBytes;
    }
    const chunk = decodeChunkHeader(readStream(fd, extents, at, CHUNK_HEADER_BYTES), 0, header.encrypted);
    expect(chunk.index).toBe(target);
    const payloadAt = at + CHUNK_HEADER_BYTES;
    const payload = readStream(fd, extents, payloadAt, chunk.storedBytes);
    const flipped = Math.floor(chunk.storedBytes / 2);
    payload[flipped] ^= 0xff;
    writeStream(fd, extents, payloadAt + flipped, payload.subarray(flipped, flipped + 1));
    if (options.fixChecksums) {
      const recordHeader = Buffer.alloc(CHUNK_HEADER_BYTES);
      encodeChunkHeader(recordHeader, 0, { ...chunk, payloadCrc32c: crc32c(payload) });
      writeStream(fd, extents, at, recordHeader);
    }
    return { chunk: target, diskByte: diskOffset(extents, payloadAt + flipped) };
  });
}

/** Inverts one byte of the image header page (the low byte of stream_pages, docs/image-format.md §2). */
export function corruptHeader(diskPath: string, resumePage: number): { headerPage: number } {
  return withDisk(diskPath, 'r+', (fd) => {
    const { headerPage } = locate(fd, resumePage);
    const STREAM_PAGES_OFFSET = 16;
    const position = headerPage * PAGE_SIZE + STREAM_PAGES_OFFSET;
    const byte = readAt(fd, position, 1);
    byte[0] ^= 0xff;
    writeAt(fd, position, byte);
    return { headerPage };
  });
}

/**
 * Cuts the disk file short in the middle of the image's chunk stream, as if the disk were smaller
 * than the image says (the device a resume finds is not the one hibernate wrote). Returns the new
 * size in bytes.
 */
export function truncateImage(diskPath: string, resumePage: number): number {
  const { header, extents } = locateImage(diskPath, resumePage);
  const middle = diskOffset(extents, Math.floor(header.storedBytes / 2));
  const size = middle - (middle % PAGE_SIZE);
  truncateSync(diskPath, size);
  return size;
}

/** Page `page` of a disk file, as an attacker with the disk copies it (a marked resume page, say). */
export function readDiskPage(diskPath: string, page: number): Buffer {
  return withDisk(diskPath, 'r', (fd) => readAt(fd, page * PAGE_SIZE, PAGE_SIZE));
}

/** Writes one page of a disk file: an attacker putting back a page copied earlier. */
export function writeDiskPage(diskPath: string, page: number, bytes: Uint8Array): void {
  withDisk(diskPath, 'r+', (fd) => writeAt(fd, page * PAGE_SIZE, bytes));
}

/**
 * Writes a complete encrypted image onto the swap area at the start of a disk file as an
 * attacker who knows only the public key would (issue #10): sealed to the public key of
 * `publicKeyText`, unsigned, with the identity of the machine's genuine images and content of the
 * attacker's choosing, in the area's first 4 MiB (the resume page must be a clean swap header).
 */
export function writeForgedImage(diskPath: string, publicKeyText: string, identity: ImageIdentity): void {
  const region = 1024;
  const bytes = withDisk(diskPath, 'r', (fd) => readAt(fd, 0, region * PAGE_SIZE));
  const device = new MemoryBlockDevice(bytes, diskPath);
  const dataKey = newDataKey();
  const stream = new Uint8Array(16 * PAGE_SIZE).fill(0x41);
  const writer = new ImageWriter({
    storage: device,
    allocator: listAllocator(Array.from({ length: region / 2 }, (_, i) => region / 2 + i)),
    resumePage: 0,
    originalResumePage: Uint8Array.from(bytes.subarray(0, PAGE_SIZE)),
    identity,
    compression: 'none',
    chunkPages: 4,
    streamPages: stream.length / PAGE_SIZE,
    encryption: { dataKey, keyBlock: sealDataKey(dataKey, { publicKey: parsePublicKey(publicKeyText).publicKey }) },
  });
  writer.writePages(stream);
  writer.finish();
  withDisk(diskPath, 'r+', (fd) => writeAt(fd, 0, bytes));
}

function locate(fd: number, resumePage: number): ImageLocation {
  const marker = decodeMarker(readAt(fd, resumePage * PAGE_SIZE, PAGE_SIZE));
  const header = decodeHeader(readAt(fd, marker.headerPage * PAGE_SIZE, PAGE_SIZE));
  const extents: Extent[] = [];
  let next = header.extentMapPage;
  for (let sequence = 0; sequence < header.extentMapPages; sequence++) {
    const page = decodeExtentMapPage(readAt(fd, next * PAGE_SIZE, PAGE_SIZE), sequence);
    extents.push(...page.extents);
    next = page.nextPage;
  }
  return { headerPage: marker.headerPage, header, extents };
}

/** The disk byte holding chunk stream byte `streamByte` (the stream is laid over the extents in order). */
function diskOffset(extents: readonly Extent[], streamByte: number): number {
  let base = 0;
  for (const extent of extents) {
    const bytes = extent.pageCount * PAGE_SIZE;
    if (streamByte < base + bytes) return extent.startPage * PAGE_SIZE + (streamByte - base);
    base += bytes;
  }
  throw new RangeError(`stream byte ${streamByte} lies past the image's extents`);
}

/** `length` bytes of the chunk stream from `streamByte`, across extent boundaries. */
function readStream(fd: number, extents: readonly Extent[], streamByte: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let done = 0; done < length; ) {
    const piece = Math.min(length - done, contiguousBytes(extents, streamByte + done));
    readAt(fd, diskOffset(extents, streamByte + done), piece).copy(out, done);
    done += piece;
  }
  return out;
}

function writeStream(fd: number, extents: readonly Extent[], streamByte: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length; ) {
    const piece = Math.min(bytes.length - done, contiguousBytes(extents, streamByte + done));
    writeAt(fd, diskOffset(extents, streamByte + done), bytes.subarray(done, done + piece));
    done += piece;
  }
}

/** How many stream bytes from `streamByte` lie in the same extent. */
function contiguousBytes(extents: readonly Extent[], streamByte: number): number {
  let base = 0;
  for (const extent of extents) {
    base += extent.pageCount * PAGE_SIZE;
    if (streamByte < base) return base - streamByte;
  }
  throw new RangeError(`stream byte ${streamByte} lies past the image's extents`);
}

function withDisk<T>(diskPath: string, flags: 'r' | 'r+', body: (fd: number) => T): T {
  const fd = openSync(diskPath, flags);
  try {
    return body(fd);
  } finally {
    closeSync(fd);
  }
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const n = readSync(fd, buf, 0, length, position);
  if (n !== length) throw new Error(`read ${n} of ${length} bytes at ${position}`);
  return buf;
}

function writeAt(fd: number, position: number, bytes: Uint8Array): void {
  const n = writeSync(fd, bytes, 0, bytes.length, position);
  if (n !== bytes.length) throw new Error(`wrote ${n} of ${bytes.length} bytes at ${position}`);
}
