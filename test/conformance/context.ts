/**
 * What a conformance run knows about the machine it runs on. The same cases run against the
 * emulator (test/conformance.emulator.test.ts) and, under plain node, against the native backend
 * in a QEMU guest (vm/): everything that differs between machines comes from here, never
 * from the cases.
 *
 * A case lists what it needs; `casesFor(ctx)` keeps the cases this machine can run, so a run
 * never skips anything: a case that does not apply is not part of that run. A runner that wants
 * the unprivileged cases runs the list a second time in a process that dropped root (setuid to
 * 65534) with `root: false`; /dev/snapshot must be openable by that user (chmod 0666), because
 * the kernel checks capabilities in ioctl, not in open (docs/snapshot-device.md §3.1).
 */
import type { Backend } from '../../lib/backend.js';
import type { KernelBehaviour } from '../../emulator/profile.js';

/** A swap area the cases may select with SET_SWAP_AREA and fill with slots (and give back). */
export interface SwapFacts {
  /** As /proc/swaps names it. */
  path: string;
  /** Its block device's number, as SET_SWAP_AREA takes it. */
  dev: number;
  /** Page of the swap header on that device: 0 for a partition. */
  offsetPages: number;
  /** Usable bytes (/proc/swaps Size). */
  sizeBytes: number;
}

export interface ConformanceContext {
  backend: Backend;
  /** An active swap area, or null when the machine has none. */
  swap: SwapFacts | null;
  /** The run has CAP_SYS_ADMIN (root); false for the unprivileged run. */
  root: boolean;
  /** The kernel's resume device is `swap`, a partition: an O_RDONLY open preselects it. */
  resumeSelectsSwap: boolean;
  /** hibernation_available(): false under lockdown, nohibernate, secret memory. */
  hibernationAvailable: boolean;
  /** ACPI S4: POWER_OFF in platform mode would really switch the machine off. */
  platformS4: boolean;
  /** Suspend to RAM works: S2RAM would really suspend the machine. */
  s3: boolean;
  /** Version-dependent behaviour of this kernel (emulator/profile.ts, docs/snapshot-device.md §10). */
  kernel: KernelBehaviour;
  /**
   * open(2) of the device node with O_RDWR, closing it again should it succeed; throws the
   * open error (anything with `code`, e.g. a Node fs error). Absent when the runner cannot.
   */
  openReadWrite?: () => void;
}

/**
 * What a case needs from the machine. Cases that would really switch the machine off, suspend
 * it, or jump into a forged image are only ever run where the kernel is known to refuse.
 */
export type Need =
  | 'root'
  | 'unprivileged'
  | 'available'
  | 'unavailable'
  | 'swap'
  /** No swap area is preselected at open (no resume=, or it is not a partition). */
  | 'no-resume-swap'
  /** The resume device is an active swap partition and gets preselected. */
  | 'resume-swap'
  | 'no-platform-s4'
  | 'no-s3'
  | 'open-read-write'
  /** The 6.6+ image format with zero pages. */
  | 'zero-pages'
  /** No zero pages (before 6.6): bit 63 in metadata is just an invalid PFN. */
  | 'no-zero-pages'
  /** ATOMIC_RESTORE does not drain trailing zero pages itself (before 734eba62cd32). */
  | 'no-drain-on-finalize';

export interface ConformanceCase {
  id: string;
  title: string;
  needs: readonly Need[];
  run(ctx: ConformanceContext): void | Promise<void>;
}

const NEED_MET: Record<Need, (ctx: ConformanceContext) => boolean> = {
  root: (ctx) => ctx.root,
  unprivileged: (ctx) => !ctx.root,
  available: (ctx) => ctx.hibernationAvailable,
  unavailable: (ctx) => !ctx.hibernationAvailable,
  swap: (ctx) => ctx.swap !== null,
  'no-resume-swap': (ctx) => !ctx.resumeSelectsSwap,
  'resume-swap': (ctx) => ctx.resumeSelectsSwap && ctx.swap !== null,
  'no-platform-s4': (ctx) => !ctx.platformS4,
  'no-s3': (ctx) => !ctx.s3,
  'open-read-write': (ctx) => ctx.openReadWrite !== undefined,
  'zero-pages': (ctx) => ctx.kernel.zeroPages,
  'no-zero-pages': (ctx) => !ctx.kernel.zeroPages,
  'no-drain-on-finalize': (ctx) => !ctx.kernel.drainOnFinalize,
};

/** Whether this machine can run `testCase`. */
export function applies(testCase: ConformanceCase, ctx: ConformanceContext): boolean {
  return testCase.needs.every((need) => NEED_MET[need](ctx));
}

/** The cases of `cases` this machine can run, in list order. */
export function casesFor(cases: readonly ConformanceCase[], ctx: ConformanceContext): ConformanceCase[] {
  return cases.filter((c) => applies(c, ctx));
}
