/**
 * The global state of the emulated kernel during one boot (docs/snapshot-device.md §1, "Global kernel state the
 * emulator must also model"): image_size, the resume device, the swap areas and the slots handed
 * out from them, the freezer, the transition mutex, and the operations of kernel/power/ that
 * /dev/snapshot calls into (snapshot, restore, platform power-off, suspend to RAM, reboot).
 *
 * Leaving the boot (power-off, reboot, jumping into a restored image) is the machine's business;
 * the kernel calls its hooks for that, and those never return.
 */
import { createHash, randomUUID } from 'node:crypto';
import { ERRNO, HiberkitError } from '../lib/errors.js';
import { PAGE_SIZE } from '../lib/ioctls.js';
import { hibernationDisabledByCommandLine } from '../lib/kernel-cmdline.js';
import type { MachineConfig } from './config.js';
import type { MemoryMap } from './e820.js';
import type { Faults } from './faults.js';
import { Freezer } from './freezer.js';
import { X86_RESTORE_MAGIC, type RestoreRecord, type SnapshotImage } from './image-stream.js';
import type { KernelProfile } from './profile.js';
import { KERNEL_START_PFN, type Ram } from './ram.js';
import type { EmulatedSnapshotDevice } from './snapshot-device.js';
import { takeSnapshot } from './snapshot-memory.js';
import { SwapTable, type ActiveSwap } from './swap.js';

/** Kernel variables that outlive a process: persisted while the boot runs, carried in images. */
export interface KernelVars {
  bootId: string;
  bootNumber: number;
  /** 'early' = still in the initramfs, where resume runs and swap is not switched on yet. */
  phase: 'early' | 'running';
  /** /sys/power/image_size, bytes. */
  imageSize: number;
  /** The resume device (`resume=` or /sys/power/resume) and `resume_offset` (pages). */
  resume: { device: string | null; offsetPages: number };
  swaps: ActiveSwap[];
  /** Identifies the latest image made in this boot: the session that resumes if it is restored. */
  sessionId: string | null;
}

/** How a boot can end from inside the kernel. */
export type BootExit = 'platform' | 'power-off' | 'restart';

interface KernelHooks {
  /** `hibernate_acquire()`: take the single-open slot of /dev/snapshot (shared by every process on the machine). */
  acquireSnapshotDevice(): boolean;
  releaseSnapshotDevice(): void;
  /** Kernel variables changed: persist them. */
  varsChanged(): void;
  /** The machine is switched off (S4, power-off or reboot); never returns. */
  leaveBoot(exit: BootExit): never;
  /** Control passes into a loaded image; never returns. */
  jumpToImage(image: { pfns: readonly number[]; pages: Buffer }): never;
  /** Device number of the block device a kernel device spec names (path, maj:min, UUID=…), 0 for none. */
  deviceNumber(spec: string): number;
}


/** open(2) access modes of /dev/snapshot, including O_RDWR and the "ioctl only" mode 3. */
export type AccessMode = 'read-only' | 'write-only' | 'read-write' | 'ioctl-only';

export class EmulatedKernel {
  readonly config: MachineConfig;
  readonly profile: KernelProfile;
  readonly map: MemoryMap;
  ram: Ram;
  vars: KernelVars;
  swaps: SwapTable;
  readonly freezer: Freezer;
  readonly faults: Faults;
  readonly #hooks: KernelHooks;
  /** Credentials of the calling process: CAP_SYS_ADMIN and CAP_SYS_BOOT in the initial namespace. */
  root: boolean;
  /** The thread the next calls come from (for the same-thread rule, docs/snapshot-device.md §7.3). */
  currentThread = 1;
  /** Who else holds system_transition_mutex right now (another thread's ioctl, a sysfs write), if anyone. */
  transitionMutexHolder: string | null = null;
  syncCount = 0;
  /** Things a real kernel would WARN about or that would corrupt it: the emulator's protocol checker. */
  readonly violations: string[] = [];
  /** The /dev/snapshot file open in this process, if any. */
  openDevice: EmulatedSnapshotDevice | null = null;
  /** False once this boot has ended (powered off, or replaced by a restored image). */
  alive = true;

  constructor(options: { config: MachineConfig; map: MemoryMap; ram: Ram; vars: KernelVars; faults: Faults; root: boolean; hooks: KernelHooks }) {
    this.config = options.config;
    this.profile = options.config.kernel;
    this.map = options.map;
    this.ram = options.ram;
    this.vars = options.vars;
    this.swaps = new SwapTable(options.vars.swaps);
    this.faults = options.faults;
    this.root = options.root;
    this.#hooks = options.hooks;
    this.freezer = new Freezer(options.config.processes, (v) => this.report(v));
  }

  /** Calls on a boot that has ended are a bug of the caller, not a kernel error. */
  assertAlive(): void {
    if (!this.alive) {
      throw new HiberkitError('MACHINE_OFF', 'this boot of the emulated machine has ended (powered off, or replaced by a restored image)');
    }
  }

  report(violation: string): void {
    this.violations.push(violation);
  }

