/**
 * Runs the conformance cases (test/conformance/cases.ts) inside the QEMU guest against the real
 * kernel through the native backend, printing one `HK:CASE` line per case (protocol.ts).
 *
 * Start it as root with `node --single-threaded` (the `conformance` scenario does): cases freeze
 * user space from JavaScript, and without V8's worker threads nothing can wait on a frozen
 * thread. The unprivileged phase runs in a child process of this same script
 * (`--phase nobody`), which drops to uid/gid 65534 before touching the device.
 *
 * Exit status: 0 when every case passed, 1 otherwise.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { behaviourOfRelease } from '../../emulator/profile.js';
import { decodeDev, encodeDev } from '../../lib/ioctls.js';
import { createNativeBackend } from '../../lib/native/backend.js';
import type { SwapFacts } from '../../test/conformance/cases.js';
import { conformancePhases, phaseContext, type MachineFacts, type Phase, type PhaseName, type PhaseTools } from './conformance-plan.js';
import type { CaseReport } from './protocol.js';
import { emit, stamp } from './report.js';

const SNAPSHOT_NODE = '/dev/snapshot';
const NOBODY = 65534;
/** The child gets the parent's facts, so both plan from the same ones. */
const FACTS_VARIABLE = 'HK_CONFORMANCE_FACTS';
/** Long assertion diffs are cut: the console line must stay readable. */
const MAX_ERROR_LENGTH = 3000;

/** The one active swap area, as /proc/swaps lists it (sizes there are KiB). */
function readSwapFacts(): SwapFacts | null {
  const [, first] = readFileSync('/proc/swaps', 'utf8').split('\n');
  if (!first?.trim()) return null;
  const [path, type, sizeKiB] = first.trim().split(/\s+/);
  if (type !== 'partition') throw new Error(`the conformance VM swaps on a partition, not on ${path} (${type})`);
  // st_rdev is glibc's 64-bit dev_t; SET_SWAP_AREA takes the kernel's 32-bit encoding.
  const { major, minor } = decodeDev(statSync(path!).rdev);
  return { path: path!, dev: encodeDev(major, minor), offsetPages: 0, sizeBytes: Number(sizeKiB) * 1024 };
}

function readMachineFacts(): MachineFacts {
  const release = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  const disk = readFileSync('/sys/power/disk', 'utf8');
  const states = readFileSync('/sys/power/state', 'utf8').trim().split(/\s+/);
  return {
    swap: readSwapFacts(),
    hibernationAvailable: existsSync(SNAPSHOT_NODE) && states.includes('disk') && !disk.includes('[disabled]'),
    // "platform" is offered only when the firmware has ACPI S4.
    platformS4: /\bplatform\b/.test(disk),
    s3: states.includes('mem'),
    kernel: behaviourOfRelease(release),
  };
}

function tools(): PhaseTools {
  return {
    backend: createNativeBackend(),
    openReadWrite: () => closeSync(openSync(SNAPSHOT_NODE, 'r+')),
  };
}

function describeError(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return text.length > MAX_ERROR_LENGTH ? `${text.slice(0, MAX_ERROR_LENGTH)}…` : text;
}

/** Runs one phase's cases in this process; returns how many failed. */
async function runPhase(phase: Phase, facts: MachineFacts): Promise<number> {
  const ctx = phaseContext(facts, phase, tools());
  let failed = 0;
  for (const testCase of phase.cases) {
    // The stamp tells the host which case the guest was in, should it never report back.
    stamp(`case:${phase.name}:${testCase.id}`);
    const started = Date.now();
    const report: CaseReport = { id: testCase.id, phase: phase.name, ok: true, ms: 0 };
    try {
      await testCase.run(ctx);
    } catch (err) {
      report.ok = false;
      report.error = describeError(err);
      failed += 1;
    }
    report.ms = Date.now() - started;
    emit('CASE', report);
  }
  return failed;
}

/**
 * The unprivileged phase, in a child that drops root first (the capability check is per ioctl,
 * docs/snapshot-device.md §2.1).
 */
function runNobodyChild(facts: MachineFacts): number {
  const mode = statSync(SNAPSHOT_NODE).mode & 0o7777;
  chmodSync(SNAPSHOT_NODE, 0o666);
  try {
    const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--phase', 'nobody'], {
      stdio: 'inherit',
      env: { ...process.env, [FACTS_VARIABLE]: JSON.stringify(facts) },
    });
    if (child.status === null) emit('ERROR', `the unprivileged conformance child died: ${child.signal ?? child.error}`);
    return child.status ?? 1;
  } finally {
    chmodSync(SNAPSHOT_NODE, mode);
  }
}

function phaseNamed(phases: Phase[], name: PhaseName): Phase {
  return phases.find((p) => p.name === name)!;
}

async function runAsRoot(): Promise<number> {
  const facts = readMachineFacts();
  const phases = conformancePhases(facts);
  emit('RESULT', { facts, planned: Object.fromEntries(phases.map((p) => [p.name, p.cases.length])) });
  let failed = await runPhase(phaseNamed(phases, 'root'), facts);
  if (phaseNamed(phases, 'nobody').cases.length > 0 && runNobodyChild(facts) !== 0) failed += 1;
  const resume = phaseNamed(phases, 'root-resume');
  if (resume.cases.length > 0 && facts.swap) {
    const { major, minor } = decodeDev(facts.swap.dev);
    // Also runs the kernel's resume check, which finds a plain swap signature and does nothing.
    writeFileSync('/sys/power/resume', `${major}:${minor}`);
    failed += await runPhase(resume, facts);
  }
  return failed === 0 ? 0 : 1;
}

async function runAsNobody(): Promise<number> {
  const facts = JSON.parse(process.env[FACTS_VARIABLE] ?? 'null') as MachineFacts | null;
  if (!facts) throw new Error(`--phase nobody needs ${FACTS_VARIABLE}`);
  // Groups first: once the uid is dropped, the process may no longer change them.
  process.setgroups!([]);
  process.setgid!(NOBODY);
  process.setuid!(NOBODY);
  return (await runPhase(phaseNamed(conformancePhases(facts), 'nobody'), facts)) === 0 ? 0 : 1;
}

const nobody = process.argv.slice(2).join(' ') === '--phase nobody';
(nobody ? runAsNobody() : runAsRoot()).then(
  (status) => process.exit(status),
  (err: unknown) => {
    emit('ERROR', `conformance runner: ${describeError(err)}`);
    process.exit(2);
  },
);
