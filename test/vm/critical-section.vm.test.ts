/**
 * The native critical section under a real kernel (QEMU, Debian cloud kernel):
 *
 * - Kill points: in one boot, the hibernating child kills itself at every point from the freeze
 *   to just before the power-off (and crashes with SIGSEGV and abort at two of them); then a
 *   restore child meets a refused ATOMIC_RESTORE. After each run the guest must be alive: the scenario continues, an unrelated shell loop counts on,
 *   the swap header page is a plain swap signature again, and the swap area cycles off and on.
 *   (A multi-threaded freezer that dies leaves the machine frozen for good, docs/snapshot-device.md
 *   §7.3; these
 *   tests are the proof that the forked child does not.)
 * - A real cycle: boot 1 hibernates and powers off, boot 2 restores, and boot 1's process sees
 *   'resumed' with its tmpfs data intact.
 *
 * Measurements (mlock cost, freeze to power-off, image size) are printed for the report.
 */
import { beforeAll, describe, expect, test } from 'vitest';

import type { CycleReport, KillReport } from '../../vm/guest/scenarios/critical-common.js';
import { KILL_CASES, RESTORE_REFUSED_ID } from '../../vm/guest/scenarios/critical-common.js';
import { bootVm, createDisk, describeBoot, payloadsOf, stampsOf, type BootResult } from '../../vm/vm.js';

const SIGNALS: Record<string, number> = { sigkill: 9, sigsegv: 11, abort: 6 };
/** Large enough for the image of a 1024 MB guest, sparse on the host. */
const SWAP_MB = 768;

describe('critical section: the child dies at each kill point and the machine carries on', () => {
  let boot: BootResult;
  const reports = new Map<string, KillReport>();

  beforeAll(async () => {
    const swap = createDisk('critical-kill-swap.img', SWAP_MB);
    boot = await bootVm({ scenario: 'critical-kill', disks: [{ path: swap }], timeoutMs: 1_200_000 });
    for (const report of payloadsOf<KillReport>(boot.lines, 'RESULT')) {
      if (report.id) reports.set(report.id, report);
    }
  });

  test('the scenario ran every case and ended normally', () => {
    expect(boot.scenarioExit, describeBoot(boot)).toBe(0);
    expect([...reports.keys()]).toEqual([...KILL_CASES.map((c) => c.id), RESTORE_REFUSED_ID]);
  });

  for (const killCase of KILL_CASES) {
    test(`${killCase.id}: died from ${killCase.method} at '${killCase.stage}', thawed, image invalidated, swap usable`, () => {
      const report = reports.get(killCase.id);
      expect(report, describeBoot(boot)).toBeDefined();
      const { native } = report!;
      expect(report!.outcome).toBe('failed');
      expect(native.outcome).toBe('died');
      expect(native.signal).toBe(SIGNALS[killCase.method]);
      expect(native.stage).toBe(killCase.stage);
      expect(report!.error).toContain(`died from signal ${SIGNALS[killCase.method]}`);
      expect(report!.error).toContain('user space was thawed and the image invalidated');
      expect(native.invalidateErrno).toBe(0);
      expect(report!.loopAdvanced).toBe(true);
      expect(report!.resumePage).toBe('swap');
      expect(report!.signature).toBe('SWAPSPACE2');
      expect(report!.swapCycle).toBe(true);
      if (killCase.killAt === 'after-marker' || killCase.killAt === 'before-power-off') {
        // The whole image, marker included, was on disk when the child died: what the parent undid.
        expect(native.stats.storedBytes).toBeGreaterThan(0);
      }
    });
  }

  test('a restore the kernel refuses (no image loaded) fails cleanly: thawed, page intact, swap usable', () => {
    const report = reports.get(RESTORE_REFUSED_ID);
    expect(report, describeBoot(boot)).toBeDefined();
    expect(report!.native).toMatchObject({ outcome: 'failed', stage: 'atomic-restore', errno: 1, syscall: 'ioctl', ioctl: 'SNAPSHOT_ATOMIC_RESTORE', invalidateErrno: 0 });
    expect(report!.outcome).toBe('failed');
    expect(report!.error).toMatch(/^SNAPSHOT_ATOMIC_RESTORE failed on \/dev\/snapshot: EPERM/);
    expect(report!.loopAdvanced).toBe(true);
    expect(report!.signature).toBe('SWAPSPACE2');
    expect(report!.swapCycle).toBe(true);
  });

  test('measurements: locking precisely costs less than mlockall in a fork of a ~100 MB Node process', () => {
    const precise = reports.get('before-power-off')?.native.stats;
    const everything = reports.get('before-power-off-mlockall')?.native.stats;
    expect(precise && everything, describeBoot(boot)).toBeTruthy();
    const line = (name: string, s: NonNullable<typeof precise>): string =>
      `${name}: lock ${s.lockMs.toFixed(1)} ms, resident ${(s.residentKiB / 1024).toFixed(1)} MiB, ` +
      `own pages ${(s.privateDirtyKiB / 1024).toFixed(1)} MiB; snapshot ${s.snapshotMs.toFixed(0)} ms, ` +
      `stream ${(s.streamBytes / 2 ** 20).toFixed(1)} MiB stored as ${(s.storedBytes / 2 ** 20).toFixed(1)} MiB ` +
      `in ${s.writeMs.toFixed(0)} ms; freeze to power-off ${s.freezeToPowerOffMs.toFixed(0)} ms`;
    console.log(`critical section, ${line('precise', precise!)}\ncritical section, ${line('mlockall', everything!)}`);
    // mlockall copies the parent's writable memory into the child (copy-on-write broken by the
    // populating write faults); the precise mode copies only the pages the child writes.
    expect(precise!.privateDirtyKiB).toBeLessThan(everything!.privateDirtyKiB);
    expect(precise!.lockMs).toBeLessThan(everything!.lockMs);
  });
});

