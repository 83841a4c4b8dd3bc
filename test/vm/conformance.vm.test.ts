/**
 * The /dev/snapshot conformance cases against the real kernel: one VM boot runs them all
 * (scenario `conformance`, guest/conformance-runner.ts), then every case is reported here as
 * its own test. The list of cases is planned on the host from what it knows about the VM, with
 * the same function the guest uses on what it reads off the machine; a case the guest did not
 * report fails, and so does any disagreement about the machine.
 */
import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, test } from 'vitest';
import { behaviourOfRelease } from '../../emulator/profile.js';
import { PAGE_SIZE, encodeDev } from '../../lib/ioctls.js';
import { conformancePhases, type MachineFacts } from '../../vm/guest/conformance-plan.js';
import { ADDON_PATH } from '../../vm/initramfs.js';
import { bootVm, createDisk, describeBoot, payloadsOf, prepareVm, type BootResult, type CaseReport } from '../../vm/vm.js';

const SWAP_DISK_MB = 64;
/** Debian 12's cloud kernel: the kernel behaviour (emulator/profile.ts) the VM must show. */
const VM_KERNEL_SERIES = '6.1';

/** The VM as the host starts it (vm/README.md). The guest reports what it sees, and must agree. */
const VM_FACTS: MachineFacts = {
  // /proc/swaps counts every page of the partition but its header.
  swap: { path: '/dev/vda', dev: encodeDev(254, 0), offsetPages: 0, sizeBytes: SWAP_DISK_MB * 1024 * 1024 - PAGE_SIZE },
  hibernationAvailable: true,
  // QEMU's ACPI offers S4 ("[platform]" in /sys/power/disk) and S3 ("supports S0 S3 S4 S5").
  platformS4: true,
  s3: true,
  kernel: behaviourOfRelease(VM_KERNEL_SERIES),
};
const PHASES = conformancePhases(VM_FACTS);

let run: BootResult | undefined;
let setupError: unknown;

beforeAll(async () => {
  // Kept instead of thrown, so that every case fails with the reason (a failing hook would
  // leave the cases unreported).
  try {
    const vm = prepareVm();
    if (!vm.kernel.release.startsWith(`${VM_KERNEL_SERIES}.`)) {
      throw new Error(`the VM kernel is ${vm.kernel.release}, but VM_FACTS describe ${VM_KERNEL_SERIES}: update them`);
    }
    if (!existsSync(ADDON_PATH)) throw new Error(`${ADDON_PATH} is missing: run \`npm run build\``);
    const swap = createDisk('conformance-swap.img', SWAP_DISK_MB);
    run = await bootVm({ scenario: 'conformance', disks: [{ path: swap }], timeoutMs: 900_000 });
    const reports = payloadsOf<CaseReport>(run.lines, 'CASE');
    console.log(`conformance VM: ${reports.length} case reports in ${run.elapsedMs} ms; ${describeBoot(run)}`);
  } catch (err) {
    setupError = err;
  }
});

function finishedRun(): BootResult {
  if (setupError) throw setupError;
  return run!;
}

/** For a case without a report: what the guest was doing when it stopped. */
function whereTheGuestStopped(result: BootResult): string {
  const started = result.lines.filter((l) => l.kind === 'STAMP' && l.payload.startsWith('case:')).at(-1);
  const reported = new Set(payloadsOf<CaseReport>(result.lines, 'CASE').map((r) => `case:${r.phase}:${r.id}`));
  const malformed = result.lines.filter((l) => l.kind === 'CASE' && l.json === undefined).length;
  const inCase = started && !reported.has(started.payload.split(' ')[0]!) ? `; the guest was in ${started.payload.split(' ')[0]} when it stopped` : '';
  return `${describeBoot(result)}${inCase}${malformed ? `; ${malformed} HK:CASE lines were garbled` : ''}`;
}

for (const phase of PHASES.filter((p) => p.cases.length > 0)) {
  describe(`conformance on the VM kernel, ${phase.name} phase`, () => {
    test.each(phase.cases.map((c) => [c.id, c.title] as const))('%s', (id, title) => {
      const result = finishedRun();
      const report = payloadsOf<CaseReport>(result.lines, 'CASE').find((r) => r.phase === phase.name && r.id === id);
      if (!report) throw new Error(`no result from the guest for ${id} (${title}): ${whereTheGuestStopped(result)}`);
      if (!report.ok) throw new Error(`${title}\n  guest: ${report.error}\n  log: ${result.logPath}`);
    });
  });
}

describe('the conformance run itself', () => {
  test('the guest saw the machine the host planned for', () => {
    const result = finishedRun();
    const [reported] = payloadsOf<{ facts?: MachineFacts }>(result.lines, 'RESULT');
    expect(reported?.facts, describeBoot(result)).toEqual(VM_FACTS);
  });

  test('the guest ran exactly the planned cases, and its runner finished', () => {
    const result = finishedRun();
    const planned = PHASES.flatMap((p) => p.cases.map((c) => `${p.name}:${c.id}`)).sort();
    const ran = payloadsOf<CaseReport>(result.lines, 'CASE').map((r) => `${r.phase}:${r.id}`).sort();
    expect(ran, whereTheGuestStopped(result)).toEqual(planned);
    expect(result.lines.filter((l) => l.kind === 'ERROR').map((l) => l.payload)).toEqual([]);
    const allPassed = payloadsOf<CaseReport>(result.lines, 'CASE').every((r) => r.ok);
    expect(result.scenarioExit, describeBoot(result)).toBe(allPassed ? 0 : 1);
  });
});
