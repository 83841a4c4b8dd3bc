/**
 * The C++ image writer's overlapped disk writes (native/write_queue.h). On an O_DIRECT descriptor
 * its chunk writes go through Linux native AIO: a ring of buffer slots is in flight while the next
 * one is filled. That the image is still byte for byte what the TypeScript writer makes is
 * test/image-crosscheck.test.ts's (on buffered and O_DIRECT files); here: which path a descriptor
 * gets, and that a failing disk is reported the same way on both.
 *
 * The files live in the system's temporary directory, which must allow O_DIRECT (ext4, xfs, btrfs
 * do; tmpfs does not): the first test says so plainly if it does not.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ERRNO } from '../lib/errors.js';
import { PAGE_SIZE } from '../lib/ioctls.js';
import { allocationPatterns, randomBytes, swapHeaderPage, testIdentity } from './image-support.js';
import { loadTestBinding, TEST_ADDON_PATH, type NativeImageWriteParams } from './native-test-binding.js';

const native = loadTestBinding();
const workdir = mkdtempSync(join(tmpdir(), 'hiberkit-writer-aio-'));
afterAll(() => rmSync(workdir, { recursive: true, force: true }));

const DIRECT = constants.O_RDWR | constants.O_DIRECT;
let fileCounter = 0;

/** Runs `body` on a file holding `initial`, opened with `flags`; returns its result and the file's bytes after. */
function onFile<T>(initial: Uint8Array, flags: number, body: (fd: number) => T): { result: T; bytes: Uint8Array } {
  const path = join(workdir, `device-${fileCounter++}.img`);
  writeFileSync(path, initial);
  const fd = openSync(path, flags);
  try {
    const result = body(fd);
    closeSync(fd);
    return { result, bytes: new Uint8Array(readFileSync(path)) };
  } finally {
    rmSync(path, { force: true });
  }
}

describe('which path the chunk writes take', () => {
  it('AIO on an O_DIRECT descriptor, synchronous writes on a buffered one', () => {
    const modes = ['direct', 'buffered'].map((kind) =>
      onFile(new Uint8Array(PAGE_SIZE), kind === 'direct' ? DIRECT : constants.O_RDWR, (fd) => native.imageWriterIoMode(fd)).result,
    );
    expect(modes, `O_DIRECT must work in ${tmpdir()} for these tests`).toEqual(['aio', 'synchronous']);
  });
});

/**
 * A failing disk, on both paths: 60 raw pages (chunks of 16, 16, 16 and 12 pages, 61 pages with
 * their headers) in 16-page slots on swap pages 1.., so the chunk stream's writes cover pages
 * 1-16, 17-32, 33-48 and, last, 49-61; the extent map follows at page 62.
 */
describe('a failing disk is reported the same way on both paths, and the resume page stays as it was', () => {
  const paths = [
    ['AIO', DIRECT, 'aio'],
    ['synchronous', constants.O_RDWR, 'synchronous'],
  ] as const;
  const devicePages = 200;
  const original = swapHeaderPage(devicePages - 1);
  const initial = randomBytes(devicePages * PAGE_SIZE, 21);
  initial.set(original, 0);
  const failingParams: NativeImageWriteParams = {
    resumePage: 0,
    originalResumePage: original,
    identity: testIdentity,
    compression: 'none',
    chunkPages: 16,
    ioBytes: 16 * PAGE_SIZE,
    maxStoredPages: 150,
  };

  it.each(paths)('%s: a descriptor the writes are refused on (EBADF)', (_label, flags, mode) => {
    const readOnly = (flags & ~constants.O_RDWR) | constants.O_RDONLY;
    const { result, bytes } = onFile(initial, readOnly, (fd) => {
      expect(native.imageWriterIoMode(fd)).toBe(mode);
      return native.writeImageFromBuffer(fd, failingParams, randomBytes(60 * PAGE_SIZE, 22), allocationPatterns.contiguous(150).map((p) => p * PAGE_SIZE));
    });
    expect(result).toMatchObject({ error: ERRNO.EBADF, stage: 'write chunks' });
    expect(Buffer.from(bytes).equals(Buffer.from(initial))).toBe(true);
  });

  // RLIMIT_FSIZE makes the kernel cut a write that crosses the limit short and refuse one that
  // starts at or beyond it with EFBIG (and SIGXFSZ, which the child ignores). Under AIO the first
  // arrives as a short completion, which the queue finishes with pwrite, and the second as a
  // completion carrying -EFBIG; both must end in EFBIG at "write chunks". The cut write is the
  // last chunk write, so no later one fails instead: a short completion taken for success would
  // show up as a failure at "write extent map".
  const limits = [
    ['the last write cut short by the file size limit', 56],
    ['a write refused at the file size limit', 33],
  ] as const;
  it.each(paths.flatMap(([label, flags, mode]) => limits.map(([what, limitPages]) => [`${label}: ${what}`, flags, mode, limitPages] as const)))(
    '%s (EFBIG)',
    (_label, flags, mode, limitPages) => {
      const path = join(workdir, `limited-${fileCounter++}.img`);
      writeFileSync(path, initial);
      const run = spawnSync('prlimit', [`--fsize=${limitPages * PAGE_SIZE}`, '--', process.execPath, '-e', LIMITED_CHILD, TEST_ADDON_PATH, path, String(flags), JSON.stringify(failingParams)], {
        encoding: 'utf8',
      });
      expect(run.status, run.stderr).toBe(0);
      const { mode: used, result } = JSON.parse(run.stdout) as { mode: string; result: unknown };
      expect(used).toBe(mode);
      expect(result).toMatchObject({ error: ERRNO.EFBIG, stage: 'write chunks' });
      const bytes = readFileSync(path);
      expect(bytes.subarray(0, PAGE_SIZE).equals(Buffer.from(original))).toBe(true);
      // The writes below the limit landed, the first part of a cut one included: the last page
      // there holds chunk payload only (the chunk headers fall elsewhere), all the child's 0xa5.
      const lastBelow = bytes.subarray((limitPages - 1) * PAGE_SIZE, limitPages * PAGE_SIZE);
      expect(lastBelow.every((b) => b === 0xa5)).toBe(true);
    },
  );
});

/**
 * The child that writes under a file size limit (argv: the test addon, file, open flags, params as
 * JSON, which turns the original resume page into an object keyed by index: rebuilt here). Prints
 * which write path it got and the writer's result.
 */
const LIMITED_CHILD = `
process.on('SIGXFSZ', () => {});
const fs = require('node:fs');
const [addonPath, path, flags, paramsJson] = process.argv.slice(1);
const addon = require(addonPath);
const params = JSON.parse(paramsJson);
params.originalResumePage = Uint8Array.from(Object.values(params.originalResumePage));
const fd = fs.openSync(path, Number(flags));
const stream = new Uint8Array(60 * 4096).fill(0xa5);
const offsets = Array.from({ length: 150 }, (_, i) => (i + 1) * 4096);
const mode = addon.imageWriterIoMode(fd);
const result = addon.writeImageFromBuffer(fd, params, stream, offsets);
process.stdout.write(JSON.stringify({ mode, result }));
`;
