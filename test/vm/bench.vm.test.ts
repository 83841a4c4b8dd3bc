/**
 * `npm run bench -- --short` inside CI: every contender goes through a real hibernate/resume
 * cycle in the VM and yields every figure the report needs, and the limits boot and the emulator
 * yield theirs. Nothing here judges speed (the benchmark is read by people, bench/README.md); it
 * keeps the benchmark from rotting when a log line, the CLI or the VM tooling changes.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { runBenchmark, type BenchReport } from '../../bench/benchmark.js';
import { renderChart } from '../../bench/chart.js';
import { DEFAULT_CONTENDERS } from '../../bench/contenders.js';
import { phaseNames } from '../../bench/figures.js';
import { parseBenchOptions } from '../../bench/options.js';
import { formatReport } from '../../bench/table.js';

/** Two clocks timing one interval may differ by the uptime/printk clock offset (tens of ms) and rounding. */
function agree(hostMs: number, guestMs: number): boolean {
  return Math.abs(hostMs - guestMs) <= Math.max(250, 0.1 * guestMs);
}

describe('the benchmark, CI size', () => {
  let report: BenchReport;

  beforeAll(async () => {
    report = await runBenchmark(parseBenchOptions(['--short'])!, (line) => console.log(`bench: ${line}`));
    console.log(formatReport(report));
  });

  test('every contender completed its cycle', () => {
    expect(report.failures).toEqual([]);
    expect(report.summaries.map((s) => s.contender)).toEqual(DEFAULT_CONTENDERS.map((c) => c.id));
  });

  for (const contender of DEFAULT_CONTENDERS) {
    test(`${contender.id}: every phase and figure is there, and the clocks agree`, () => {
      const cycle = report.cycles.find((c) => c.contender === contender.id);
      expect(cycle, JSON.stringify(report.failures)).toBeDefined();
      const names = phaseNames(contender);
      expect(cycle!.hibernatePhases.map((p) => p.name)).toEqual(names.hibernate);
      expect(cycle!.resumePhases.map((p) => p.name)).toEqual(names.resume);
      for (const phase of [...cycle!.hibernatePhases, ...cycle!.resumePhases]) expect(phase.ms, phase.name).toBeGreaterThanOrEqual(0);
      expect(cycle!.hibernatePhases.reduce((sum, p) => sum + p.ms, 0)).toBe(cycle!.hibernateMs);
      expect(cycle!.resumePhases.reduce((sum, p) => sum + p.ms, 0)).toBe(cycle!.resumeMs);
      expect(cycle!.writeMs).toBeGreaterThan(0);
      expect(cycle!.loadMs).toBeGreaterThan(0);
      expect(cycle!.streamBytes).toBeGreaterThan(0);
      expect(cycle!.diskBytes).toBeGreaterThan(0);
      if (contender.method === 'hiberkit') expect(cycle!.reportedStoredBytes).toBeGreaterThan(0);
      expect(cycle!.checks.length).toBeGreaterThan(1);
      for (const check of cycle!.checks) expect(agree(check.hostMs, check.guestMs), `${check.name}: host ${check.hostMs} ms, guest ${check.guestMs} ms`).toBe(true);
    });
  }

  test('the raw device, codec, swap allocation and start-up limits were measured for every image size', () => {
    expect(report.limits).not.toBeNull();
    expect(report.limits, JSON.stringify(report.limits)).toHaveProperty('raw');
    const limits = report.limits as Exclude<BenchReport['limits'], null | { error: string }>;
    for (const summary of report.summaries) {
      expect(summary.vsRaw, summary.contender).not.toBeNull();
      expect(limits.raw.some((r) => r.bytes === summary.vsRaw!.bytes)).toBe(true);
    }
    for (const raw of limits.raw) {
      expect(raw.writeMs).toBeGreaterThan(0);
      expect(raw.readMs).toBeGreaterThan(0);
    }
    expect(limits.codec.compressMiBs).toBeGreaterThan(0);
    expect(limits.codec.decompressMiBs).toBeGreaterThan(0);
    expect(limits.codec.crc32cMiBs).toBeGreaterThan(0);
    expect(limits.allocSwapPageUs).toBeGreaterThan(0);
    expect(limits.startup.nodeMs).toBeGreaterThan(0);
    expect(limits.startup.cliMs).toBeGreaterThan(0);
  });

  test('the emulator pipeline was measured', () => {
    expect(report.emulator).not.toHaveProperty('error');
    expect(report.emulator).toMatchObject({ memoryMiB: 128 });
    expect((report.emulator as { mibPerSecond: number }).mibPerSecond).toBeGreaterThan(0);
  });

  test('the table and the chart show every contender, and the targets are evaluated', () => {
    const table = formatReport(report);
    const chart = renderChart(report.summaries, 'CI');
    for (const contender of DEFAULT_CONTENDERS) {
      expect(table).toContain(contender.label);
      expect(chart).toContain(contender.label.split(' ').slice(1).join(' '));
    }
    expect(report.targets.map((t) => t.name)).toEqual(
      expect.arrayContaining(['hiberkit-lz4: hibernate / kernel default', 'hiberkit-lz4: resume / kernel default', 'hiberkit-lz4: write phase / raw device write']),
    );
  });
});
