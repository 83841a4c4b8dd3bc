/**
 * `npm run bench`: boots the test VM for every contender, prints the table of medians, and
 * writes bench/results/latest.json and latest.svg (git keeps the earlier ones). A --short run writes
 * short.json and short.svg under .cache/vm/bench/ instead: a quick check never replaces the
 * committed figures. See bench/README.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_DIR, REPO_ROOT } from '../vm/paths.js';
import { runBenchmark, type BenchReport } from './benchmark.js';
import { renderChart } from './chart.js';
import { parseBenchOptions, USAGE, UsageError } from './options.js';
import { formatReport } from './table.js';

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
  const report = await runBenchmark(options, (line) => process.stderr.write(`bench: ${line}\n`));
  process.stdout.write(formatReport(report));
  for (const path of writeResults(report)) process.stderr.write(`bench: wrote ${path}\n`);
  process.stderr.write(`bench: done in ${((Date.now() - started) / 60_000).toFixed(1)} min\n`);
  return report.failures.length > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