  /**
   * `hibernation_available()`: no nohibernate / hibernate=no…, no lockdown, no secret memory
   * (docs/snapshot-device.md §8.3).
   */
  hibernationAvailable(): boolean {
    return !hibernationDisabledByCommandLine(this.config.cmdline) && this.config.lockdown === 'none' && !this.config.secretMemInUse;
  }

  /** The VFS part of open(2) on the device node: 0, ENOENT, ENODEV or EACCES. */
  nodeAccess(access: AccessMode): number {
    if (this.config.snapshotNode === 'absent') return ERRNO.ENOENT;
    if (this.config.snapshotNode === 'stale') return ERRNO.ENODEV;
    if (this.root) return 0;
    // Mode 3 asks for both read and write permission, like O_RDWR.
    const wants = { 'read-only': 0o4, 'write-only': 0o2, 'read-write': 0o6, 'ioctl-only': 0o6 }[access];
    return (this.config.snapshotNodeMode & wants) === wants ? 0 : ERRNO.EACCES;
  }

  acquireSnapshotDevice(): boolean {
    return this.#hooks.acquireSnapshotDevice();
  }

  releaseSnapshotDevice(): void {
    this.#hooks.releaseSnapshotDevice();
  }

  /** `swap_type_of(swsusp_resume_device, 0)`: what an O_RDONLY open preselects. */
  resumeSwapType(): number {
    const { device } = this.vars.resume;
    return device ? this.swaps.typeOf(this.#hooks.deviceNumber(device), 0) : -1;
  }

  /** sync(2): nothing to write back in the emulator, but callers can see that it happened. */
  sync(): void {
    this.syncCount++;
  }

  setImageSize(bytes: number): void {
    this.vars.imageSize = bytes;
    this.#hooks.varsChanged();
  }

  setResume(device: string | null, offsetPages: number): void {
    this.vars.resume = { device, offsetPages };
    this.#hooks.varsChanged();
  }

  /**
   * `hibernation_snapshot()`: freeze kernel threads, record the new session in the kernel record,
   * shrink memory and copy it. Returns the image, an errno, or null when a wakeup event made the
   * kernel skip the snapshot while still reporting success. On failure kernel threads stay
   * frozen, as after a late failure in the kernel (SNAPSHOT_FREE thaws them).
   */
  snapshot(): SnapshotImage | number | null {
    this.freezer.freezeKernelThreads();
    if (this.faults.takeCreateImageEnomem()) return ERRNO.ENOMEM;
    if (this.faults.takeWakeupDuringSnapshot()) return null;
    const previousSession = this.vars.sessionId;
    this.vars.sessionId = randomUUID();
    // Written before the copy, so the image carries it: a restore tells the machine which session continues.
    this.ram.writeRecord(this.vars);
    const image = takeSnapshot(this.ram, { imageSizeBytes: this.vars.imageSize, zeroPages: this.profile.zeroPages, record: this.restoreRecord() });
    if (typeof image === 'number') this.vars.sessionId = previousSession;
    this.ram.flush();
    return image;
  }

  /**
   * The x86_64 restore record of this kernel build: where `restore_registers` is (a fixed spot in
   * the kernel image at 16 MiB, different per release), the page-table root, the magic, and the
   * e820 checksum of this machine.
   */
  restoreRecord(): RestoreRecord {
    const buildHash = createHash('sha256').update(this.profile.release).digest().readUInt32LE(0);
    const jumpPhys = BigInt(KERNEL_START_PFN * PAGE_SIZE + ((buildHash & 0x3ff) << 12) + 0x2b0);
    return {
      jumpAddress: 0xffff_ffff_8000_0000n + jumpPhys,
      jumpAddressPhys: jumpPhys,
      cr3: BigInt((KERNEL_START_PFN + 0x3f0) * PAGE_SIZE),
      magic: X86_RESTORE_MAGIC,
      e820Checksum: this.map.e820Checksum,
    };
  }

  /** `hibernation_platform_enter()`: ENOSYS without ACPI S4, EAGAIN on a wakeup event; else the machine is off. */
  enterPlatformS4(): number {
    if (!this.config.platformS4) return ERRNO.ENOSYS;
    if (this.faults.plan.powerOffReturns) return ERRNO.EAGAIN;
    return this.#hooks.leaveBoot('platform');
  }

  /** `suspend_devices_and_enter(PM_SUSPEND_MEM)`: ENOSYS without S3; else the machine sleeps and wakes at once. */
  suspendToRam(): number {
    return this.config.s3 ? 0 : ERRNO.ENOSYS;
  }

  /** `hibernation_restore()` after all checks passed: control passes to the image. */
  restore(image: { pfns: readonly number[]; pages: Buffer }): never {
    return this.#hooks.jumpToImage(image);
  }

  /**
   * reboot(2) with LINUX_REBOOT_CMD_POWER_OFF or _RESTART. Returns the errno when it fails
   * (EPERM without CAP_SYS_BOOT); with the powerOffReturns fault it returns 0 without powering
   * off, as broken firmware can.
   */
  reboot(exit: 'power-off' | 'restart'): number {
    if (!this.root) return ERRNO.EPERM;
    if (this.faults.plan.powerOffReturns) return 0;
    return this.#hooks.leaveBoot(exit);
  }
}
