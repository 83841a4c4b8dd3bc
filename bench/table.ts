/** The benchmark's report as plain text: the table `npm run bench` prints. */
import type { BenchReport } from './benchmark.js';
import type { DebianReport, SystemSummary } from './debian.js';
import type { Phase } from './figures.js';
import type { ContenderSummary, Target } from './summary.js';

const MIB = 1 << 20;

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const mib = (bytes: number): string => `${(bytes / MIB).toFixed(0)} MiB`;
const times = (ratio: number): string => `${ratio.toFixed(2)}x`;

/** Columns padded to their widest cell; the first column left-aligned, the others right-aligned. */
function columns(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd());
}

function phases(list: Phase[]): string {
  return list.map((p) => `${p.name} ${(p.ms / 1000).toFixed(2)}`).join(' | ');
}

function mainTable(summaries: ContenderSummary[]): string[] {
  const header = ['contender', 'hibernate', 'vs kernel', 'write', 'resume', 'vs kernel', 'load', 'stream', 'on disk', 'ratio', 'runs'];
  const rows = summaries.map((s) => [
    s.label,
    seconds(s.hibernateMs),
    s.vsBaseline ? times(s.vsBaseline.hibernate) : '-',
    seconds(s.writeMs),
    seconds(s.resumeMs),
    s.vsBaseline ? times(s.vsBaseline.resume) : '-',
    seconds(s.loadMs),
    mib(s.streamBytes),
    mib(s.imageBytes),
    s.compressionRatio.toFixed(2),
    s.failures ? `${s.runs} (+${s.failures} failed)` : String(s.runs),
  ]);
  return columns([header, ...rows]);
}

function hostLoadLine(report: BenchReport): string {
  if (report.cycles.length === 0) return 'no cycle completed';
  const loads = report.cycles.map((c) => c.hostLoad);
  return `host load average (1 min) at the end of each cycle: ${Math.min(...loads).toFixed(1)} to ${Math.max(...loads).toFixed(1)} (the VM alone needs one core per vCPU)`;
}

function targetLines(targets: readonly Target[]): string[] {
  if (targets.length === 0) return [];
  return ['', 'targets (reported, not asserted):', ...targets.map((t) => `  ${t.met ? 'met    ' : 'MISSED '} ${t.name}: ${t.value.toFixed(2)} (${t.kind === 'max' ? '≤' : '≥'} ${t.limit})`)];
}

