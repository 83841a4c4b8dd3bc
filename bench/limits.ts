/**
 * What the VM itself allows (vm/guest/scenarios/bench-limits.ts): the raw disk with
 * O_DIRECT 1 MiB requests for given byte counts, the codecs' speed on the benchmark's text, and
 * the cost of one SNAPSHOT_ALLOC_SWAP_PAGE. One boot, same VM configuration as the contenders.
 */
import { rmSync } from 'node:fs';
import { repoRelative } from '../vm/paths.js';
import { createDisk, describeBoot, payloadsOf } from '../vm/vm.js';
import type { Workload } from './contenders.js';
import { median } from './stats.js';
import type { BenchVm } from './vm.js';

const MIB = 1 << 20;

interface RawDeviceFigures {
  bytes: number;
  writeMs: number;
  readMs: number;
}

export interface VmLimits {
  /** Medians over the repetitions, one entry per byte count. */
  raw: RawDeviceFigures[];
  codec: {
    codec: string;
    bytes: number;
    ratio: number;
    compressMiBs: number;
    decompressMiBs: number;
    crc32cMiBs: number;
  };
  allocSwapPageUs: number;
  /** Warm start-up in the guest: `node -e 0`, and `hiberkit --help` (the CLI's whole module graph). */
  startup: { nodeMs: number; cliMs: number };
  /** The boot's console log, relative to the repository. */
  log: string;
}

interface RawReport extends RawDeviceFigures {
  phase: 'raw';
  rep: number;
}
interface CodecReport {
  phase: 'codec';
  codec: string;
  bytes: number;
  storedBytes: number;
  compressMs: number;
  decompressMs: number;
  crcMs: number;
}
interface AllocReport {
  phase: 'alloc';
  pages: number;
  ms: number;
}
interface StartupReport {
  phase: 'startup';
  nodeMs: number;
  cliMs: number;
}
type LimitsReport = RawReport | CodecReport | AllocReport | StartupReport;

class LimitsError extends Error {}

const mibPerSecond = (bytes: number, ms: number): number => bytes / MIB / (ms / 1000);

export async function measureLimits(vm: BenchVm, byteCounts: number[], reps: number, workload: Workload, cpus: number): Promise<VmLimits> {
  // Every measurement gets space never written before (see bench-limits.ts); sparse on the host.
  const diskMiB = (byteCounts.reduce((sum, bytes) => sum + Math.ceil(bytes / MIB), 0) * reps) + 1;
  const disk = createDisk(`bench-${process.pid}-raw.img`, diskMiB);
  try {
    const boot = await vm.boot({
      scenario: 'bench-limits',
      disks: [{ path: disk }],
      memMB: workload.memMB,
      cpus,
      cmdline: [`hk.bytes=${byteCounts.join(',')}`, `hk.reps=${reps}`],
      timeoutMs: 600_000,
    });
    if (boot.scenarioExit !== 0) throw new LimitsError(`the limits boot failed: ${describeBoot(boot)}`);
    const reports = payloadsOf<LimitsReport>(boot.lines, 'RESULT');
    const raw = reports.filter((r): r is RawReport => r.phase === 'raw');
    const codec = reports.find((r): r is CodecReport => r.phase === 'codec');
    const alloc = reports.find((r): r is AllocReport => r.phase === 'alloc');
    const startup = reports.find((r): r is StartupReport => r.phase === 'startup');
    if (!codec || !alloc || !startup || raw.length !== byteCounts.length * reps) throw new LimitsError(`the limits boot reported too little: ${describeBoot(boot)}`);
    const rawBytes = [...new Set(raw.map((r) => r.bytes))];
    return {
      raw: rawBytes.map((bytes) => {
        const runs = raw.filter((r) => r.bytes === bytes);
        return { bytes, writeMs: median(runs.map((r) => r.writeMs)), readMs: median(runs.map((r) => r.readMs)) };
      }),
      codec: {
        codec: codec.codec,
        bytes: codec.bytes,
        ratio: codec.bytes / codec.storedBytes,
        compressMiBs: mibPerSecond(codec.bytes, codec.compressMs),
        decompressMiBs: mibPerSecond(codec.bytes, codec.decompressMs),
        crc32cMiBs: mibPerSecond(codec.bytes, codec.crcMs),
      },
      allocSwapPageUs: (alloc.ms * 1000) / alloc.pages,
      startup: { nodeMs: startup.nodeMs, cliMs: startup.cliMs },
      log: repoRelative(boot.logPath),
    };
  } finally {
    rmSync(disk, { force: true });
  }
}

/** The raw device time for `bytes`: the measured count nearest to it (the scenario rounds up to MiB). */
export function rawFor(limits: VmLimits, bytes: number): RawDeviceFigures {
  return limits.raw.reduce((best, r) => (Math.abs(r.bytes - bytes) < Math.abs(best.bytes - bytes) ? r : best));
}
