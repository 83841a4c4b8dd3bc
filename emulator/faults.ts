/**
 * Fault injection: the failures a real machine can produce at the worst moment, on demand, so
 * tests can drive every recovery path of hiberkit. Each hook sits where the real failure would
 * arise; a machine without faults behaves normally. Counters run per boot.
 */

export interface FaultPlan {
  /** A PM notifier vetoes every open of /dev/snapshot with this errno (a bare NOTIFY_BAD is EPERM). */
  notifierVeto?: number;
  /** The Nth write to an emulated block device this boot (1-based) fails with EIO. */
  failBlockWrite?: number;
  /** ALLOC_SWAP_PAGE succeeds this many times this boot, then reports ENOSPC. */
  swapPagesBeforeEnospc?: number;
  /** FREEZE fails with EBUSY, as when a task refuses to freeze. */
  freezeBusy?: boolean;
  /** The next CREATE_IMAGE fails with ENOMEM (once). */
  createImageEnomemOnce?: boolean;
  /**
   * A wakeup event arrives at the last moment of the next CREATE_IMAGE (once): the kernel skips
   * the snapshot yet returns success, storing 0 — as after a restore (spec §2.3).
   */
  wakeupDuringSnapshotOnce?: boolean;
  /** Powering off comes back: POWER_OFF fails with EAGAIN (a wakeup event) and reboot(2) returns. */
  powerOffReturns?: boolean;
  /** fdatasync on emulated block devices fails with EIO. */
  flushFails?: boolean;
}

export class Faults {
  plan: FaultPlan;
  #blockWrites = 0;
  #swapAllocations = 0;

  constructor(plan: FaultPlan = {}) {
    this.plan = { ...plan };
  }

  /** Counts one block write; true when this is the one that must fail. */
  blockWriteFails(): boolean {
    this.#blockWrites++;
    return this.#blockWrites === this.plan.failBlockWrite;
  }

  /** Counts one swap page allocation; true when the swap must look full instead. */
  swapAllocationRefused(): boolean {
    const limit = this.plan.swapPagesBeforeEnospc;
    if (limit !== undefined && this.#swapAllocations >= limit) return true;
    this.#swapAllocations++;
    return false;
  }

  /** True once when CREATE_IMAGE must fail with ENOMEM. */
  takeCreateImageEnomem(): boolean {
    if (!this.plan.createImageEnomemOnce) return false;
    this.plan.createImageEnomemOnce = false;
    return true;
  }

  /** True once when CREATE_IMAGE must skip the snapshot for a wakeup event. */
  takeWakeupDuringSnapshot(): boolean {
    if (!this.plan.wakeupDuringSnapshotOnce) return false;
    this.plan.wakeupDuringSnapshotOnce = false;
    return true;
  }
}