export function formatReport(report: BenchReport): string {
  const [mainCpus] = report.cpus;
  const main = report.summaries.filter((s) => s.cpus === mainCpus);
  const { workload } = report;
  const out: string[] = [
    `hiberkit benchmark: ${mainCpus} vCPU, ${workload.memMB} MB RAM, ${workload.swapMB} MiB swap disk, ` +
      `${workload.textMiB} MiB text + ${workload.randomMiB} MiB random data in tmpfs; medians of ${report.runs} run(s); ` +
      `guest kernel ${report.host.guestKernel}, TCG on ${report.host.cpus} host cores`,
    `measured: commit ${report.revision.commit.slice(0, 12)}${report.revision.modified.length ? ` plus changes to ${report.revision.modified.length} tracked file(s)` : ''}`,
    hostLoadLine(report),
    '',
    ...mainTable(main),
    '',
    'hibernate = trigger → power-off; resume = resume start → system running again; "vs kernel" = / kernel default (LZO).',
    'write/load: the phase that moves the image (kernel: its PM messages; hiberkit: its progress lines).',
    'hiberkit resumes through hiberkit-resume, the native program an installed system runs in its initramfs ("Node resume": `hiberkit resume`).',
    'on disk = written to the swap disk, minus pages swapped out to make room; ratio = stream / on disk.',
    '',
    'phases (median seconds):',
  ];
  for (const s of main) {
    out.push(`  ${s.label}`, `    hibernate: ${phases(s.hibernatePhases)}`, `    resume:    ${phases(s.resumePhases)}`);
    if (s.swappedOutBytes > 0) out.push(`    swapped out before the snapshot: ${mib(s.swappedOutBytes)}`);
  }

  if (report.limits && 'raw' in report.limits) {
    const { limits } = report;
    out.push('', 'raw device, same VM (O_DIRECT, 1 MiB requests, sequential; median of the repetitions):');
    out.push(...columns([['bytes', 'write', 'read'], ...limits.raw.map((r) => [mib(r.bytes), seconds(r.writeMs), seconds(r.readMs)])]).map((l) => `  ${l}`));
    out.push('', 'write and load phases against the raw device for the same bytes:');
    out.push(
      ...columns([
        ['contender', 'write', 'raw write', 'ratio', 'load', 'raw read', 'ratio'],
        ...main
          .filter((s) => s.vsRaw)
          .map((s) => [s.label, seconds(s.writeMs), seconds(s.vsRaw!.rawWriteMs), times(s.vsRaw!.write), seconds(s.loadMs), seconds(s.vsRaw!.rawReadMs), times(s.vsRaw!.load)]),
      ]).map((l) => `  ${l}`),
    );
    const c = limits.codec;
    out.push(
      '',
      `codecs in the guest (${c.codec}, benchmark text, 128 KiB chunks): LZ4 compress ${c.compressMiBs.toFixed(0)} MiB/s (ratio ${c.ratio.toFixed(2)}), ` +
        `decompress ${c.decompressMiBs.toFixed(0)} MiB/s, CRC32C ${c.crc32cMiBs.toFixed(0)} MiB/s; SNAPSHOT_ALLOC_SWAP_PAGE ${limits.allocSwapPageUs.toFixed(1)} µs per page`,
      `start-up in the guest, node warm: node -e 0 ${seconds(limits.startup.nodeMs)}, hiberkit --help ${seconds(limits.startup.cliMs)}`,
    );
  } else if (report.limits) {
    out.push('', `raw device and codec limits: not measured (${report.limits.error})`);
  }

  const more = report.summaries.filter((s) => s.cpus !== mainCpus);
  if (more.length > 0) {
    out.push('', 'write-phase throughput (uncompressed MiB/s) by vCPU count:');
    const ids = [...new Set(more.map((s) => s.contender))];
    const rows = ids.map((id) => {
      const of = (cpus: number) => report.summaries.find((s) => s.contender === id && s.cpus === cpus);
      return [of(mainCpus)?.label ?? id, ...report.cpus.map((cpus) => (of(cpus) ? of(cpus)!.writeMiBs.toFixed(0) : '-'))];
    });
    out.push(...columns([['contender', ...report.cpus.map((n) => `${n} vCPU`)], ...rows]).map((l) => `  ${l}`));
  }

  out.push(...targetLines(report.targets));

  const e = report.emulator;
  out.push(
    '',
    'error' in e
      ? `emulator pipeline: FAILED (${e.error})`
      : `emulator pipeline on the host (${e.memoryMiB} MiB machine, lz4): ${mib(e.streamBytes)} stream → ${mib(e.storedBytes)}, ` +
          `hibernate ${seconds(e.hibernateMs)}, resume ${seconds(e.resumeMs)}: ${e.mibPerSecond.toFixed(0)} MiB/s through both`,
  );

  const noted = report.cycles.filter((c) => c.notes.length > 0);
  if (noted.length > 0) {
    out.push('', 'notes:');
    for (const c of noted) out.push(`  ${c.contender}, ${c.cpus} vCPU, run ${c.run}: ${c.notes.join('; ')}`);
  }

  if (report.failures.length > 0) {
    out.push('', 'failed runs:');
    for (const f of report.failures) out.push(`  ${f.contender}, ${f.cpus} vCPU, run ${f.run}: ${f.error}`);
  }
  return `${out.join('\n')}\n`;
}

/** The real-system cycle's table (bench/debian.ts). */
export function formatDebianReport(report: DebianReport): string {
  const out: string[] = [
    `real system: ${report.system}, kernel ${report.kernelRelease}, 1 vCPU, 1024 MB RAM, swap file on the root ext4; medians of ${report.runs} run(s), interleaved`,
    '',
  ];
  const row = (s: SystemSummary): string[] => {
    const ratio = (pick: 'hibernate' | 'resume') => (s.method === 'kernel' ? times(1) : report.vsKernel ? times(report.vsKernel[pick]) : '-');
    return [s.method === 'kernel' ? "kernel's own (resume= on the command line)" : 'hiberkit (hiberkit setup)', seconds(s.hibernateMs), ratio('hibernate'), seconds(s.resumeMs), ratio('resume'), String(s.runs)];
  };
  out.push(...columns([['method', 'hibernate', 'vs kernel', 'resume', 'vs kernel', 'runs'], ...report.summaries.map(row)]));
  out.push('', 'hibernate = systemctl hibernate → powered off; resume = power-on → the workload running again (the whole boot included).');
  if (report.initramfs) {
    const { withoutHiberkitBytes: without, withHiberkitBytes: withHiberkit } = report.initramfs;
    out.push(`initramfs (compressed file): ${mib(without)} without hiberkit, ${mib(withHiberkit)} with it (+${((withHiberkit - without) / MIB).toFixed(2)} MiB)`);
  }
  out.push(...targetLines(report.targets));
  if (report.failures.length > 0) {
    out.push('', 'failed:');
    for (const f of report.failures) out.push(`  ${f.method}, ${f.run === 0 ? 'setup' : `run ${f.run}`}: ${f.error}`);
  }
  return `${out.join('\n')}\n`;
}
