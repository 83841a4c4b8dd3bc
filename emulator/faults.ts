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
   * the snapshot yet returns success, storing 0 — as after a restore (docs/snapshot-device.md §2.3).
   */
  wakeupDuringSnapshotOnce?: boolean;
  /** Powering off comes back: POWER_OFF fails with EAGAIN (a wakeup event) and reboot(2) returns. */
  powerOffReturns?: boolean;
  /** fdatasync on emulated block devices fails with EIO. */
  flushFails?: boolean;
  /** The Nth fdatasync on an emulated block device this boot (1-based) fails with EIO; the others work. */
  failFlush?: number;
  /**
   * The machine loses power right after the Nth block write this boot (1-based) has completed:
   * the boot ends on the spot, nothing more reaches a disk, and the process that wrote is gone.
   */
  powerLossAfterBlockWrite?: number;
  /**
   * What the power loss does to writes not yet flushed: by default the disk kept them all; with
   * this set its volatile write cache loses every one of them (the worst case a writer must survive).
   */
  powerLossDropsUnflushed?: boolean;
}

export class Faults {
  plan: FaultPlan;
  #blockWrites = 0;
  #flushes = 0;
  #swapAllocations = 0;

  constructor(plan: FaultPlan = {}) {
    this.plan = { ...plan };
  }

  /** Block writes counted this boot, the failed one included: how tests find the Nth write to aim at. */
  get blockWrites(): number {
    return this.#blockWrites;
  }

  /** Counts one block write; true when this is the one that must fail. */
  blockWriteFails(): boolean {
    this.#blockWrites++;
    return this.#blockWrites === this.plan.failBlockWrite;
  }

  /** True when the power goes right after the block write just counted by blockWriteFails(). */
  powerLostAfterThisWrite(): boolean {
    return this.#blockWrites === this.plan.powerLossAfterBlockWrite;
  }

  /** Counts one flush; true when it must fail. */
  flushFails(): boolean {
    this.#flushes++;
    return this.plan.flushFails === true || this.#flushes === this.plan.failFlush;
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
