/**
 * The benchmark's arithmetic on made-up consoles (bench/): phases from line arrival times, the
 * cross-checks against the guest's clocks, medians and ratios, the raw-device comparison, the
 * targets, the text table and the SVG chart. The real consoles are exercised by
 * test/vm/bench.vm.test.ts; this pins down what is computed from them.
 */
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { BenchReport } from '../bench/benchmark.js';
import { renderChart } from '../bench/chart.js';
import { contenderById, SHORT_WORKLOAD } from '../bench/contenders.js';
import { initramfsSizes, summarizeSystem, systemCycleFigures } from '../bench/debian.js';
import { cycleFigures, type CycleFigures } from '../bench/figures.js';
import type { VmLimits } from '../bench/limits.js';
import { parseBenchOptions, UsageError } from '../bench/options.js';
import { median } from '../bench/stats.js';
import { compareToRaw, rawByteCounts, summarize, targets } from '../bench/summary.js';
import { formatDebianReport, formatReport } from '../bench/table.js';
import { REPO_ROOT } from '../vm/paths.js';
import { parseLine } from '../vm/guest/protocol.js';
import type { BootResult } from '../vm/qemu.js';

const MIB = 1 << 20;
const TEXT = SHORT_WORKLOAD.textMiB * MIB;
const RANDOM = SHORT_WORKLOAD.randomMiB * MIB;

/** A finished boot whose console printed `lines`, each arriving at the given host millisecond. */
function boot(number: number, lines: [number, string][], endMs: number): BootResult {
  const parsed = lines.map(([, text], i) => parseLine(text, i + 1)).filter((l) => l !== undefined);
  return {
    scenario: 'bench-cycle',
    boot: number,
    log: lines.map(([, text]) => text).join('\n'),
    logPath: join(REPO_ROOT, `.cache/vm/logs/boot${number}.log`),
    lines: parsed,
    lineTimesMs: lines.map(([ms]) => ms),
    exitCode: 0,
    signal: null,
    timedOut: false,
    scenarioExit: number === 1 ? null : 0,
    panicked: false,
    elapsedMs: endMs,
  };
}

function kernelBoots(scale = 1): [BootResult, BootResult] {
  const first = boot(
    1,
    [
      [3000, 'HK:RESULT {"phase":"before","swapUsedKiB":0}'],
      [4000, 'HK:STAMP trigger 6.00'],
      [4150, '[    6.150000] Freezing user space processes'],
      [6000, '[    8.000000] PM: Compressing and saving image data (59391 pages)...'],
      [6000 + 3000 * scale, `[   ${(8 + 3 * scale).toFixed(6)}] PM: Image saving done`],
      [6001 + 3000 * scale, `[   ${(8 + 3 * scale).toFixed(6)}] PM: hibernation: Wrote 237564 kbytes in ${(3 * scale).toFixed(2)} seconds (79.18 MB/s)`],
    ],
    6200 + 3000 * scale,
  );
  const second = boot(
    2,
    [
      [3500, 'HK:STAMP resume-start 3.50'],
      [3600, '[    3.600000] PM: Loading and decompressing image data (59391 pages)...'],
      [6400, '[    6.400000] PM: Image loading done'],
      [6401, '[    6.400500] PM: hibernation: Read 237564 kbytes in 2.80 seconds (84.84 MB/s)'],
      [6800, 'HK:STAMP resumed 20.10'],
      [6900, `HK:RESULT {"phase":"after","swapUsedKiB":2048,"textBytes":${TEXT},"randomBytes":${RANDOM}}`],
    ],
    7500,
  );
  return [first, second];
}

