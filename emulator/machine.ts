/**
 * An emulated x86_64 machine whose state lives in a directory, so that separate processes can
 * play its parts: one process hibernates it, a later "boot" (the same or another process)
 * restores it, and the hibernating process then continues as if CREATE_IMAGE had returned a
 * second time.
 *
 * Life of a machine:
 *  - created (create.ts, on purpose only): configuration written, disks made, swap areas
 *    mkswap'd; powered off.
 *  - booted (power on): fresh RAM from (seed, boot number). If a hibernation session is pending,
 *    the boot starts in its early phase (the initramfs: swap not switched on, resume possible);
 *    otherwise it goes straight to running, swap switched on.
 *  - early → running (`finishBoot`): swap is switched on as /etc/fstab says, and pending sessions
 *    are lost. It happens explicitly, or implicitly when the boot starts a hibernation (opens
 *    /dev/snapshot for reading) or lists its active swap areas — nothing a resume path does.
 *  - a pending session is lost too when its image is discarded: its swap header page gets the
 *    swap signature back outside a restore (`hiberkit discard`, a resume refusing the image).
 *  - ended: SNAPSHOT_POWER_OFF or reboot(2) switch it off (the latest image's session becomes
 *    "suspended"); a successful ATOMIC_RESTORE replaces the boot with the restored one (the
 *    session becomes "resumed"); a power loss (fault injection) cuts it short between two block
 *    writes. Either way the call does not return: it throws `BootEnded`.
 *
 * Within one process, `openEmulatedMachine` hands out the instance running the current boot;
 * another process attaches to the same running boot from the files.
 */
import { randomUUID } from 'node:crypto';
import { realpathSync } from 'node:fs';
import type { Backend, OpenBlockOptions, SnapshotMode } from '../lib/backend.js';
import { ERRNO, HiberkitError, SnapshotError } from '../lib/errors.js';
import { PAGE_SIZE, encodeDev } from '../lib/ioctls.js';
import { commandLineValue, resumeOffsetFromCommandLine } from '../lib/kernel-cmdline.js';
import { SWAP_SIGNATURE, SWAP_SIGNATURE_OFFSET, parseSwapHeader } from '../lib/swap-header.js';
import { classifyResumePage } from '../lib/image/format.js';
import { machinePaths } from '../lib/machine-paths.js';
import type { MachineConfig, SwapConfig } from './config.js';
import { EmulatedCriticalSection } from './critical-section.js';
import { acquirePidLock } from './hibernation-lock.js';
import { DiskSet, EmulatedBlockDevice, type Disk } from './disks.js';
import { MemoryMap } from './e820.js';
import { Faults, type FaultPlan } from './faults.js';
import { EmulatedKernel, type AccessMode, type BootExit, type KernelVars } from './kernel.js';
import { Ram } from './ram.js';
import { EmulatedSnapshotDevice } from './snapshot-device.js';
import { StateDir, existingStateDir, type SessionRecord } from './state-dir.js';
import { FOREIGN_HIBERNATION_SIGNATURES, SwapTable, type SwapLocation } from './swap.js';
import { EmulatedSystemInfo } from './system-info.js';

export const SNAPSHOT_PATH = '/dev/snapshot';
/** How often a suspended session looks whether a later boot restored it. */
const SESSION_POLL_MS = 20;

export interface OpenMachineOptions {
  /** Whether this process runs as root (default: the machine's `root` setting). */
  root?: boolean;
  faults?: FaultPlan;
}

/** What became of a hibernation session after its machine was switched off. */
export type SessionOutcome = 'resumed' | 'lost';

/** A session waiting in a switched-off machine for a later boot to restore its image. */
export interface SuspendedSession {
  id: string;
  /** Settles when a later boot restores the image ('resumed') or boots past it ('lost'). */
  outcome: Promise<SessionOutcome>;
}

/**
 * Thrown by the calls that never return on a real machine: the machine left this boot.
 * `exit` says how; after a power-off or reboot, `session` is the hibernation session whose
 * image was made in this boot, if any.
 */
export class BootEnded extends Error {
  readonly exit: BootExit | 'restored' | 'power-loss';
  readonly session: SuspendedSession | null;

  constructor(exit: BootExit | 'restored' | 'power-loss', session: SuspendedSession | null) {
    super(
      exit === 'restored'
        ? 'control passed to the restored image: this boot is gone'
        : exit === 'power-loss'
          ? 'the machine lost power: this boot is gone, and every process with it'
          : `the machine was switched off (${exit})`,
    );
    this.name = 'BootEnded';
    this.exit = exit;
    this.session = session;
  }
}

