/**
 * The benchmark's real-system cycle: the kernel's own hibernation against hiberkit's on the same
 * Debian 13 system (vm/debian/: systemd 257, initramfs-tools, Debian's cloud kernel), with the
 * same workload (vm/guest/debian/steps/bench.sh), interleaved. What a user waits for:
 *  - hibernate: `systemctl hibernate` → the machine powered off (qemu exits);
 *  - resume: power-on (qemu starts) → the workload running again (systemd's `post` sleep hook,
 *    which both paths run), the whole boot included: firmware, kernel, initramfs, the resume.
 * The kernel's disk boots with resume= and resume_offset= of the swap file, as its user configures
 * it, and Debian's own initramfs; hiberkit's disk went through `hiberkit setup --yes` once (no
 * resume= on the command line: setup's config is in the regenerated initramfs), which also gives
 * the initramfs's size with and without hiberkit.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { bootDebian } from '../vm/debian/boot.js';
import { TRIXIE } from '../vm/debian/root.js';
import { debianSystem, type DebianSystem } from '../vm/debian/system.js';
import { CACHE_DIR, repoRelative } from '../vm/paths.js';
import type { BootResult } from '../vm/qemu.js';
import { describeBoot, payloadsOf } from '../vm/vm.js';
import { median } from './stats.js';
import { target, type Target } from './summary.js';
import { ConsoleTimeline } from './timeline.js';

export type SystemMethod = 'kernel' | 'hiberkit';

/** The Debian VM of every boot: as the Debian VM tests boot it. */
const MEM_MB = 1024;
const CPUS = 1;
/** A systemd boot under TCG takes 60–90 s; setup regenerates the initramfs, some minutes more. */
const BOOT_TIMEOUT_MS = 900_000;

export interface SystemCycleFigures {
  method: SystemMethod;
  run: number;
  /** `systemctl hibernate` → power-off. */
  hibernateMs: number;
  /** Power-on → the `post` sleep hook: the workload running again. */
  resumeMs: number;
  /** The two boots' console logs, relative to the repository. */
  logs: string[];
}

export interface SystemFailure {
  method: SystemMethod;
  run: number;
  error: string;
}

export interface SystemSummary {
  method: SystemMethod;
  runs: number;
  hibernateMs: number;
  resumeMs: number;
}

export interface DebianReport {
  system: string;
  kernelRelease: string;
  runs: number;
  /** Compressed file size of the running kernel's initramfs: Debian's own, and after `hiberkit setup`. */
  initramfs: { withoutHiberkitBytes: number; withHiberkitBytes: number } | null;
  cycles: SystemCycleFigures[];
  failures: SystemFailure[];
  summaries: SystemSummary[];
  /** hiberkit's medians divided by the kernel's; null unless both have a cycle. */
  vsKernel: { hibernate: number; resume: number } | null;
  targets: Target[];
}

class SystemBenchError extends Error {}

interface StateReport {
  phase: 'before' | 'after';
  sha256: string;
  /** "VALUE COUNT" of the holder process. */
  holder: string;
}

interface InitramfsReport {
  phase: 'initramfs';
  label: string;
  bytes: number;
}

/** One cycle's figures from its two boots, after checking that boot 2 resumed boot 1's session by `method`. */
export function systemCycleFigures(method: SystemMethod, run: number, hibernated: BootResult, resumed: BootResult): SystemCycleFigures {
  if (hibernated.timedOut || hibernated.panicked || hibernated.scenarioExit !== null) {
    throw new SystemBenchError(`boot 1 did not power off inside systemctl hibernate: ${describeBoot(hibernated)}`);
  }
  if (resumed.scenarioExit !== 0) throw new SystemBenchError(`boot 2 did not resume boot 1's session: ${describeBoot(resumed)}`);
  // Neither path may have fallen back on the other's: each leaves its own line.
  const resumedBy = method === 'kernel' ? /PM: hibernation: resume from hibernation/ : /hiberkit-resume: image found on/;
  if (!resumedBy.test(resumed.log)) throw new SystemBenchError(`boot 2 was not resumed by ${method} (no line matching ${resumedBy}): ${resumed.logPath}`);
  const before = payloadsOf<StateReport>(hibernated.lines, 'RESULT').find((r) => r.phase === 'before');
  const after = payloadsOf<StateReport>(resumed.lines, 'RESULT').find((r) => r.phase === 'after');
  const value = (state: StateReport | undefined) => state?.holder.split(' ')[0];
  if (!before || !after || after.sha256 !== before.sha256 || value(after) !== value(before) || value(before) === 'none') {
    throw new SystemBenchError(`the workload did not survive the cycle (before ${JSON.stringify(before)}, after ${JSON.stringify(after)}): ${resumed.logPath}`);
  }
  const hibernateStart = new ConsoleTimeline(hibernated).stamp('hibernate-1');
  const running = new ConsoleTimeline(resumed).stamp('sleep-post-hibernate');
  return {
    method,
    run,
    hibernateMs: hibernated.elapsedMs - hibernateStart.atMs,
    resumeMs: running.atMs,
    logs: [repoRelative(hibernated.logPath), repoRelative(resumed.logPath)],
  };
}