/** A hiberkit cycle; boot 2's resume program prints under its own name (hiberkit-resume, or the Node CLI's hiberkit). */
function hiberkitBoots(resumeProgram: 'hiberkit-resume' | 'hiberkit' = 'hiberkit-resume'): [BootResult, BootResult] {
  const first = boot(
    1,
    [
      [3000, 'HK:RESULT {"phase":"before","swapUsedKiB":0}'],
      [4000, 'HK:STAMP trigger 6.00'],
      [6000, 'hiberkit: swap /dev/vda on /dev/vda (header page 0), power-off: platform'],
      [6050, 'hiberkit: freezing and saving the image'],
      [6100, '[    8.100000] Freezing user space processes'],
      [7600, 'hiberkit: snapshot of 254 MiB taken in 1168 ms'],
      [13800, 'hiberkit: image saved (108 MiB on disk) in 6200 ms, 7400 ms after the freeze; powering off'],
    ],
    13850,
  );
  const second = boot(
    2,
    [
      [3500, 'HK:STAMP resume-start 3.50'],
      [6800, `${resumeProgram}: image found on /dev/vda; loading it`],
      [6810, `${resumeProgram}: image made 2026-01-01T00:00:00.000Z by kernel 6.1.0-56-cloud-amd64`],
      [12300, `${resumeProgram}: loaded and verified 65239 pages (113635495 bytes stored) in 5490 ms`],
      [18000, '[   18.000000] Freezing user space processes'],
      [18050, 'hiberkit: restoring the image'],
      [21300, 'HK:STAMP resumed 39.45'],
      [21400, `HK:RESULT {"phase":"after","swapUsedKiB":0,"textBytes":${TEXT},"randomBytes":${RANDOM}}`],
    ],
    23000,
  );
  return [first, second];
}

function figures(id: string, boots: [BootResult, BootResult], run = 1, cpus = 1, diskBytes = 120 * MIB): CycleFigures {
  return cycleFigures({ contender: contenderById(id), workload: SHORT_WORKLOAD, cpus, run, diskBytes, hostLoad: 1 + run / 10 }, ...boots);
}