describe('critical section: a real hibernate, power-off and restore', () => {
  test(
    'boot 1 powers off hibernated; boot 2 restores it; the process sees resumed with its tmpfs data intact',
    async () => {
      const swap = createDisk('critical-cycle-swap.img', SWAP_MB);
      const options = { scenario: 'critical-cycle', disks: [{ path: swap }], timeoutMs: 600_000 };
      const first = await bootVm({ ...options, boot: 1 });
      expect(first.timedOut || first.panicked, describeBoot(first)).toBe(false);
      expect(first.scenarioExit, `boot 1 must power off while hibernated; ${describeBoot(first)}`).toBeNull();
      const saved = /hiberkit: image saved \((\d+) MiB on disk\) in (\d+) ms, (\d+) ms after the freeze; powering off/.exec(first.log);
      expect(saved, describeBoot(first)).not.toBeNull();
      const snapshot = /hiberkit: snapshot of (\d+) MiB taken in (\d+) ms/.exec(first.log);

      const second = await bootVm({ ...options, boot: 2 });
      expect(second.scenarioExit, describeBoot(second)).toBe(0);
      const before = payloadsOf<CycleReport>(first.lines, 'RESULT').find((r) => r.phase === 'before');
      const after = payloadsOf<CycleReport>(second.lines, 'RESULT').find((r) => r.phase === 'after');
      expect(after, describeBoot(second)).toMatchObject({ outcome: 'resumed', sha256: before?.sha256 });

      const stamps = stampsOf(second.lines);
      console.log(
        `critical cycle: snapshot ${snapshot?.[1]} MiB in ${snapshot?.[2]} ms; image ${saved![1]} MiB on disk written in ${saved![2]} ms; ` +
          `freeze to power-off ${saved![3]} ms; boot 1 ${first.elapsedMs} ms, boot 2 ${second.elapsedMs} ms ` +
          `(resume started at uptime ${stamps.get('resume-start')})`,
      );
    },
    1_500_000,
  );
});
