/**
 * The whole benchmark: every contender's cycles, interleaved (A B C D A B C D …) so that a slow
 * spell of the host hits them all alike; the compressing ones again with more vCPUs; then the
 * VM's own limits for the image sizes seen, and the emulator's throughput on the host.
 */
import { execFileSync } from 'node:child_process';
import { cpus as hostCpus } from 'node:os';
import { REPO_ROOT } from '../vm/paths.js';
import type { Workload } from './contenders.js';
import { runCycle } from './cycle.js';
import { measureEmulator, type EmulatorFigures } from './emulator.js';
import type { CycleFigures } from './figures.js';
import { measureLimits, type VmLimits } from './limits.js';
import type { BenchOptions } from './options.js';
import { prepareBenchVm, type BenchVm } from './vm.js';
import { compareToRaw, rawByteCounts, summarize, targets, type ContenderSummary, type CycleFailure, type Target } from './summary.js';

const MIB = 1 << 20;

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  short: boolean;
  runs: number;
  /** The first count is the main pass. */
  cpus: number[];
  contenders: string[];
  workload: Workload;
  host: { cpus: number; node: string; guestKernel: string; initramfsBytes: number };
  /** What was measured: the commit, and the tracked files that differed from it (the guest runs the working tree's build). */
  revision: { commit: string; modified: string[] };
  cycles: CycleFigures[];
  failures: CycleFailure[];
  summaries: ContenderSummary[];
  /** Null when no cycle succeeded (nothing to size the raw device test by). */
  limits: VmLimits | { error: string } | null;
  emulator: EmulatorFigures | { error: string };
  targets: Target[];
}

/** The commit measured, and the tracked files that differ from it. */
export function revision(): BenchReport['revision'] {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' });
  try {
    const modified = git('status', '--porcelain', '--untracked-files=no').split('\n').filter(Boolean).map((line) => line.slice(3));
    return { commit: git('rev-parse', 'HEAD').trim(), modified };
  } catch {
    return { commit: 'unknown (not a git checkout)', modified: [] };
  }
}

function describeCycle(c: CycleFigures): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  return (
    `hibernate ${s(c.hibernateMs)} (write ${s(c.writeMs)}), resume ${s(c.resumeMs)} (load ${s(c.loadMs)}), ` +
    `${(c.streamBytes / MIB).toFixed(0)} MiB stream, ${(c.diskBytes / MIB).toFixed(0)} MiB written`
  );
}

export async function runBenchmark(options: BenchOptions, log: (line: string) => void): Promise<BenchReport> {
  const vm = prepareBenchVm();
  try {
    return await runWith(vm, options, log);
  } finally {
    vm.release();
  }
}

async function runWith(vm: BenchVm, options: BenchOptions, log: (line: string) => void): Promise<BenchReport> {
  const startedAt = new Date().toISOString();
  const measured = revision();
  log(`VM: kernel ${vm.kernelRelease}, initramfs ${(vm.initramfsBytes / MIB).toFixed(0)} MiB (${vm.reused ? 'reused' : 'built'})`);

  const [mainCpus, ...moreCpus] = options.cpus as [number, ...number[]];
  const passes = [
    { cpus: mainCpus, contenders: options.contenders },
    ...moreCpus.map((cpus) => ({ cpus, contenders: options.contenders.filter((c) => c.compresses) })),
  ];
  const cycles: CycleFigures[] = [];
  const failures: CycleFailure[] = [];
  for (const pass of passes) {
    for (let run = 1; run <= options.runs; run++) {
      for (const contender of pass.contenders) {
        const name = `${contender.id}, ${pass.cpus} vCPU${pass.cpus > 1 ? 's' : ''}, run ${run}/${options.runs}`;
        try {
          const figures = await runCycle(vm, contender, options.workload, pass.cpus, run);
          cycles.push(figures);
          log(`${name}: ${describeCycle(figures)}`);
        } catch (err) {
          failures.push({ contender: contender.id, cpus: pass.cpus, run, error: (err as Error).message });
          log(`${name}: FAILED: ${(err as Error).message}`);
        }
      }
    }
  }

  let summaries = summarize(cycles, failures);
  let limits: VmLimits | { error: string } | null = null;
  const byteCounts = rawByteCounts(summaries, mainCpus);
  if (byteCounts.length > 0) {
    log(`raw device and codec limits for ${byteCounts.map((b) => `${b / MIB} MiB`).join(', ')}`);
    try {
      const measured = await measureLimits(vm, byteCounts, options.short ? 1 : 3, options.workload, mainCpus);
      summaries = compareToRaw(summaries, measured, mainCpus);
      limits = measured;
    } catch (err) {
      // The contenders' figures stand on their own: keep them.
      limits = { error: (err as Error).message };
      log(`limits: FAILED: ${limits.error}`);
    }
  }

  log(`emulator pipeline, ${options.emulatorMemoryMiB} MiB emulated machine`);
  const emulator = await measureEmulator(options.emulatorMemoryMiB).catch((err: unknown) => ({ error: (err as Error).message }));

  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    short: options.short,
    runs: options.runs,
    cpus: options.cpus,
    contenders: options.contenders.map((c) => c.id),
    workload: options.workload,
    host: { cpus: hostCpus().length, node: process.version, guestKernel: vm.kernelRelease, initramfsBytes: vm.initramfsBytes },
    revision: measured,
    cycles,
    failures,
    summaries,
    limits,
    emulator,
    targets: targets(summaries, mainCpus),
  };
}
