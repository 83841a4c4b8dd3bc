/**
 * From runs to the report: medians per contender and vCPU count, ratios to the kernel's default,
 * the comparison with the raw device, and the targets (reported, never asserted).
 */
import { BASELINE_ID, contenderById, type Method } from './contenders.js';
import type { CycleFigures, Phase } from './figures.js';
import { rawFor, type VmLimits } from './limits.js';
import { median } from './stats.js';

const MIB = 1 << 20;

export interface CycleFailure {
  contender: string;
  cpus: number;
  run: number;
  error: string;
}

export interface ContenderSummary {
  contender: string;
  label: string;
  method: Method;
  cpus: number;
  /** Successful runs, and failed ones (which count nowhere else). */
  runs: number;
  failures: number;
  hibernateMs: number;
  writeMs: number;
  resumeMs: number;
  loadMs: number;
  /** Median of each phase (so they need not add up exactly to the median totals). */
  hibernatePhases: Phase[];
  resumePhases: Phase[];
  streamBytes: number;
  diskBytes: number;
  swappedOutBytes: number;
  /** What the write phase moved to disk and the load phase read back: disk bytes without swapped-out pages. */
  imageBytes: number;
  /** Uncompressed stream / bytes on disk. */
  compressionRatio: number;
  /** Uncompressed stream MiB per second of write phase: the compression throughput where there is compression. */
  writeMiBs: number;
  /** Times this contender's, divided by the kernel default's at the same vCPU count. */
  vsBaseline: { hibernate: number; resume: number } | null;
  /** Write and load phases divided by the raw device's time for imageBytes. */
  vsRaw: { bytes: number; rawWriteMs: number; rawReadMs: number; write: number; load: number } | null;
}

export interface Target {
  name: string;
  value: number;
  limit: number;
  /** 'max': the value must not exceed the limit; 'min': must reach it. */
  kind: 'max' | 'min';
  met: boolean;
}

function medianPhases(runs: readonly Phase[][]): Phase[] {
  return runs[0]!.map((phase, i) => ({ name: phase.name, ms: median(runs.map((r) => r[i]!.ms)) }));
}

function imageBytesOf(cycle: CycleFigures): number {
  return cycle.diskBytes - cycle.swappedOutBytes;
}

function summarizeGroup(cycles: CycleFigures[], failures: number): Omit<ContenderSummary, 'vsBaseline' | 'vsRaw'> {
  const first = cycles[0]!;
  const contender = contenderById(first.contender);
  const of = (pick: (c: CycleFigures) => number) => median(cycles.map(pick));
  return {
    contender: contender.id,
    label: contender.label,
    method: contender.method,
    cpus: first.cpus,
    runs: cycles.length,
    failures,
    hibernateMs: of((c) => c.hibernateMs),
    writeMs: of((c) => c.writeMs),
    resumeMs: of((c) => c.resumeMs),
    loadMs: of((c) => c.loadMs),
    hibernatePhases: medianPhases(cycles.map((c) => c.hibernatePhases)),
    resumePhases: medianPhases(cycles.map((c) => c.resumePhases)),
    streamBytes: of((c) => c.streamBytes),
    diskBytes: of((c) => c.diskBytes),
    swappedOutBytes: of((c) => c.swappedOutBytes),
    imageBytes: of(imageBytesOf),
    compressionRatio: of((c) => c.streamBytes / imageBytesOf(c)),
    writeMiBs: of((c) => c.streamBytes / MIB / (c.writeMs / 1000)),
  };
}

/** One summary per (contender, vCPUs) that has at least one successful run, in run order. */
export function summarize(cycles: readonly CycleFigures[], failures: readonly CycleFailure[]): ContenderSummary[] {
  const keys = [...new Set(cycles.map((c) => `${c.cpus}/${c.contender}`))];
  const summaries = keys.map((key) => {
    const group = cycles.filter((c) => `${c.cpus}/${c.contender}` === key);
    const failed = failures.filter((f) => `${f.cpus}/${f.contender}` === key).length;
    return summarizeGroup(group, failed);
  });
  return summaries.map((s) => {
    const baseline = summaries.find((b) => b.contender === BASELINE_ID && b.cpus === s.cpus);
    return {
      ...s,
      vsBaseline: baseline ? { hibernate: s.hibernateMs / baseline.hibernateMs, resume: s.resumeMs / baseline.resumeMs } : null,
      vsRaw: null,
    };
  });
}

/** The byte counts the raw device must be measured for: each main-pass contender's image, in whole MiB. */
export function rawByteCounts(summaries: readonly ContenderSummary[], cpus: number): number[] {
  const counts = summaries.filter((s) => s.cpus === cpus).map((s) => Math.ceil(s.imageBytes / MIB) * MIB);
  return [...new Set(counts)];
}

export function compareToRaw(summaries: readonly ContenderSummary[], limits: VmLimits, cpus: number): ContenderSummary[] {
  return summaries.map((s) => {
    if (s.cpus !== cpus) return s;
    const raw = rawFor(limits, Math.ceil(s.imageBytes / MIB) * MIB);
    return { ...s, vsRaw: { bytes: raw.bytes, rawWriteMs: raw.writeMs, rawReadMs: raw.readMs, write: s.writeMs / raw.writeMs, load: s.loadMs / raw.readMs } };
  });
}

/** One target, judged. */
export function target(name: string, value: number, limit: number, kind: Target['kind']): Target {
  return { name, value, limit, kind, met: kind === 'max' ? value <= limit : value >= limit };
}

/**
 * The targets for hiberkit, each with its measured value: for the contenders that resume
 * the way an installed system does (hiberkit-resume), not for the Node resume kept for comparison.
 */
export function targets(summaries: readonly ContenderSummary[], mainCpus: number): Target[] {
  const found: Target[] = [];
  const add = (name: string, value: number, limit: number, kind: Target['kind']) => found.push(target(name, value, limit, kind));
  for (const s of summaries.filter((x) => x.method === 'hiberkit' && contenderById(x.contender).resumer === 'native' && x.cpus === mainCpus)) {
    if (s.vsBaseline) {
      add(`${s.contender}: hibernate / kernel default`, s.vsBaseline.hibernate, 0.75, 'max');
      add(`${s.contender}: resume / kernel default`, s.vsBaseline.resume, 0.75, 'max');
    }
    if (s.vsRaw) {
      add(`${s.contender}: write phase / raw device write`, s.vsRaw.write, 1.25, 'max');
      add(`${s.contender}: load phase / raw device read`, s.vsRaw.load, 1.25, 'max');
    }
    if (contenderById(s.contender).compresses) {
      for (const more of summaries.filter((x) => x.contender === s.contender && x.cpus > mainCpus)) {
        add(`${s.contender}: compression throughput, ${more.cpus} vCPUs / ${mainCpus}`, more.writeMiBs / s.writeMiBs, 1.5, 'min');
      }
    }
  }
  return found;
}
