/**
 * What the emulated machine's /proc and /sys would say: kernel release, machine id, command
 * line, /proc/swaps, the resume setting, whether hibernation is offered, and device numbers.
 */
import type { HibernationSupport, SwapArea, SystemInfo } from '../lib/backend.js';
import { HiberkitError } from '../lib/errors.js';
import { PAGE_SIZE } from '../lib/ioctls.js';
import { hibernationDisabledByCommandLine } from '../lib/kernel-cmdline.js';
import type { EmulatedMachine } from './machine.js';

export class EmulatedSystemInfo implements SystemInfo {
  readonly #machine: EmulatedMachine;

  constructor(machine: EmulatedMachine) {
    this.#machine = machine;
  }

  kernelRelease(): string {
    return this.#machine.config.kernel.release;
  }

  machineId(): string {
    return this.#machine.config.machineId;
  }

  commandLine(): string[] {
    return [...this.#machine.config.cmdline];
  }

  /** /proc/swaps. Asking means the boot is past its initramfs: the early phase ends here. */
  swapAreas(): SwapArea[] {
    this.#machine.finishBoot();
    return this.#machine.kernel.swaps.view();
  }

  /** /sys/power/resume and resume_offset; a device spec nothing matches reads as 0:0. */
  resumeSetting(): { device: string | null; dev: number; offsetPages: number } {
    const { device: spec, offsetPages } = this.#machine.kernel.vars.resume;
    const device = spec === null ? null : this.#machine.findBlockDevice(spec);
    if (device === null) return { device: null, dev: 0, offsetPages: 0 };
    return { device, dev: this.deviceNumber(device), offsetPages };
  }

  hibernationSupport(): HibernationSupport {
    const { config, kernel } = this.#machine;
    const available = kernel.hibernationAvailable();
    const diskModes = available ? [...(config.platformS4 ? ['platform'] : []), 'shutdown', 'reboot', ...(config.s3 ? ['suspend'] : []), 'test_resume'] : [];
    return {
      snapshotDevice: config.snapshotNode !== 'absent',
      diskState: available,
      enabled: available,
      lockdown: config.lockdown,
      diskModes,
      disabledOnCommandLine: hibernationDisabledByCommandLine(config.cmdline),
      imageSizeBytes: kernel.vars.imageSize,
    };
  }

  isPrivileged(): boolean {
    return this.#machine.kernel.root;
  }

  deviceNumber(path: string): number {
    const disk = this.#machine.disks.byDevice(path);
    if (!disk) throw new HiberkitError('DEVICE_NOT_FOUND', `${path} is not a block device of this emulated machine`);
    return disk.dev;
  }

  resolveBlockDevice(spec: string): string {
    const device = this.#machine.findBlockDevice(spec);
    if (device === null) throw new HiberkitError('DEVICE_NOT_FOUND', `no block device of this emulated machine matches ${spec}`);
    return device;
  }

  swapFileOffset(path: string): { blockDevice: string; offsetPages: number } {
    const swap = this.#machine.config.swaps.find((s) => s.type === 'file' && s.path === path);
    if (!swap || swap.type !== 'file') throw new HiberkitError('NOT_A_SWAP_FILE', `${path} is not a swap file of this emulated machine`);
    return { blockDevice: swap.device, offsetPages: swap.offsetPages };
  }

  /** Emulated disks are plain files: nothing encrypts what is written to them. */
  isEncryptedBlockDevice(): boolean {
    return false;
  }

  memoryBytes(): number {
    return this.#machine.map.numPhyspages * PAGE_SIZE;
  }

  memoryInUseBytes(): number {
    // Page cache is what the kernel drops to shrink an image; kernel and anonymous pages stay.
    const pages = this.#machine.ram.census();
    return (pages.kernel + pages.anon) * PAGE_SIZE;
  }
}
