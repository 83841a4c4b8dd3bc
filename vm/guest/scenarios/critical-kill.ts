/**
 * Guest scenario: the hibernating child dies at every kill point (KILL_CASES), then a restore
 * child is refused by the kernel, and after each run the machine must be fully alive again: this script still runs, a separate shell loop
 * still counts, the swap header page of /dev/vda is an ordinary swap signature again, and the
 * swap area can be switched off and on. One HK:RESULT per case; the host test judges them.
 *
 * The process carries ~100 MB of resident buffers so that the fork is of a Node process the size
 * of a real one (the difference between the two locking modes depends on it).
 */
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

import type { Backend, HibernateOutcome, RestoreOutcome } from '../../../lib/backend.js';
import { classifyResumePage, signatureAt, SIGNATURE_OFFSET } from '../../../lib/image/format.js';
import { PAGE_SIZE } from '../../../lib/ioctls.js';
import { createNativeBackend } from '../../../lib/native/backend.js';
import { requireNative, type NativeCriticalResult } from '../../../lib/native/binding.js';
import { createNativeCriticalSection } from '../../../lib/native/critical-section.js';
import { emit, stamp } from '../report.js';
import { enableSwap, KILL_CASES, prepareHibernation, RESTORE_REFUSED_ID, SWAP_DEVICE, type KillCase, type KillReport } from './critical-common.js';

const TICK_FILE = '/tmp/critical-tick';
const BALLAST_BUFFERS = 24;
const BALLAST_BUFFER_BYTES = 4 << 20;

/** A shell loop in a process of its own, counting into TICK_FILE five times a second. */
function startCountingLoop(): void {
  const loop = spawn('sh', ['-c', `i=0; while :; do i=$((i+1)); echo $i > ${TICK_FILE}; sleep 0.2; done`], {
    detached: true,
    stdio: 'ignore',
  });
  loop.unref();
}

function tick(): number {
  return Number(readFileSync(TICK_FILE, 'utf8').trim());
}

async function loopAdvances(): Promise<boolean> {
  const before = tick();
  await sleep(1000);
  return tick() > before;
}

function resumePageState(backend: Backend): { kind: string; signature: string } {
  const disk = backend.openBlockDevice(SWAP_DEVICE, { direct: true });
  try {
    const page = disk.allocAligned(PAGE_SIZE);
    disk.readSync(page, 0);
    return { kind: classifyResumePage(page).kind, signature: signatureAt(page, SIGNATURE_OFFSET) };
  } finally {
    disk.close();
  }
}

function swapCycles(): boolean {
  try {
    execFileSync('swapoff', [SWAP_DEVICE]);
    execFileSync('swapon', [SWAP_DEVICE]);
    return true;
  } catch {
    return false;
  }
}

async function runCase(backend: Backend, killCase: KillCase): Promise<KillReport> {
  let native: NativeCriticalResult | undefined;
  const section = createNativeCriticalSection(requireNative(), {
    testKillAt: killCase.killAt,
    testKillMethod: killCase.method,
    lockMode: killCase.lockMode,
    onReport: (report) => (native = report),
  });
  const plan = prepareHibernation(backend, 'platform');
  stamp(`start-${killCase.id}`);
  const outcome = await section.hibernate(plan).finally(() => plan.storage.close());
  stamp(`end-${killCase.id}`);
  return inspectAfter(backend, killCase.id, outcome, native!);
}

/**
 * The restore child's failure path: ATOMIC_RESTORE on a device that holds no image is refused
 * (EPERM) after the child froze user space and invalidated the resume page; it must thaw.
 * A restore runs before swap is enabled, so swap is off meanwhile (an active swap device only
 * takes writes from the /dev/snapshot holder that selected it, which a restore does not do).
 */
async function runRefusedRestore(backend: Backend): Promise<KillReport> {
  execFileSync('swapoff', [SWAP_DEVICE]);
  const storage = backend.openBlockDevice(SWAP_DEVICE, { write: true, direct: true });
  const originalResumePage = storage.allocAligned(PAGE_SIZE);
  storage.readSync(originalResumePage, 0);
  let native: NativeCriticalResult | undefined;
  const section = createNativeCriticalSection(requireNative(), { onReport: (report) => (native = report) });
  stamp(`start-${RESTORE_REFUSED_ID}`);
  const outcome = await section
    .restore({ device: backend.openSnapshot('restore'), storage, resumePage: 0, originalResumePage, platformMode: false })
    .finally(() => storage.close());
  stamp(`end-${RESTORE_REFUSED_ID}`);
  execFileSync('swapon', [SWAP_DEVICE]);
  return inspectAfter(backend, RESTORE_REFUSED_ID, outcome, native!);
}

/** What the machine looks like after a run: the checks every case shares. */
async function inspectAfter(backend: Backend, id: string, outcome: HibernateOutcome | RestoreOutcome, native: NativeCriticalResult): Promise<KillReport> {
  const page = resumePageState(backend);
  return {
    id,
    outcome: outcome.kind,
    stage: outcome.kind === 'failed' ? outcome.stage : '',
    error: outcome.kind === 'failed' ? outcome.error.message : '',
    native,
    loopAdvanced: await loopAdvances(),
    resumePage: page.kind,
    signature: page.signature,
    swapCycle: swapCycles(),
  };
}

async function main(): Promise<void> {
  stamp('critical-kill');
  enableSwap();
  startCountingLoop();
  const ballast = Array.from({ length: BALLAST_BUFFERS }, (_, i) => Buffer.alloc(BALLAST_BUFFER_BYTES, i + 1));
  const backend = createNativeBackend();
  for (const killCase of KILL_CASES) emit('RESULT', await runCase(backend, killCase));
  emit('RESULT', await runRefusedRestore(backend));
  // Still here, still holding the ballast: this process was thawed after every run.
  emit('RESULT', { ballastBytes: ballast.reduce((sum, b) => sum + b.length, 0) });
  stamp('critical-kill-done');
}

await main();