/** The `hiberkit setup` boot's initramfs sizes, before and after. */
export function initramfsSizes(setupBoot: BootResult): NonNullable<DebianReport['initramfs']> {
  if (setupBoot.scenarioExit !== 0) throw new SystemBenchError(`hiberkit setup failed: ${describeBoot(setupBoot)}`);
  const sizes = payloadsOf<InitramfsReport>(setupBoot.lines, 'RESULT').filter((r) => r.phase === 'initramfs');
  const of = (label: string) => sizes.find((r) => r.label === label)?.bytes;
  const withoutHiberkitBytes = of('without-hiberkit');
  const withHiberkitBytes = of('with-hiberkit');
  if (withoutHiberkitBytes === undefined || withHiberkitBytes === undefined) throw new SystemBenchError(`the setup boot did not report both initramfs sizes: ${setupBoot.logPath}`);
  return { withoutHiberkitBytes, withHiberkitBytes };
}

export function summarizeSystem(cycles: readonly SystemCycleFigures[]): Pick<DebianReport, 'summaries' | 'vsKernel' | 'targets'> {
  const summaries: SystemSummary[] = (['kernel', 'hiberkit'] as const)
    .map((method) => cycles.filter((c) => c.method === method))
    .filter((group) => group.length > 0)
    .map((group) => ({
      method: group[0]!.method,
      runs: group.length,
      hibernateMs: median(group.map((c) => c.hibernateMs)),
      resumeMs: median(group.map((c) => c.resumeMs)),
    }));
  const kernel = summaries.find((s) => s.method === 'kernel');
  const hiberkit = summaries.find((s) => s.method === 'hiberkit');
  const vsKernel = kernel && hiberkit ? { hibernate: hiberkit.hibernateMs / kernel.hibernateMs, resume: hiberkit.resumeMs / kernel.resumeMs } : null;
  return {
    summaries,
    vsKernel,
    targets: vsKernel
      ? [target("real system: hibernate / kernel's own", vsKernel.hibernate, 0.75, 'max'), target("real system: resume / kernel's own", vsKernel.resume, 0.75, 'max')]
      : [],
  };
}

/** A private copy of the system's disk for one method, reused by its cycles. */
function methodDisk(system: DebianSystem, method: SystemMethod): string {
  const dir = join(CACHE_DIR, 'bench');
  mkdirSync(dir, { recursive: true });
  const disk = join(dir, `debian-${process.pid}-${method}.img`);
  execFileSync('cp', ['--sparse=always', system.image, disk]);
  return disk;
}

export async function runDebianBench(runs: number, log: (line: string) => void): Promise<DebianReport> {
  const system = debianSystem(TRIXIE);
  log(`Debian system ${system.flavor.name}: ${system.reused ? 'reused' : 'built'} in ${(system.buildMs / 1000).toFixed(0)} s; swap file at page ${system.swapFileOffset}`);
  const disks: Record<SystemMethod, string> = { kernel: methodDisk(system, 'kernel'), hiberkit: methodDisk(system, 'hiberkit') };
  const commandLines: Record<SystemMethod, string[]> = { kernel: ['resume=/dev/vda', `resume_offset=${system.swapFileOffset}`], hiberkit: [] };
  const boot = (method: SystemMethod, scenario: string, bench: string, number: number) =>
    bootDebian({ scenario, step: 'bench', root: disks[method], boot: number, memMB: MEM_MB, cpus: CPUS, timeoutMs: BOOT_TIMEOUT_MS, cmdline: [`hk.bench=${bench}`, ...commandLines[method]] });
  const cycles: SystemCycleFigures[] = [];
  const failures: SystemFailure[] = [];
  let initramfs: DebianReport['initramfs'] = null;
  let kernelRelease = 'unknown';
  try {
    log('Debian: hiberkit setup --yes on the hiberkit disk');
    const setupBoot = await boot('hiberkit', 'bench-debian-setup', 'setup', 1);
    kernelRelease = /Linux version (\S+)/.exec(setupBoot.log)?.[1] ?? kernelRelease;
    try {
      initramfs = initramfsSizes(setupBoot);
    } catch (err) {
      // No hiberkit cycle can run without its setup; the kernel's still can.
      failures.push({ method: 'hiberkit', run: 0, error: (err as Error).message });
      log(`Debian setup: FAILED: ${(err as Error).message}`);
    }
    const methods: SystemMethod[] = initramfs ? ['kernel', 'hiberkit'] : ['kernel'];
    for (let run = 1; run <= runs; run++) {
      for (const method of methods) {
        const name = `Debian ${method}, run ${run}/${runs}`;
        try {
          const scenario = `bench-debian-${method}-run${run}`;
          const hibernated = await boot(method, scenario, 'cycle', 1);
          const resumed = await boot(method, scenario, 'cycle', 2);
          const figures = systemCycleFigures(method, run, hibernated, resumed);
          cycles.push(figures);
          log(`${name}: hibernate ${(figures.hibernateMs / 1000).toFixed(2)} s, resume ${(figures.resumeMs / 1000).toFixed(2)} s (power-on to running)`);
        } catch (err) {
          failures.push({ method, run, error: (err as Error).message });
          log(`${name}: FAILED: ${(err as Error).message}`);
        }
      }
    }
  } finally {
    for (const disk of Object.values(disks)) rmSync(disk, { force: true });
  }
  return { system: `Debian 13 (${system.flavor.name}, ${system.flavor.generator})`, kernelRelease, runs, initramfs, cycles, failures, ...summarizeSystem(cycles) };
}
