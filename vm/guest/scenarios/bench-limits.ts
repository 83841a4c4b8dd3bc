/**
 * Guest scenario for `npm run bench`: what the VM itself allows, to judge the contenders against.
 *
 * - raw: O_DIRECT sequential writes of 1 MiB (then fdatasync), then reads of the same bytes, to
 *   /dev/vda, for each byte count in hk.bytes (comma separated), hk.reps times, interleaved. Each
 *   measurement writes where nothing was written before, as a hibernation writes to a fresh swap
 *   disk (the host allocates the sparse image's blocks on first write), so the disk must hold
 *   them all;
 * - codec: the addon's LZ4 compression, LZ4 decompression and CRC32C on the benchmark's text in
 *   chunks of 32 pages, the size both hiberkit and the kernel compress;
 * - alloc: the cost of SNAPSHOT_ALLOC_SWAP_PAGE, which the writer calls once per stored page;
 * - startup: a bare `node -e 0` against `hiberkit --help` (the CLI and every module it imports),
 *   both with node already warm in this boot.
 *
 * Each measurement is one HK:RESULT line; times come from the guest's monotonic clock (all within
 * one boot, nothing is resumed here).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createNativeBackend } from '../../../lib/native/backend.js';
import { codecName, crc32c, lz4Compress, lz4CompressBound, lz4Decompress } from '../../../lib/codec/index.js';
import { bootArg, emit } from '../report.js';
import { textBlock, textCorpus } from './bench-data.js';

const MIB = 1 << 20;
const DISK = '/dev/vda';
const CHUNK_BYTES = 32 * 4096;
const CODEC_SAMPLE_MIB = 32;
const ALLOC_PAGES = 20_000;
const CLI = '/hk/pkg/dist/lib/cli.js';

function elapsedMs(since: number): number {
  return Math.round((performance.now() - since) * 10) / 10;
}

function measureRaw(byteCounts: number[], reps: number): void {
  const backend = createNativeBackend();
  const disk = backend.openBlockDevice(DISK, { write: true, direct: true });
  try {
    const buffer = disk.allocAligned(MIB);
    textBlock(textCorpus(2 * MIB), 0, Buffer.from(buffer.buffer, buffer.byteOffset, buffer.length));
    let offset = 0;
    for (let rep = 0; rep < reps; rep++) {
      for (const bytes of byteCounts) {
        const requests = Math.ceil(bytes / MIB);
        let started = performance.now();
        for (let i = 0; i < requests; i++) disk.writeSync(buffer, offset + i * MIB);
        disk.flush();
        const writeMs = elapsedMs(started);
        started = performance.now();
        for (let i = 0; i < requests; i++) disk.readSync(buffer, offset + i * MIB);
        const readMs = elapsedMs(started);
        emit('RESULT', { phase: 'raw', rep, bytes: requests * MIB, writeMs, readMs });
        offset += requests * MIB;
      }
    }
  } finally {
    disk.close();
  }
}

function measureCodec(): void {
  const corpus = textCorpus(2 * MIB);
  const text = Buffer.alloc(CODEC_SAMPLE_MIB * MIB);
  for (let i = 0; i < CODEC_SAMPLE_MIB; i++) textBlock(corpus, i, text.subarray(i * MIB, (i + 1) * MIB));
  const chunks = text.length / CHUNK_BYTES;
  const compressed: Uint8Array[] = [];
  const scratch = new Uint8Array(lz4CompressBound(CHUNK_BYTES));

  let started = performance.now();
  for (let i = 0; i < chunks; i++) {
    const n = lz4Compress(text.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES), scratch);
    compressed.push(scratch.slice(0, n));
  }
  const compressMs = elapsedMs(started);

  const raw = new Uint8Array(CHUNK_BYTES);
  started = performance.now();
  for (const chunk of compressed) lz4Decompress(chunk, raw);
  const decompressMs = elapsedMs(started);

  started = performance.now();
  crc32c(text);
  const crcMs = elapsedMs(started);

  const storedBytes = compressed.reduce((sum, c) => sum + c.length, 0);
  emit('RESULT', { phase: 'codec', codec: codecName, bytes: text.length, storedBytes, compressMs, decompressMs, crcMs });
}

/** ALLOC_SWAP_PAGE in a loop on a fresh swap area, as the writer issues it (no freeze needed). */
function measureSwapAllocation(): void {
  execFileSync('mkswap', [DISK], { stdio: 'ignore' });
  execFileSync('swapon', [DISK]);
  const backend = createNativeBackend();
  const device = backend.openSnapshot('hibernate');
  try {
    device.setSwapArea(backend.system.deviceNumber(DISK), 0);
    const started = performance.now();
    for (let i = 0; i < ALLOC_PAGES; i++) device.allocSwapPage();
    const ms = elapsedMs(started);
    device.freeSwapPages();
    emit('RESULT', { phase: 'alloc', pages: ALLOC_PAGES, ms });
  } finally {
    device.close();
    execFileSync('swapoff', [DISK]);
  }
}

/** Milliseconds of the fastest of three runs of `node args`: start-up without the noise. */
function fastestRunMs(args: string[]): number {
  const runs = [0, 1, 2].map(() => {
    const started = performance.now();
    const result = spawnSync(process.execPath, args, { stdio: 'ignore' });
    if (result.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${result.status ?? result.signal}`);
    return performance.now() - started;
  });
  return Math.round(Math.min(...runs));
}

function measureStartup(): void {
  emit('RESULT', { phase: 'startup', nodeMs: fastestRunMs(['-e', '0']), cliMs: fastestRunMs([CLI, '--help']) });
}

const byteCounts = (bootArg('bytes') ?? '').split(',').filter(Boolean).map(Number);
if (byteCounts.length === 0 || byteCounts.some((n) => !(n > 0))) {
  emit('ERROR', `hk.bytes must list positive byte counts, got ${JSON.stringify(bootArg('bytes'))}`);
  process.exitCode = 1;
} else {
  measureRaw(byteCounts, Number(bootArg('reps') ?? 1));
  measureCodec();
  measureSwapAllocation();
  measureStartup();
}
