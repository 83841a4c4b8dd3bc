// Every conformance case against emulated machines: the 6.17 baseline in the kinds of machine the
// cases distinguish (swap partition or file or none, root or not, hibernation available or not,
// ACPI S4/S3 or not), and the other kernel profiles for the version-dependent answers.
import { afterAll, describe, expect, test } from 'vitest';
import { CASES, applies, casesFor } from './conformance/cases.js';
import { emulatedRun, type EmulatedRunOptions } from './conformance/emulator-runner.js';

const RUNS: { name: string; options: EmulatedRunOptions }[] = [
  { name: '6.17, root, resume= swap partition, S4, S3', options: { kernel: '6.17', resumeSelectsSwap: true } },
  { name: '6.17, root, swap file, no resume=, no S4, no S3', options: { kernel: '6.17', swap: 'file', platformS4: false, s3: false } },
  { name: '6.17, root, no swap', options: { kernel: '6.17', swap: 'none' } },
  { name: '6.17, unprivileged', options: { kernel: '6.17', root: false, resumeSelectsSwap: true } },
  { name: '6.17, hibernation locked down', options: { kernel: '6.17', available: false } },
  { name: '6.1, root, swap partition, no S4, no S3', options: { kernel: '6.1', platformS4: false, s3: false } },
  { name: '6.1, unprivileged', options: { kernel: '6.1', root: false } },
  { name: '5.15 without the partial-write fix backport', options: { kernel: { release: '5.15.0-emulated', partialWriteFix: false, zeroPages: false, drainOnFinalize: false, enodataIfNotLoaded: false } } },
  { name: '7.0, root', options: { kernel: '7.0', resumeSelectsSwap: true } },
  { name: '7.1, root', options: { kernel: '7.1' } },
];

describe.each(RUNS)('conformance on the emulator: $name', ({ options }) => {
  const run = emulatedRun(options);
  afterAll(() => run.dispose());

  test.each(casesFor(CASES, run.ctx).map((c) => [c.id, c] as const))('%s', async (_id, testCase) => {
    await testCase.run(run.ctx);
    // Whatever the case did, it left the machine as it found it.
    expect(run.machine.kernel.openDevice).toBeNull();
    expect(run.machine.kernel.freezer.userSpaceFrozen).toBe(false);
    expect(run.machine.violations).toEqual([]);
  });
});

test('every conformance case runs on at least one emulated machine', () => {
  const runs = RUNS.map(({ options }) => emulatedRun(options));
  try {
    const unreached = CASES.filter((c) => !runs.some((r) => applies(c, r.ctx))).map((c) => c.id);
    expect(unreached).toEqual([]);
  } finally {
    for (const r of runs) r.dispose();
  }
});
