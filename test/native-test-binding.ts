/**
 * The test addon (test/native/binding.gyp, built by `npm run build:native` into
 * test/native/build/Release/hiberkit_test.node): N-API entries that only tests use, kept out of the
 * production addon and its type (lib/native/binding.ts). It compiles the production C++ it
 * exercises (the image writer, its cipher, the codecs) from the same sources.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { SnapshotError } from '../lib/errors.js';
import type { IoctlArg, SnapshotIoctl } from '../lib/ioctls.js';
import type { NativeImageEncryption } from '../lib/native/binding.js';

/** Where the test addon is built; child processes load it from here too. */
export const TEST_ADDON_PATH = fileURLToPath(new URL('native/build/Release/hiberkit_test.node', import.meta.url));

/** The C++ image writer's parameters (ImageWriterConfig in native/image_writer.h). */
export interface NativeImageWriteParams {
  resumePage: number;
  originalResumePage: Uint8Array;
  identity: { kernelRelease: string; machineId: string; createdAtMs: number; platformMode: boolean };
  compression: 'lz4' | 'none';
  chunkPages: number;
  ioBytes: number;
  /** Upper bound of swap pages the image may use (sizes the writer's extent table). */
  maxStoredPages: number;
  /** Most pages the memory source returns per read, to exercise short reads (default: all asked). */
  sourcePagesPerRead?: number;
  encryption?: NativeImageEncryption;
}

/** ImageWriteResult of native/image_writer.h. */
export interface NativeImageWriteResult {
  /** 0 or an errno value. */
  error: number;
  /** The step that failed, or 'done'. */
  stage: string;
  streamPages: number;
  /** Bytes of the chunk stream (the header's stored_bytes). */
  storedBytes: number;
  extents: number;
  /** Swap pages the image uses: chunk stream, extent map and header. */
  storedPages: number;
}

export interface NativeTestBinding {
  /** Hands the addon the class it throws (native/errors.cc); called once by loadTestBinding(). */
  setErrorClass(ctor: typeof SnapshotError): void;

  // ---- image_writer_entries.cc
  /** WriteImage with the stream from `stream` and swap pages from `allocOffsets` (byte offsets). */
  writeImageFromBuffer(storageFd: number, params: NativeImageWriteParams, stream: Uint8Array, allocOffsets: number[]): NativeImageWriteResult;
  /** InvalidateImage: writes `originalPage` at `resumePage` and flushes; returns 0 or an errno. */
  invalidateImageFd(storageFd: number, resumePage: number, originalPage: Uint8Array): number;
  /**
   * How WriteImage's chunk writes go on this descriptor: 'aio' (overlapped: O_DIRECT and a kernel
   * AIO context) or 'synchronous' (each write done when queued).
   */
  imageWriterIoMode(storageFd: number): 'aio' | 'synchronous';
  /**
   * The writer's AES-256-GCM (native/image_crypto.h): seals `data` in place as chunks of
   * `chunkBytes` with indexes firstIndex, firstIndex + 1, …, all with associated data `aad`;
   * returns their 16-byte tags, concatenated.
   */
  imageCipherSealChunks(chunkKey: Uint8Array, firstIndex: number, aad: Uint8Array, data: Uint8Array, chunkBytes: number): Buffer;
  /** The writer's header MAC (GMAC, zero nonce) of `data`. */
  imageCipherMacHeader(headerKey: Uint8Array, data: Uint8Array): Buffer;
  /**
   * Seals `data`, hashes it and MACs a page in a forked child between mtrace() and muntrace()
   * (after initialising the cipher there too if `initInChild`); returns the child's exit status.
   * Under LD_PRELOAD=libc_malloc_debug.so.0 and MALLOC_TRACE=FILE, FILE lists their allocations.
   */
  imageCipherTraceChild(data: Uint8Array, chunkBytes: number, initInChild: boolean): number;

  // ---- codec_entries.cc
  /** crc32c on the table path whatever the CPU has (tests cover it on SSE4.2 machines too). */
  crc32cTable(data: Uint8Array, seed?: number): number;
  /** Which path the production crc32c chose at load: 'sse4.2' or 'table'. */
  readonly crc32cImplementation: string;

  // ---- device_table_entries.cc
  /** The ioctl table compiled from <linux/suspend_ioctls.h> (native/snapshot_ioctls.h). */
  readonly ioctlNumbers: Readonly<Record<SnapshotIoctl, number>>;
  readonly ioctlArgs: Readonly<Record<SnapshotIoctl, IoctlArg>>;
  /** libc's symbolic name of an errno number ('ENOENT'), 'E<n>' when unknown. */
  errnoName(errno: number): string;
}

let binding: NativeTestBinding | undefined;

/** The test addon, loaded once; throws with the command to run when it is not built. */
export function loadTestBinding(): NativeTestBinding {
  if (binding) return binding;
  const require = createRequire(import.meta.url);
  try {
    binding = require(TEST_ADDON_PATH) as NativeTestBinding;
  } catch (err) {
    throw new Error(`the test addon is not built (${(err as Error).message.split('\n')[0]}): run npm run build:native`);
  }
  binding.setErrorClass(SnapshotError);
  return binding;
}
