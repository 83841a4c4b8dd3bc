/**
 * One contender's cycle: boot 1 fills memory and hibernates onto a fresh swap disk, boot 2
 * resumes it (vm/guest/scenarios/bench-cycle.sh); then the figures of both consoles.
 */
import { rmSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createDisk, describeBoot } from '../vm/vm.js';
import type { Contender, Workload } from './contenders.js';
import { cycleFigures, type CycleFigures } from './figures.js';
import type { BenchVm } from './vm.js';

/** Generous: a full-size cycle takes well under a minute per boot. */
const BOOT_TIMEOUT_MS = 600_000;

class CycleError extends Error {}

export async function runCycle(vm: BenchVm, contender: Contender, workload: Workload, cpus: number, run: number): Promise<CycleFigures> {
  // Sparse and empty: what boot 1 allocates in it is what it wrote. One per process, so a CI run
  // and a full benchmark on the same machine do not share it.
  const disk = createDisk(`bench-${process.pid}-swap.img`, workload.swapMB);
  try {
    const options = {
      scenario: 'bench-cycle',
      disks: [{ path: disk }],
      memMB: workload.memMB,
      cpus,
      cmdline: [...contender.cmdline, `hk.textmb=${workload.textMiB}`, `hk.randommb=${workload.randomMiB}`],
      timeoutMs: BOOT_TIMEOUT_MS,
    };
    const first = await vm.boot({ ...options, boot: 1 });
    if (first.timedOut || first.panicked || first.scenarioExit !== null) {
      throw new CycleError(`${contender.id}: boot 1 did not power off hibernated: ${describeBoot(first)}`);
    }
    const diskBytes = statSync(disk).blocks * 512;
    const second = await vm.boot({ ...options, boot: 2 });
    if (second.scenarioExit !== 0) throw new CycleError(`${contender.id}: boot 2 did not resume boot 1: ${describeBoot(second)}`);
    return cycleFigures({ contender, workload, cpus, run, diskBytes, hostLoad: loadavg()[0]! }, first, second);
  } finally {
    rmSync(disk, { force: true });
  }
}