describe('one cycle from its consoles', () => {
  test("the kernel's phases come from its PM messages, timed by arrival on the host", () => {
    const f = figures('kernel-lzo', kernelBoots());
    expect(f.hibernatePhases).toEqual([
      { name: 'freeze + snapshot', ms: 2000 },
      { name: 'write', ms: 3000 },
      { name: 'power-off', ms: 200 },
    ]);
    expect(f.hibernateMs).toBe(5200);
    expect(f.resumePhases).toEqual([
      { name: 'check + freeze', ms: 100 },
      { name: 'load', ms: 2800 },
      { name: 'restore + thaw', ms: 400 },
    ]);
    expect([f.writeMs, f.resumeMs, f.loadMs]).toEqual([3000, 3300, 2800]);
    // 59391 pages after the header page.
    expect(f.streamBytes).toBe(59392 * 4096);
    expect(f.reportedStoredBytes).toBeNull();
    expect(f.swappedOutBytes).toBe(2048 * 1024);
    expect(f.checks.find((c) => c.name === 'write, kernel clock')).toMatchObject({ hostMs: 3000, guestMs: 3000 });
    expect(f.checks.find((c) => c.name === 'load, "Read … in S seconds"')).toMatchObject({ hostMs: 2800, guestMs: 2800 });
    expect(f.checks.find((c) => c.name === 'trigger → freeze, guest clock')).toMatchObject({ hostMs: 150 });
    // Relative to the repository: committed results name no machine's paths.
    expect(f.logs).toEqual(['.cache/vm/logs/boot1.log', '.cache/vm/logs/boot2.log']);
    expect(f.notes).toEqual([]);
  });

  test("hiberkit's phases come from its progress lines; sizes from its image header", () => {
    const f = figures('hiberkit-lz4', hiberkitBoots());
    expect(f.hibernatePhases.map((p) => [p.name, p.ms])).toEqual([
      ['node start-up', 2000],
      ['prepare', 50],
      ['freeze + snapshot', 1550],
      ['write', 6200],
      ['power-off', 50],
    ]);
    expect(f.resumePhases.map((p) => [p.name, p.ms])).toEqual([
      ['start-up', 3300],
      ['load', 5500],
      ['freeze', 5750],
      ['restore + thaw', 3250],
    ]);
    expect([f.writeMs, f.loadMs, f.streamBytes, f.reportedStoredBytes]).toEqual([6200, 5500, 65239 * 4096, 113635495]);
    expect(f.checks.find((c) => c.name === 'write, critical section clock')).toMatchObject({ hostMs: 6200, guestMs: 6200 });
    expect(f.checks.find((c) => c.name === 'resume start → restore freeze, guest clock')).toMatchObject({ hostMs: 14500, guestMs: 14500 });
    expect(f.checks.find((c) => c.name === 'load, resume clock')).toMatchObject({ hostMs: 5500, guestMs: 5490 });
  });

  test("the Node resume's phases come from the same lines under the CLI's name", () => {
    const f = figures('hiberkit-lz4-node', hiberkitBoots('hiberkit'));
    expect(f.resumePhases.map((p) => [p.name, p.ms])).toEqual([
      ['node start-up', 3300],
      ['load', 5500],
      ['freeze', 5750],
      ['restore + thaw', 3250],
    ]);
    expect([f.loadMs, f.streamBytes, f.reportedStoredBytes]).toEqual([5500, 65239 * 4096, 113635495]);
    expect(f.checks.find((c) => c.name === 'load, resume clock')).toMatchObject({ hostMs: 5500, guestMs: 5490 });
  });

  test("a resume program's lines do not stand for the other's", () => {
    expect(() => figures('hiberkit-lz4', hiberkitBoots('hiberkit'))).toThrow(/end of phase "start-up".*hiberkit-resume: image found on/);
    expect(() => figures('hiberkit-lz4-node', hiberkitBoots('hiberkit-resume'))).toThrow(/end of phase "node start-up"/);
  });

  /** Boot 1 of hiberkitBoots() with only its first `count` lines. */
  function cutBoot1(count: number): [BootResult, BootResult] {
    const [first, second] = hiberkitBoots();
    return [boot(1, first.log.split('\n').slice(0, count).map((line, i) => [first.lineTimesMs[i]!, line]), first.elapsedMs), second];
  }

  test('a missing boundary names the pattern and the log', () => {
    expect(() => figures('hiberkit-lz4', cutBoot1(5))).toThrow(/end of phase "freeze \+ snapshot".*\.cache\/vm\/logs\/boot1\.log/);
  });

  test('a lost "image saved" line: the write phase runs to the power-off, and a note says so', () => {
    const f = figures('hiberkit-lz4', cutBoot1(6));
    expect(f.hibernatePhases.slice(-2)).toEqual([
      { name: 'write', ms: 6250 },
      { name: 'power-off', ms: 0 },
    ]);
    expect(f.writeMs).toBe(6250);
    expect(f.notes).toEqual(['"write" is counted up to the end of "power-off": its line was still in the console buffer when the machine powered off']);
    expect(f.checks.map((c) => c.name)).not.toContain('write, critical section clock');
  });

  test('a memory load that did not survive the cycle is an error, not a figure', () => {
    const [first, second] = kernelBoots();
    const lost = boot(2, second.log.split('\n').map((line, i) => [second.lineTimesMs[i]!, line.replace(`"textBytes":${TEXT}`, '"textBytes":0')]), second.elapsedMs);
    expect(() => figures('kernel-lzo', [first, lost])).toThrow(/did not survive/);
  });
});

