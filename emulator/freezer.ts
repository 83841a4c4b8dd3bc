/**
 * The process freezer (docs/snapshot-device.md §7): SNAPSHOT_FREEZE freezes every user-space thread except the one
 * calling it (marked PF_SUSPEND_TASK), CREATE_IMAGE additionally freezes kernel threads, and a
 * thaw is expected on the thread that froze. Threads are identified by the number the caller
 * says it runs on (`EmulatedMachine.currentThread`); thawing from another thread is recorded as
 * a protocol violation, and the freezing thread keeps its exemption, as in the kernel.
 */
import { ERRNO } from '../lib/errors.js';
import type { ProcessConfig } from './config.js';

export class Freezer {
  readonly #processes: readonly ProcessConfig[];
  readonly #report: (violation: string) => void;
  userSpaceFrozen = false;
  kernelThreadsFrozen = false;
  /** The thread that froze user space (PF_SUSPEND_TASK), while frozen. */
  freezerThread: number | null = null;
  /** Threads left with PF_SUSPEND_TASK by a thaw from another thread: never frozen again. */
  readonly exemptThreads = new Set<number>();

  constructor(processes: readonly ProcessConfig[], report: (violation: string) => void) {
    this.#processes = processes;
    this.#report = report;
  }

  /** `freeze_processes()` from `thread`: 0, or EBUSY when a task refuses (everything is thawed again). */
  freezeUserSpace(thread: number, forcedBusy: boolean): number {
    const refusing = this.#processes.find((p) => p.refusesFreeze);
    if (refusing || forcedBusy) return ERRNO.EBUSY;
    this.userSpaceFrozen = true;
    this.freezerThread = thread;
    return 0;
  }

  /** `thaw_processes()` from `thread`: thaws user space and kernel threads. */
  thaw(thread: number): void {
    if (this.freezerThread !== null && thread !== this.freezerThread) {
      this.#report(
        `thaw_processes() ran on thread ${thread}, but thread ${this.freezerThread} froze user space: the kernel WARNs and thread ${this.freezerThread} keeps PF_SUSPEND_TASK`,
      );
      this.exemptThreads.add(this.freezerThread);
    }
    this.userSpaceFrozen = false;
    this.kernelThreadsFrozen = false;
    this.freezerThread = null;
  }

  freezeKernelThreads(): void {
    this.kernelThreadsFrozen = true;
  }

  thawKernelThreads(): void {
    this.kernelThreadsFrozen = false;
  }

  /** Processes currently frozen (all of user space but the freezing thread). */
  frozenProcesses(): readonly ProcessConfig[] {
    return this.userSpaceFrozen ? this.#processes : [];
  }
}
