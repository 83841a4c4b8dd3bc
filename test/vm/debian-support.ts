/**
 * Host side of the Debian system tests (debian-*.vm.test.ts): booting a copy of a Debian test
 * system (vm/debian/), and judging what the step scripts (vm/guest/debian/steps/) report.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { bootDebian, type DebianBootOptions } from '../../vm/debian/boot.js';
import { type DebianFlavor } from '../../vm/debian/root.js';
import { type DebianSystem, debianSystem } from '../../vm/debian/system.js';
import { CACHE_DIR } from '../../vm/paths.js';
import { describeBoot, type BootResult } from '../../vm/vm.js';
import { copyDisk, expectStateKept, report, reports, type StateReport } from './cycle-support.js';

/**
 * A full systemd boot under TCG takes 60–120 s, and regenerating the initramfs in the guest
 * (setup, setup --undo) 3–4 minutes on a loaded 2-core host.
 */
const BOOT_TIMEOUT_MS = 600_000;
/** For a test of two such boots: vitest's default for the vm project (10 minutes) is one boot's worth. */
export const TWO_BOOT_TEST_TIMEOUT_MS = 1_500_000;
/** Every boot of a cycle must have the same memory. */
const GUEST_MEM_MB = 1024;

/** `debian_facts`: what the running system says about itself. */
export interface FactsReport {
  phase: 'facts';
  systemd: string;
  kernel: string;
  swaps: string;
  /** /sys/power/resume and /sys/power/resume_offset. */
  resume: string;
  canHibernate: string;
}

/** The system image of `flavor`, built or reused, with the time it took on the console. */
export function preparedSystem(flavor: DebianFlavor): DebianSystem {
  const system = debianSystem(flavor);
  console.log(`Debian system ${flavor.name}: ${system.image} ${system.reused ? 'reused' : 'built'} in ${(system.buildMs / 1000).toFixed(1)} s (root ${system.rootReused ? 'reused' : 'built'} in ${(system.rootBuildMs / 1000).toFixed(1)} s); swap file at page ${system.swapFileOffset}`);
  return system;
}

/** A test's own copy of the system's disk, under .cache/vm/disks/. */
export function systemDisk(system: DebianSystem, name: string): string {
  mkdirSync(join(CACHE_DIR, 'disks'), { recursive: true });
  return copyDisk(system.image, name);
}

/** bootDebian with the tests' memory size and timeout; each boot's host time on the console. */
export async function bootSystem(options: DebianBootOptions): Promise<BootResult> {
  const result = await bootDebian({ memMB: GUEST_MEM_MB, timeoutMs: BOOT_TIMEOUT_MS, ...options });
  console.log(`${options.scenario} boot ${options.boot ?? 1}: ${(result.elapsedMs / 1000).toFixed(1)} s`);
  return result;
}

/** The boot ran its step to the end (HK:EXIT 0) and powered off cleanly. */
export function expectCompleted(boot: BootResult): void {
  const context = describeBoot(boot);
  expect(boot.timedOut || boot.panicked, context).toBe(false);
  expect(boot.scenarioExit, context).toBe(0);
  expect(boot.exitCode, context).toBe(0);
}

/**
 * The boot ended in the hibernation of CYCLE: `systemctl hibernate` was called, the `pre` sleep
 * hook ran, the machine powered off, and the step never got past waiting for the resume.
 */
export function expectHibernatedBySystemd(boot: BootResult, cycle: number): void {
  const context = describeBoot(boot);
  expect(boot.timedOut || boot.panicked, context).toBe(false);
  expect(boot.exitCode, context).toBe(0);
  expect(boot.scenarioExit, `the boot must power off inside systemctl hibernate; ${context}`).toBeNull();
  expect(hostTimeOf(boot, `hibernate-${cycle}`), `no hibernate-${cycle} stamp; ${context}`).toBeDefined();
  expect(hostTimeOf(boot, 'sleep-pre-hibernate'), `the pre sleep hook did not run; ${context}`).toBeDefined();
  expect(reports(boot, 'hibernate-returned', cycle), context).toEqual([]);
}

/**
 * In `resumeBoot`, the session of cycle CYCLE came back: `systemctl hibernate` had succeeded,
 * the `post` sleep hook ran, and the state of `before` is intact.
 */
export function expectResumedBySystemd(resumeBoot: BootResult, cycle: number, before: StateReport): void {
  const context = describeBoot(resumeBoot);
  expectCompleted(resumeBoot);
  const returned = report<{ phase: 'hibernate-returned'; status: number; postHook: boolean }>(resumeBoot, 'hibernate-returned', cycle);
  expect(returned.status, `systemctl hibernate exit status; ${context}`).toBe(0);
  expect(returned.postHook, `the post sleep hook; ${context}`).toBe(true);
  expectStateKept(resumeBoot, cycle, before);
}

/** Host milliseconds (since qemu started) of the first `HK:STAMP NAME` line, if any. */
export function hostTimeOf(boot: BootResult, stamp: string): number | undefined {
  const line = boot.lines.find((l) => l.kind === 'STAMP' && l.payload.split(' ')[0] === stamp);
  return line ? boot.lineTimesMs[line.lineNo - 1] : undefined;
}

/** A cycle's figures, on the host's clock: what a user waits for. */
export interface SystemCycleTimes {
  /** qemu start to the step running: a full boot of the system. */
  bootMs: number;
  /** `systemctl hibernate` to qemu's exit (the machine powered off). */
  hibernateMs: number;
  /** qemu start in the resuming boot to the `post` sleep hook: power-on to the workload running again. */
  resumeMs: number;
}

