/**
 * Guest scenario: a real hibernation through the native critical section, over two boots.
 *
 * Boot 1: swap on /dev/vda, a tmpfs file of random data and its SHA-256, then the critical
 * section hibernates (platform power-off). The machine powers off; nothing after that line runs
 * in boot 1.
 * Boot 2: lib/resume.ts finds the image on /dev/vda, verifies and uploads it, and the native
 * critical section restores it. Execution then continues in boot 1's processes, on boot 2's
 * console: the child sees CREATE_IMAGE return 0, the outcome is 'resumed', and the file's hash is
 * printed again. Reaching the end of boot 2's branch means the restore did not happen.
 */
import { createHash, randomFillSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

import { createNativeBackend } from '../../../lib/native/backend.js';
import { requireNative, type NativeCriticalResult } from '../../../lib/native/binding.js';
import { createNativeCriticalSection } from '../../../lib/native/critical-section.js';
import { resume } from '../../../lib/resume.js';
import { bootArg, emit, stamp } from '../report.js';
import { enableSwap, prepareHibernation, SWAP_DEVICE, type CycleReport } from './critical-common.js';

const DATA_FILE = '/tmp/critical-cycle-data';
const DATA_BYTES = 32 << 20;

function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function report(result: CycleReport): void {
  emit('RESULT', result);
}

async function hibernateBoot(): Promise<number> {
  enableSwap();
  writeFileSync(DATA_FILE, randomFillSync(Buffer.alloc(DATA_BYTES)));
  report({ phase: 'before', sha256: sha256Of(DATA_FILE), bytes: DATA_BYTES });
  const backend = createNativeBackend();
  let native: NativeCriticalResult | undefined;
  const section = createNativeCriticalSection(requireNative(), { onReport: (r) => (native = r) });
  const plan = prepareHibernation(backend, 'platform');
  stamp('hibernate');
  const outcome = await section.hibernate(plan).finally(() => plan.storage.close());
  stamp('resumed');
  report({ phase: 'after', outcome: outcome.kind, sha256: sha256Of(DATA_FILE), snapshotMs: native?.stats.snapshotMs ?? -1 });
  if (outcome.kind === 'failed') {
    emit('ERROR', `hibernation failed at ${outcome.stage}: ${outcome.error.message}`);
    return 1;
  }
  return 0;
}

async function resumeBoot(): Promise<number> {
  stamp('resume-start');
  const backend = createNativeBackend();
  const result = await resume({ backend, resumeDevice: SWAP_DEVICE, onProgress: (message) => console.log(`resume: ${message}`) });
  emit('ERROR', `no image was restored: ${JSON.stringify(result)}`);
  return 1;
}

async function main(): Promise<number> {
  try {
    return bootArg('boot') === '1' ? await hibernateBoot() : await resumeBoot();
  } catch (err) {
    emit('ERROR', err instanceof Error ? `${err.message}${err.cause instanceof Error ? ` (cause: ${err.cause.message})` : ''}` : String(err));
    return 1;
  }
}

process.exitCode = await main();