describe('summaries, raw device, targets', () => {
  const cycles = [
    figures('kernel-lzo', kernelBoots(1), 1),
    figures('kernel-lzo', kernelBoots(2), 2),
    figures('kernel-lzo', kernelBoots(1.5), 3),
    figures('hiberkit-lz4', hiberkitBoots(), 1, 1, 110 * MIB),
    figures('hiberkit-lz4', hiberkitBoots(), 1, 2, 110 * MIB),
  ];
  const limits: VmLimits = {
    raw: [
      { bytes: 118 * MIB, writeMs: 400, readMs: 200 },
      { bytes: 110 * MIB, writeMs: 310, readMs: 275 },
    ],
    codec: { codec: 'native', bytes: 32 * MIB, ratio: 2.3, compressMiBs: 52, decompressMiBs: 153, crc32cMiBs: 128 },
    allocSwapPageUs: 6.2,
    startup: { nodeMs: 700, cliMs: 1900 },
    log: '.cache/vm/logs/limits.log',
  };

  test('medians, ratios to the kernel default, and the byte counts the raw device needs', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    const summaries = summarize(cycles, [{ contender: 'hiberkit-lz4', cpus: 1, run: 2, error: 'boom' }]);
    const kernel = summaries.find((s) => s.contender === 'kernel-lzo')!;
    expect(kernel).toMatchObject({ runs: 3, failures: 0, writeMs: 4500, hibernateMs: 6700, vsBaseline: { hibernate: 1, resume: 1 } });
    // 120 MiB on disk, 2 MiB of it swapped out before the snapshot.
    expect(kernel.imageBytes).toBe(118 * MIB);
    const hiberkit = summaries.find((s) => s.contender === 'hiberkit-lz4' && s.cpus === 1)!;
    expect(hiberkit.failures).toBe(1);
    expect(hiberkit.vsBaseline!.hibernate).toBeCloseTo(9850 / 6700);
    expect(summaries.find((s) => s.cpus === 2)!.vsBaseline).toBeNull();
    expect(rawByteCounts(summaries, 1)).toEqual([118 * MIB, 110 * MIB]);

    const compared = compareToRaw(summaries, limits, 1);
    expect(compared.find((s) => s.contender === 'kernel-lzo')!.vsRaw).toMatchObject({ bytes: 118 * MIB, write: 4500 / 400, load: 2800 / 200 });
    expect(compared.find((s) => s.cpus === 2)!.vsRaw).toBeNull();

    const found = targets(compared, 1);
    expect(found.map((t) => [t.name, t.met])).toEqual([
      ['hiberkit-lz4: hibernate / kernel default', false],
      ['hiberkit-lz4: resume / kernel default', false],
      ['hiberkit-lz4: write phase / raw device write', false],
      ['hiberkit-lz4: load phase / raw device read', false],
      ['hiberkit-lz4: compression throughput, 2 vCPUs / 1', false],
    ]);
    expect(found.at(-1)!.value).toBe(1);
  });

  test('the targets judge the native resume program, not the Node resume kept for comparison', () => {
    const withNode = summarize([...cycles, figures('hiberkit-lz4-node', hiberkitBoots('hiberkit'), 1, 1, 110 * MIB)], []);
    expect(withNode.find((s) => s.contender === 'hiberkit-lz4-node')!.vsBaseline).not.toBeNull();
    const names = targets(withNode, 1).map((t) => t.name);
    expect(names).toContain('hiberkit-lz4: resume / kernel default');
    expect(names.filter((n) => n.startsWith('hiberkit-lz4-node'))).toEqual([]);
  });

  test('the table and the chart', () => {
    const summaries = compareToRaw(summarize(cycles, []), limits, 1);
    const report: BenchReport = {
      startedAt: '2026-01-01T00:00:00.000Z',
      finishedAt: '2026-01-01T00:30:00.000Z',
      short: false,
      runs: 3,
      cpus: [1, 2],
      contenders: ['kernel-lzo', 'hiberkit-lz4'],
      workload: SHORT_WORKLOAD,
      host: { cpus: 2, node: 'v20', guestKernel: '6.1.0-56-cloud-amd64', initramfsBytes: 105 * MIB },
      revision: { commit: '059f151abcdef0123', modified: ['native/lz4.cc'] },
      cycles,
      failures: [],
      summaries,
      limits,
      emulator: { memoryMiB: 1024, streamBytes: 400 * MIB, storedBytes: 200 * MIB, hibernateMs: 4000, resumeMs: 4000, mibPerSecond: 50 },
      targets: targets(summaries, 1),
    };
    const table = formatReport(report);
    expect(table).toMatch(/kernel, LZO \(default\) +6\.70 s +1\.00x +4\.50 s/);
    expect(table).toContain('measured: commit 059f151abcde plus changes to 1 tracked file(s)');
    expect(table).toContain('host load average (1 min) at the end of each cycle: 1.1 to 1.3');
    expect(table).toContain('hibernate: node start-up 2.00 | prepare 0.05 | freeze + snapshot 1.55 | write 6.20 | power-off 0.05');
    expect(table).toContain('MISSED  hiberkit-lz4: resume / kernel default');
    expect(table).toContain('node -e 0 0.70 s, hiberkit --help 1.90 s');
    expect(table).toMatch(/hiberkit --compress lz4 +\d+ +\d+/);
    expect(table).toContain('emulator pipeline on the host (1024 MiB machine, lz4): 400 MiB stream → 200 MiB');

    const chart = renderChart(summaries.filter((s) => s.cpus === 1), 'title <&>');
    expect(chart.startsWith('<svg')).toBe(true);
    expect(chart).toContain('title &lt;&amp;&gt;');
    // One segment per phase: 3 + 3 for the kernel, 5 + 4 for hiberkit; plus the background and 10 legend boxes (phase names shared by both methods share a colour).
    expect(chart.match(/<rect /g)).toHaveLength(15 + 1 + 10);
    expect(chart).toContain('>--compress lz4</text>');
  });
});