export function systemCycleTimes(hibernateBoot: BootResult, resumeBoot: BootResult, cycle: number): SystemCycleTimes {
  return {
    bootMs: hostTimeOf(hibernateBoot, 'step') ?? NaN,
    hibernateMs: hibernateBoot.elapsedMs - (hostTimeOf(hibernateBoot, `hibernate-${cycle}`) ?? NaN),
    resumeMs: hostTimeOf(resumeBoot, 'sleep-post-hibernate') ?? NaN,
  };
}

export function formatSystemTimes(label: string, t: SystemCycleTimes): string {
  const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  return `${label}: boot to step ${s(t.bootMs)}, systemctl hibernate to power-off ${s(t.hibernateMs)}, power-on to running again ${s(t.resumeMs)}`;
}

/** `debian_initramfs`: the running kernel's initramfs at one point of a step. */
export interface InitramfsReport {
  phase: 'initramfs';
  label: string;
  bytes: number;
  /** How many files named hiberkit-resume it holds. */
  hiberkitResume: number;
}

/** `debian_run`: a command's exit status. */
export interface CommandReport {
  phase: 'command';
  name: string;
  status: number;
}

/** `debian_swap_state`: the signature of the resume area and the active swap. */
export interface SwapReport {
  phase: 'swap';
  name: string;
  signature: string;
  swaps: string;
}

export function initramfsReport(boot: BootResult, label: string): InitramfsReport {
  const found = reports<InitramfsReport>(boot, 'initramfs').filter((r) => r.label === label);
  expect(found.length, `one initramfs report "${label}"; ${describeBoot(boot)}`).toBe(1);
  return found[0]!;
}

export function commandStatus(boot: BootResult, name: string): number | undefined {
  return reports<CommandReport>(boot, 'command').find((r) => r.name === name)?.status;
}

export function swapReport(boot: BootResult, name: string): SwapReport | undefined {
  return reports<SwapReport>(boot, 'swap').find((r) => r.name === name);
}

/** How many lines of systemd-hibernate.service's journal say hiberkit saved the image. */
export function hiberkitSavedLines(boot: BootResult): number {
  return report<{ phase: 'hibernated-by'; hiberkitLines: number }>(boot, 'hibernated-by').hiberkitLines;
}

/** The boots of one setup cycle (steps/setup-cycle.sh, boots 1 and 2). */
export interface SetupCycle {
  hibernated: BootResult;
  resumed: BootResult;
  /** The state before the hibernation. */
  before: StateReport;
}

/**
 * Boots 1 and 2 of steps/setup-cycle.sh on `root` (the swap file the resume area) and judges
 * them: `hiberkit setup --yes` put hiberkit-resume into the initramfs and made logind allow
 * hibernation, `systemctl hibernate` went through hiberkit and powered off, and the next boot's
 * initramfs restored the session before anything mounted the root.
 */
export async function runSetupCycle(system: DebianSystem, options: { scenario: string; root: string; systemd: string }): Promise<SetupCycle> {
  const bootOptions = { scenario: options.scenario, step: 'setup-cycle', root: options.root, cmdline: swapFileArea(system) };
  const hibernated = await bootSystem({ ...bootOptions, boot: 1 });
  expectHibernatedBySystemd(hibernated, 1);
  const [beforeSetup, afterSetup] = reports<FactsReport>(hibernated, 'facts');
  expect(beforeSetup?.systemd, describeBoot(hibernated)).toBe(options.systemd);
  // systemd 257 on a machine not booted through EFI, with no resume=: logind refuses until setup
  // points /sys/power/resume at the area (252 only checks the swap space).
  if (Number(options.systemd) >= 257) expect(beforeSetup?.canHibernate).not.toBe('yes');
  expect(commandStatus(hibernated, 'setup')).toBe(0);
  expect(afterSetup).toMatchObject({ canHibernate: 'yes', resume: `254:0 ${system.swapFileOffset}` });
  const initramfsBefore = initramfsReport(hibernated, 'before-setup');
  const initramfsAfter = initramfsReport(hibernated, 'after-setup');
  expect(initramfsBefore.hiberkitResume).toBe(0);
  expect(initramfsAfter.hiberkitResume).toBe(1);
  console.log(`${options.scenario}: initramfs (compressed file) ${initramfsBefore.bytes} bytes as built by the root's generator, ${initramfsAfter.bytes} after setup`);
  const before = report<StateReport>(hibernated, 'before', 1);

  const resumed = await bootSystem({ ...bootOptions, boot: 2 });
  expect(resumed.log).toMatch(/hiberkit-resume: image found on /);
  expectResumedBySystemd(resumed, 1, before);
  expect(hiberkitSavedLines(resumed), 'systemd-hibernate.service ran hiberkit').toBeGreaterThan(0);
  expect(swapReport(resumed, 'after-resume')).toMatchObject({ signature: 'SWAPSPACE2', swaps: '/swapfile' });
  console.log(formatSystemTimes(`${options.scenario}: hiberkit cycle`, systemCycleTimes(hibernated, resumed, 1)));
  return { hibernated, resumed, before };
}

/** The kernel words of setup-cycle.sh's resume area: the swap file, whose signature is at its first page on /dev/vda. */
export function swapFileArea(system: DebianSystem): string[] {
  return ['hk.area=/dev/vda', `hk.area_page=${system.swapFileOffset}`];
}