/** The instance running the current boot of each machine directory, in this process. */
const running = new Map<string, EmulatedMachine>();

/**
 * The machine in `dir`, ready to use: the instance this process already runs (`options` then
 * change nothing), else the running boot attached from the files, else a fresh boot. The machine
 * must exist (`createEmulatedMachine`, `hiberkit machine create`): a directory without one is
 * refused (NO_MACHINE), as is a machine whose files are damaged (BAD_MACHINE).
 */
export function openEmulatedMachine(dir: string, options: OpenMachineOptions = {}): EmulatedMachine {
  const current = running.get(machineKey(dir));
  if (current) return current;
  existingStateDir(dir);
  const machine = new EmulatedMachine(new StateDir(machineKey(dir)), options);
  running.set(machine.dir, machine);
  return machine;
}

/** One key per machine however its directory is named ('./vm', '/tmp/vm/', a symlink). */
function machineKey(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return dir;
  }
}

/** Where a swap area's header page is: the partition's first page, or the swap file's first physical page. */
export function swapLocation(disks: DiskSet, swap: SwapConfig): SwapLocation {
  const disk = disks.byDevice(swap.device);
  if (!disk) throw new RangeError(`swap on ${swap.device}: no such disk`);
  return swap.type === 'partition'
    ? { path: swap.device, type: 'partition', device: swap.device, dev: disk.dev, offsetPages: 0, sizeBytes: disk.sizeBytes }
    : { path: swap.path, type: 'file', device: swap.device, dev: disk.dev, offsetPages: swap.offsetPages, sizeBytes: swap.sizeBytes };
}

export class EmulatedMachine {
  readonly state: StateDir;
  readonly config: MachineConfig;
  readonly map: MemoryMap;
  readonly disks: DiskSet;
  readonly faults: Faults;
  readonly kernel: EmulatedKernel;
  readonly backend: Backend;
  /** What the machine printed while booting (swapon refusals and the like). */
  readonly bootLog: string[] = [];
  #status: 'running' | 'off' | 'replaced' = 'running';

  constructor(state: StateDir, options: OpenMachineOptions) {
    this.state = state;
    this.config = state.readConfig();
    this.map = MemoryMap.forMemorySize(this.config.memoryBytes);
    this.disks = new DiskSet(state.disksDir, this.config.disks);
    this.faults = new Faults(options.faults);
    const power = state.readPower();
    const booted = power.state === 'off' ? this.#powerOn(power.bootNumber + 1) : null;
    const vars = power.state === 'running' ? power.vars : booted!.vars;
    this.kernel = new EmulatedKernel({
      config: this.config,
      map: this.map,
      ram: booted?.ram ?? Ram.load(this.map, state.ramFile),
      vars,
      faults: this.faults,
      root: options.root ?? this.config.root,
      hooks: {
        acquireSnapshotDevice: () => state.acquireSnapshotLock(this.kernel.vars.bootId),
        releaseSnapshotDevice: () => state.releaseSnapshotLock(this.kernel.vars.bootId),
        varsChanged: () => this.#persistVars(),
        leaveBoot: (exit) => this.#leaveBoot(exit),
        jumpToImage: (image) => this.#jumpToImage(image),
        deviceNumber: (spec) => this.disks.byDevice(this.findBlockDevice(spec) ?? '')?.dev ?? 0,
      },
    });
    if (power.state === 'off' && vars.phase === 'running') this.#switchOnSwap();
    this.backend = {
      name: 'emulator',
      snapshotPath: SNAPSHOT_PATH,
      openSnapshot: (mode: SnapshotMode) => this.openSnapshot(mode === 'hibernate' ? 'read-only' : 'write-only'),
      openBlockDevice: (path: string, opts?: OpenBlockOptions) => this.openBlockDevice(path, opts),
      system: new EmulatedSystemInfo(this),
      power: { sync: () => this.kernel.sync() },
      criticalSection: new EmulatedCriticalSection(this),
      lockHibernation: (what: string) => acquirePidLock(this.state.dir, what),
      paths: machinePaths(this.state.dir),
    };
  }

  get dir(): string {
    return this.state.dir;
  }

  get ram(): Ram {
    return this.kernel.ram;
  }

  get bootNumber(): number {
    return this.kernel.vars.bootNumber;
  }

  get phase(): 'early' | 'running' {
    return this.kernel.vars.phase;
  }

  /** 'running' while this instance runs the machine's current boot. */
  get status(): 'running' | 'off' | 'replaced' {
    return this.#status;
  }