describe('options', () => {
  test('defaults, --short, and refusals', () => {
    expect(parseBenchOptions([])).toMatchObject({ runs: 3, cpus: [1, 2], short: false, emulatorMemoryMiB: 1024 });
    expect(parseBenchOptions(['--short'])).toMatchObject({ runs: 1, cpus: [1], short: true, workload: SHORT_WORKLOAD });
    expect(parseBenchOptions(['--contenders', 'hiberkit-lz4,kernel-lzo', '--runs', '5'])!.contenders.map((c) => c.id)).toEqual(['hiberkit-lz4', 'kernel-lzo']);
    // The Node resume is a comparison, run only when named.
    expect(parseBenchOptions([])!.contenders.map((c) => c.id)).toEqual(['kernel-lzo', 'kernel-nocompress', 'hiberkit-lz4', 'hiberkit-none']);
    expect(parseBenchOptions(['--contenders', 'kernel-lzo,hiberkit-lz4-node'])!.contenders.map((c) => c.resumer)).toEqual(['kernel', 'node']);
    expect(parseBenchOptions(['--help'])).toBeNull();
    expect(() => parseBenchOptions(['--runs', '0'])).toThrow(UsageError);
    expect(() => parseBenchOptions(['--contenders', 'uswsusp'])).toThrow(/no contender "uswsusp"/);
    expect(() => parseBenchOptions(['--bogus'])).toThrow(UsageError);
    // Both VMs by default; the CI size never boots the Debian system.
    expect(parseBenchOptions([])!.vms).toEqual(['busybox', 'debian']);
    expect(parseBenchOptions(['--short'])!.vms).toEqual(['busybox']);
    expect(parseBenchOptions(['--vms', 'debian', '--runs', '1'])).toMatchObject({ vms: ['debian'], runs: 1 });
    expect(() => parseBenchOptions(['--short', '--vms', 'busybox,debian'])).toThrow(/--short runs the busybox VM only/);
    expect(() => parseBenchOptions(['--vms', 'fedora'])).toThrow(/no VM "fedora"/);
  });
});

