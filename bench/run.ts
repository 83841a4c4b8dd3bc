/**
 * `npm run bench`: boots the test VM for every contender, prints the table of medians, and
 * writes bench/results/latest.json and latest.svg (git keeps the earlier ones). A --short run writes
 * short.json and short.svg under .cache/vm/bench/ instead: a quick check never replaces the
 * committed figures. Then the real-system cycle on the Debian VM (not with --short), into
 * bench/results/debian.json. See bench/README.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_DIR, REPO_ROOT } from '../vm/paths.js';
import { revision, runBenchmark, type BenchReport } from './benchmark.js';
import { renderChart } from './chart.js';
import { runDebianBench } from './debian.js';
import { parseBenchOptions, USAGE, UsageError } from './options.js';
import { formatDebianReport, formatReport } from './table.js';

const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
const SHORT_RESULTS_DIR = join(CACHE_DIR, 'bench');

function writeResults(report: BenchReport): string[] {
  const dir = report.short ? SHORT_RESULTS_DIR : RESULTS_DIR;
  mkdirSync(dir, { recursive: true });
  const [mainCpus] = report.cpus;
  const chart = renderChart(
    report.summaries.filter((s) => s.cpus === mainCpus),
    `Hibernate and resume, median seconds by phase (${mainCpus} vCPU, ${report.workload.memMB} MB, ${report.workload.textMiB + report.workload.randomMiB} MiB in tmpfs)`,
  );
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const stem = report.short ? 'short' : 'latest';
  return ([['json', json], ['svg', chart]] as const).map(([extension, content]) => {
    const path = join(dir, `${stem}.${extension}`);
    writeFileSync(path, content);
    return path;
  });
}

async function main(argv: string[]): Promise<number> {
  let options;
  try {
    options = parseBenchOptions(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`bench: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (!options) {
    process.stdout.write(USAGE);
    return 0;
  }
  const started = Date.now();
  const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
  let failed = false;
  if (options.vms.includes('busybox')) {
    const report = await runBenchmark(options, log);
    process.stdout.write(formatReport(report));
    for (const path of writeResults(report)) log(`wrote ${path}`);
    failed ||= report.failures.length > 0;
  }
  if (options.vms.includes('debian')) {
    const debianStarted = new Date().toISOString();
    try {
      const report = await runDebianBench(options.runs, log);
      process.stdout.write(`\n${formatDebianReport(report)}`);
      mkdirSync(RESULTS_DIR, { recursive: true });
      const path = join(RESULTS_DIR, 'debian.json');
      writeFileSync(path, `${JSON.stringify({ startedAt: debianStarted, finishedAt: new Date().toISOString(), revision: revision(), ...report }, null, 2)}\n`);
      log(`wrote ${path}`);
      failed ||= report.failures.length > 0;
    } catch (err) {
      // Building or booting the Debian system failed as a whole (it needs root and mmdebstrap): the busybox figures stand.
      log(`Debian: FAILED: ${(err as Error).message}`);
      failed = true;
    }
  }
  log(`done in ${((Date.now() - started) / 60_000).toFixed(1)} min`);
  return failed ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