  /**
   * Resolves once this boot has ended (the machine switched itself off), for a caller that started
   * `hibernating` — a hibernation of this machine — and must play the next boot. Rejects with the
   * hibernation's error if it failed, or returned, while the machine still ran.
   */
  async switchedOff(hibernating: Promise<unknown>): Promise<void> {
    let ended: { error: unknown } | null = null;
    hibernating.then(
      () => (ended = { error: new Error('hibernate returned before the machine was switched off') }),
      (error: unknown) => (ended = { error }),
    );
    while (this.#status === 'running' && !ended) await new Promise((resolve) => setTimeout(resolve, 5));
    if (this.#status === 'running') throw (ended as { error: unknown } | null)?.error;
  }

  /** Protocol violations the emulated kernel noticed (what a real kernel would WARN about, or crash on). */
  get violations(): readonly string[] {
    return this.kernel.violations;
  }

  /** The thread the following calls come from; FREEZE, UNFREEZE and the last close belong on one. */
  get currentThread(): number {
    return this.kernel.currentThread;
  }

  set currentThread(thread: number) {
    this.kernel.currentThread = thread;
  }

  /** open(2) of /dev/snapshot with any access mode, O_RDWR and mode 3 included. */
  openSnapshot(access: AccessMode): EmulatedSnapshotDevice {
    if (access === 'read-only') this.finishBoot();
    return new EmulatedSnapshotDevice(this.kernel, SNAPSHOT_PATH, access);
  }

  openBlockDevice(path: string, options: OpenBlockOptions = {}): EmulatedBlockDevice {
    this.kernel.assertAlive();
    const disk = this.disks.byDevice(path);
    if (!disk) throw new SnapshotError({ code: 'ENOENT', errno: ERRNO.ENOENT, syscall: 'open', path }, 'no such block device on this emulated machine');
    const kernel = this.kernel;
    return new EmulatedBlockDevice(disk, options, {
      assertAlive: () => kernel.assertAlive(),
      writeRefusal: (dev) => (kernel.swaps.isActivePartition(dev) && !kernel.openDevice?.permitsWritesTo(dev) ? ERRNO.ETXTBSY : 0),
      userSpaceFrozen: () => kernel.freezer.userSpaceFrozen,
      blockWriteFails: () => this.faults.blockWriteFails(),
      flushFails: () => this.faults.flushFails(),
      powerFailsAfterWrite: () => this.faults.powerLostAfterThisWrite(),
      writeCacheIsVolatile: () => this.faults.plan.powerLossDropsUnflushed === true,
      losePower: () => this.#losePower(),
      watchWrite: (position, length) => this.#watchForDiscardedImage(disk, position, length),
    });
  }

  /** Leaves the early phase: swapon as /etc/fstab says; pending hibernation sessions are lost. */
  finishBoot(): void {
    this.kernel.assertAlive();
    if (this.kernel.vars.phase === 'running') return;
    this.kernel.vars.phase = 'running';
    this.#switchOnSwap();
    this.state.loseSuspendedSessions('the machine booted past its initramfs without resuming it');
  }

  /** Writes /sys/power/resume and /sys/power/resume_offset. */
  setResume(device: string | null, offsetPages = 0): void {
    this.kernel.assertAlive();
    this.kernel.setResume(device, offsetPages);
  }

  /**
   * Lets someone else hold system_transition_mutex (a second thread inside a long ioctl, a write
   * to /sys/power/state) until the returned function is called: ioctls fail with EBUSY meanwhile.
   */
  holdTransitionMutex(holder: string): () => void {
    if (this.kernel.transitionMutexHolder !== null) throw new Error(`system_transition_mutex is already held by ${this.kernel.transitionMutexHolder}`);
    this.kernel.transitionMutexHolder = holder;
    return () => {
      this.kernel.transitionMutexHolder = null;
    };
  }

  /**
   * A clean shutdown, as `poweroff` does it: processes end (their /dev/snapshot file closes
   * without ceremony), the boot ends. A pending hibernation session stays pending.
   */
  shutdown(): void {
    this.kernel.assertAlive();
    this.kernel.openDevice?.abandon();
    this.#end('off');
    this.state.writePower({ state: 'off', bootNumber: this.kernel.vars.bootNumber });
  }

  sessions(): Record<string, SessionRecord> {
    return this.state.readSessions();
  }

  /**
   * The block device a kernel-style device spec names: a path ('/dev/vda'), 'maj:min', or
   * 'UUID=…' / 'LABEL=…' of a swap area (what blkid would find in its header). Null if none.
   */
  findBlockDevice(spec: string): string | null {
    if (this.disks.byDevice(spec)) return spec;
    const numbers = /^(\d+):(\d+)$/.exec(spec);
    if (numbers) return this.disks.byDev(encodeDev(Number(numbers[1]), Number(numbers[2])))?.device ?? null;
    const tagged = /^(UUID|LABEL)=(.+)$/.exec(spec);
    if (!tagged) return null;
    for (const swap of this.config.swaps) {
      const disk = this.disks.byDevice(swap.device)!;
      const header = parseSwapHeader(this.disks.readPage(disk, swapLocation(this.disks, swap).offsetPages));
      if ((tagged[1] === 'UUID' ? header.uuid : header.label) === tagged[2]) return swap.device;
    }
    return null;
  }

  /**
   * Before a write over the header page of a swap area that holds a hiberkit image: returns what
   * to check after it. If the write put a swap signature back outside a restore (a restore does it
   * with user space frozen, on its way into the image), the image was discarded — by
   * `hiberkit discard`, or by a resume that refused it — and the session waiting for it is lost.
   */
  #watchForDiscardedImage(disk: Disk, position: number, length: number): (() => void) | null {
    if (this.kernel.freezer.userSpaceFrozen) return null;
    const marked = this.config.swaps
      .filter((swap) => swap.device === disk.device)
      .map((swap) => swapLocation(this.disks, swap).offsetPages)
      .filter((page) => page * PAGE_SIZE >= position && page * PAGE_SIZE < position + length)
      .filter((page) => classifyResumePage(this.disks.readPage(disk, page)).kind === 'hiberkit');
    if (marked.length === 0) return null;
    return () => {
      if (marked.some((page) => classifyResumePage(this.disks.readPage(disk, page)).kind === 'swap')) {
        this.state.loseSuspendedSessions('its image was discarded');
      }
    };
  }

  /** Boot `bootNumber`: fresh RAM, kernel variables from the configuration. */
  #powerOn(bootNumber: number): { vars: KernelVars; ram: Ram } {
    const ram = Ram.boot(this.map, { seed: this.config.seed, boot: bootNumber, usage: this.config.usage, file: this.state.ramFile });
    const pending = Object.values(this.state.readSessions()).some((s) => s.state === 'suspended');
    const vars: KernelVars = {
      bootId: randomUUID(),
      bootNumber,
      phase: pending ? 'early' : 'running',
      // The kernel's default image_size: 2/5 of RAM.
      imageSize: Math.floor((this.map.numPhyspages * 2) / 5) * PAGE_SIZE,
      resume: resumeFromCommandLine(this.config.cmdline),
      swaps: [],
      sessionId: null,
    };
    this.state.writePower({ state: 'running', vars });
    return { vars, ram };
  }