describe('the real-system cycle on the Debian VM', () => {
  const STATE = '"sha256":"5e1f","holder":"0a1b2c3d 1"';
  /** A cycle of `method` whose `systemctl hibernate` is stamped at 90 s and whose post hook runs `resumeMs` after power-on. */
  function systemBoots(method: 'kernel' | 'hiberkit', resumeMs: number, after = '"sha256":"5e1f","holder":"0a1b2c3d 2"'): [BootResult, BootResult] {
    const first = boot(
      1,
      [
        [80_000, 'HK:STAMP step 79.00'],
        [85_000, `HK:RESULT {"phase":"before","cycle":1,${STATE}}`],
        [90_000, 'HK:STAMP hibernate-1 89.50'],
        [95_000, 'HK:STAMP sleep-pre-hibernate 94.00'],
      ],
      110_000,
    );
    const resumedBy = method === 'kernel' ? '[    2.100000] PM: hibernation: resume from hibernation' : 'hiberkit-resume: image found on /dev/vda; loading it';
    const second = boot(
      2,
      [
        [2_000, resumedBy],
        [resumeMs, 'HK:STAMP sleep-post-hibernate 120.00'],
        [resumeMs + 500, `HK:RESULT {"phase":"after","cycle":1,${after}}`],
      ],
      resumeMs + 5_000,
    );
    return [first, second];
  }

  test('hibernate: systemctl hibernate → power-off; resume: power-on → the post sleep hook', () => {
    const f = systemCycleFigures('hiberkit', 1, ...systemBoots('hiberkit', 30_000));
    expect(f).toMatchObject({ method: 'hiberkit', run: 1, hibernateMs: 20_000, resumeMs: 30_000 });
    expect(f.logs).toEqual(['.cache/vm/logs/boot1.log', '.cache/vm/logs/boot2.log']);
  });

  test('a cycle the other path resumed, or whose workload changed, is an error, not a figure', () => {
    expect(() => systemCycleFigures('hiberkit', 1, ...systemBoots('kernel', 30_000))).toThrow(/not resumed by hiberkit/);
    expect(() => systemCycleFigures('kernel', 1, ...systemBoots('hiberkit', 30_000))).toThrow(/not resumed by kernel/);
    // A fresh process drew another value: the session was not the one that hibernated.
    expect(() => systemCycleFigures('kernel', 1, ...systemBoots('kernel', 30_000, '"sha256":"5e1f","holder":"9f8e7d6c 1"'))).toThrow(/did not survive/);
    expect(() => systemCycleFigures('kernel', 1, ...systemBoots('kernel', 30_000, '"sha256":"0000","holder":"0a1b2c3d 2"'))).toThrow(/did not survive/);
    const [first] = systemBoots('kernel', 30_000);
    const fresh = { ...boot(2, [[70_000, 'HK:ERROR boot 2 started fresh']], 71_000), scenarioExit: 1 };
    expect(() => systemCycleFigures('kernel', 1, first, fresh)).toThrow(/did not resume boot 1's session/);
  });

  test("the setup boot's initramfs sizes, the medians, the ratios and the targets, and their table", () => {
    const setup = {
      ...boot(
        1,
        [
          [80_000, 'HK:RESULT {"phase":"initramfs","label":"without-hiberkit","bytes":16943292,"hiberkitResume":0,"key":0}'],
          [300_000, 'HK:RESULT {"phase":"initramfs","label":"with-hiberkit","bytes":18374193,"hiberkitResume":1,"key":0}'],
        ],
        310_000,
      ),
      scenarioExit: 0,
    };
    const initramfs = initramfsSizes(setup);
    expect(initramfs).toEqual({ withoutHiberkitBytes: 16943292, withHiberkitBytes: 18374193 });
    expect(() => initramfsSizes({ ...setup, scenarioExit: 1 })).toThrow(/hiberkit setup failed/);

    const cycles = [
      systemCycleFigures('kernel', 1, ...systemBoots('kernel', 40_000)),
      systemCycleFigures('hiberkit', 1, ...systemBoots('hiberkit', 30_000)),
      systemCycleFigures('kernel', 2, ...systemBoots('kernel', 50_000)),
      systemCycleFigures('hiberkit', 2, ...systemBoots('hiberkit', 36_000)),
    ];
    const summary = summarizeSystem(cycles);
    expect(summary.summaries).toEqual([
      { method: 'kernel', runs: 2, hibernateMs: 20_000, resumeMs: 45_000 },
      { method: 'hiberkit', runs: 2, hibernateMs: 20_000, resumeMs: 33_000 },
    ]);
    expect(summary.vsKernel).toEqual({ hibernate: 1, resume: 33 / 45 });
    expect(summary.targets.map((t) => [t.name, t.met])).toEqual([
      ["real system: hibernate / kernel's own", false],
      ["real system: resume / kernel's own", true],
    ]);
    expect(summarizeSystem(cycles.filter((c) => c.method === 'kernel'))).toMatchObject({ vsKernel: null, targets: [] });

    const table = formatDebianReport({ system: 'Debian 13 (trixie, initramfs-tools)', kernelRelease: '6.12.117+deb13-cloud-amd64', runs: 2, initramfs, cycles, failures: [], ...summary });
    expect(table).toMatch(/kernel's own \(resume= on the command line\) +20\.00 s +1\.00x +45\.00 s +1\.00x +2/);
    expect(table).toMatch(/hiberkit \(hiberkit setup\) +20\.00 s +1\.00x +33\.00 s +0\.73x +2/);
    expect(table).toContain('initramfs (compressed file): 16 MiB without hiberkit, 18 MiB with it (+1.36 MiB)');
    expect(table).toContain("met     real system: resume / kernel's own: 0.73 (≤ 0.75)");
  });
});