  /** swapon of every area /etc/fstab lists, as util-linux does it (docs/snapshot-device.md §6.3 rule 3). */
  #switchOnSwap(): void {
    for (const swap of this.config.swaps) {
      if (swap.activate === false) continue;
      const location = swapLocation(this.disks, swap);
      const disk = this.disks.byDevice(swap.device)!;
      const page = this.disks.readPage(disk, location.offsetPages);
      const header = parseSwapHeader(page);
      const signature = header.signature.replace(/\0+$/, '');
      if (FOREIGN_HIBERNATION_SIGNATURES.includes(signature)) {
        // util-linux rewrites hibernation signatures it knows to SWAPSPACE2, destroying that image.
        page.write(SWAP_SIGNATURE, SWAP_SIGNATURE_OFFSET, 'latin1');
        this.disks.writePage(disk, location.offsetPages, page);
        this.bootLog.push(`swapon ${location.path}: ${signature} signature found; rewritten to ${SWAP_SIGNATURE}`);
        header.signature = SWAP_SIGNATURE;
      }
      const refusal = this.kernel.swaps.activate(location, header, { usedPages: (swap.usedBytes ?? 0) / PAGE_SIZE, priority: swap.priority });
      if (refusal) this.bootLog.push(`swapon ${location.path}: ${refusal}`);
    }
    this.#persistVars();
  }

  #persistVars(): void {
    if (this.#status === 'running') this.state.writePower({ state: 'running', vars: this.kernel.vars });
  }

  /** The machine is switched off: this boot ends; the latest image's session waits to be resumed. */
  #leaveBoot(exit: BootExit): never {
    const { vars } = this.kernel;
    this.#end('off');
    this.state.writePower({ state: 'off', bootNumber: vars.bootNumber });
    let session: SuspendedSession | null = null;
    if (vars.sessionId) {
      this.state.setSession(vars.sessionId, 'suspended', vars.bootNumber);
      session = { id: vars.sessionId, outcome: this.#awaitSession(vars.sessionId) };
    }
    throw new BootEnded(exit, session);
  }

  /**
   * The power is gone (fault injection, between two block writes): the boot ends where it was,
   * with no process left to finish or undo anything, so nobody waits for the session. An image
   * made in this boot may be complete on disk: its session is pending, so the next boot starts in
   * its initramfs, where resume runs.
   */
  #losePower(): never {
    const { vars } = this.kernel;
    this.kernel.openDevice?.abandon();
    this.#end('off');
    this.state.writePower({ state: 'off', bootNumber: vars.bootNumber });
    if (vars.sessionId && !this.state.readSessions()[vars.sessionId]) this.state.setSession(vars.sessionId, 'suspended', vars.bootNumber);
    throw new BootEnded('power-loss', null);
  }

  /**
   * ATOMIC_RESTORE succeeded: RAM becomes the image, and the kernel that made the image runs
   * again — with its variables, from the kernel record the image carried. An image without one
   * (a forged image) would crash a real machine: the emulated one is left switched off.
   */
  #jumpToImage(image: { pfns: readonly number[]; pages: Buffer }): never {
    const ram = this.kernel.ram;
    const bootNumber = this.kernel.vars.bootNumber;
    const saved = new Set(image.pfns);
    const carriesKernel = ram.recordPfns().every((pfn) => saved.has(pfn));
    ram.restorePages(image.pfns, image.pages);
    ram.flush();
    const restored = carriesKernel ? ram.readRecord<KernelVars>() : null;
    this.kernel.openDevice?.abandon();
    this.#end('replaced');
    if (restored?.sessionId) {
      this.state.writePower({ state: 'running', vars: { ...restored, phase: 'running' } });
      this.state.setSession(restored.sessionId, 'resumed', restored.bootNumber);
    } else {
      this.bootLog.push('the restored image holds no kernel this machine can run: it crashed and is switched off');
      this.state.writePower({ state: 'off', bootNumber });
    }
    throw new BootEnded('restored', null);
  }

  #end(status: 'off' | 'replaced'): void {
    this.kernel.alive = false;
    this.#status = status;
    this.state.releaseSnapshotLock(this.kernel.vars.bootId);
    if (running.get(this.dir) === this) running.delete(this.dir);
  }

  /** Polls the session table until a later boot resumes or loses session `id`. */
  #awaitSession(id: string): Promise<SessionOutcome> {
    return new Promise((resolve, reject) => {
      const poll = () => {
        try {
          const state = this.state.readSessions()[id]?.state;
          if (state === 'resumed') {
            this.#continueRestoredWorld();
            resolve('resumed');
          } else if (state === 'lost') {
            this.kernel.openDevice?.abandon();
            resolve('lost');
          } else {
            setTimeout(poll, SESSION_POLL_MS);
          }
        } catch (err) {
          reject(err);
        }
      };
      setTimeout(poll, SESSION_POLL_MS);
    });
  }

  /**
   * This instance's kernel is the one a later boot restored: take the machine back from the files
   * that boot left (RAM and kernel variables as the image had them) and let the open device
   * continue after its CREATE_IMAGE.
   */
  #continueRestoredWorld(): void {
    const power = this.state.readPower();
    if (power.state !== 'running' || power.vars.bootId !== this.kernel.vars.bootId) {
      throw new HiberkitError('EMULATOR_STATE', `${this.dir}: the restored boot is not this machine's; the state directory changed underneath`);
    }
    this.kernel.ram = Ram.load(this.map, this.state.ramFile);
    this.kernel.vars = power.vars;
    this.kernel.swaps = new SwapTable(power.vars.swaps);
    this.kernel.alive = true;
    this.#status = 'running';
    const current = running.get(this.dir);
    if (current && current !== this) current.#end('replaced');
    running.set(this.dir, this);
    if (this.kernel.openDevice) {
      if (!this.state.acquireSnapshotLock(this.kernel.vars.bootId)) {
        throw new HiberkitError('EMULATOR_STATE', `${this.dir}: /dev/snapshot is held by someone else in the restored boot`);
      }
      this.kernel.openDevice.continueAfterRestore();
    }
  }
}

/** `resume=` and `resume_offset=` from the kernel command line (the last of each counts). */
function resumeFromCommandLine(cmdline: readonly string[]): KernelVars['resume'] {
  return { device: commandLineValue(cmdline, 'resume') ?? null, offsetPages: resumeOffsetFromCommandLine(cmdline) };
}
