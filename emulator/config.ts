/**
 * What an emulated machine is: its hardware (RAM, disks, ACPI), how it is set up (swap areas,
 * kernel command line, lockdown), the kernel it runs, and what its processes do. Written once
 * to `machine.json` in the state directory; every boot of the machine reads it.
 */
import { createHash } from 'node:crypto';
import { encodeDev } from '../lib/ioctls.js';
import { seabiosE820 } from './e820.js';
import { resolveProfile, type KernelProfile, type ProfileName } from './profile.js';
import type { MemoryUsage } from './ram.js';

const MIB = 1 << 20;
/** virtio-blk's (dynamic) block major, as in the test VM (/dev/vda is 254:0). */
const VIRTIO_BLK_MAJOR = 254;
/** Each virtio disk gets 16 minors (the disk and its partitions). */
const MINORS_PER_DISK = 16;

export interface DiskConfig {
  /** '/dev/vda', '/dev/vdb', … */
  device: string;
  sizeBytes: number;
}

interface SwapConfigBase {
  sizeBytes: number;
  label?: string;
  /** Written into the header; default derived from the machine seed, so machines are reproducible. */
  uuid?: string;
  /** Swap already holding swapped-out pages when the area is switched on. */
  usedBytes?: number;
  priority?: number;
  /** Switched on at boot, as from /etc/fstab (default true). */
  activate?: boolean;
}

/** A swap partition: a whole emulated disk. */
export interface SwapPartitionConfig extends SwapConfigBase {
  type: 'partition';
  device: string;
}

/** A swap file: a contiguous run of pages inside a disk, so its resume offset means something. */
export interface SwapFileConfig extends SwapConfigBase {
  type: 'file';
  /** Path as /proc/swaps shows it ('/swapfile'). */
  path: string;
  /** The disk holding the file's filesystem. */
  device: string;
  /** Physical page of the file's first page on that disk: its `resume_offset`. */
  offsetPages: number;
}

export type SwapConfig = SwapPartitionConfig | SwapFileConfig;

export interface ProcessConfig {
  pid: number;
  name: string;
  /** Stuck in uninterruptible sleep: FREEZE fails with EBUSY while it exists (docs/snapshot-device.md §7.1). */
  refusesFreeze?: boolean;
}

export interface MachineConfig {
  memoryBytes: number;
  /** Everything random about the machine (page contents, UUIDs, machine id) derives from it. */
  seed: number;
  usage: MemoryUsage;
  kernel: KernelProfile;
  machineId: string;
  cmdline: string[];
  disks: DiskConfig[];
  swaps: SwapConfig[];
  /** ACPI S4: SNAPSHOT_POWER_OFF in platform mode works (else ENOSYS). */
  platformS4: boolean;
  /** ACPI S3: SNAPSHOT_S2RAM works (else ENOSYS). */
  s3: boolean;
  lockdown: 'none' | 'integrity' | 'confidentiality';
  /** A process uses memfd_secret memory: hibernation is unavailable while it does. */
  secretMemInUse: boolean;
  /** 'absent': no /dev/snapshot (ENOENT); 'stale': a node without a driver (ENODEV). */
  snapshotNode: 'present' | 'absent' | 'stale';
  /** Permission bits of /dev/snapshot (root-only 0600 on a normal system). */
  snapshotNodeMode: number;
  /** Whether processes using this machine run as root (each process may say otherwise when it opens the machine). */
  root: boolean;
  processes: ProcessConfig[];
}

export type MachineConfigInput = Partial<Omit<MachineConfig, 'kernel' | 'usage'>> & {
  kernel?: ProfileName | KernelProfile;
  usage?: Partial<MemoryUsage>;
};

/** mkswap refuses a smaller area. */
const MIN_SWAP_PAGES = 10;

const DEFAULT_USAGE: MemoryUsage = { anon: 0.3, cache: 0.3, zero: 0.15 };

const DEFAULT_PROCESSES: ProcessConfig[] = [
  { pid: 1, name: 'init' },
  { pid: 312, name: 'sshd' },
  { pid: 377, name: 'cron' },
];

/** A complete configuration from a partial one; throws on anything inconsistent. */
export function normalizeConfig(input: MachineConfigInput = {}): MachineConfig {
  const seed = input.seed ?? 1;
  const swaps = input.swaps ?? [{ type: 'partition', device: '/dev/vda', sizeBytes: 128 * MIB, label: 'swap' }];
  const partitionDisks = swaps.filter((s) => s.type === 'partition').map((s) => ({ device: s.device, sizeBytes: s.sizeBytes }));
  const disks = [...partitionDisks, ...(input.disks ?? [])];
  const firstPartition = swaps.find((s) => s.type === 'partition');
  const config: MachineConfig = {
    memoryBytes: input.memoryBytes ?? 64 * MIB,
    seed,
    usage: { ...DEFAULT_USAGE, ...input.usage },
    kernel: resolveProfile(input.kernel ?? '6.17'),
    machineId: input.machineId ?? createHash('sha256').update(`hiberkit-emulated-${seed}`).digest('hex').slice(0, 32),
    cmdline: input.cmdline ?? ['console=ttyS0', ...(firstPartition ? [`resume=${firstPartition.device}`] : [])],
    disks,
    swaps: swaps.map((s, i) => ({ ...s, uuid: s.uuid ?? seededUuid(seed, i) })),
    platformS4: input.platformS4 ?? true,
    s3: input.s3 ?? true,
    lockdown: input.lockdown ?? 'none',
    secretMemInUse: input.secretMemInUse ?? false,
    snapshotNode: input.snapshotNode ?? 'present',
    snapshotNodeMode: input.snapshotNodeMode ?? 0o600,
    root: input.root ?? true,
    processes: input.processes ?? DEFAULT_PROCESSES,
  };
  validateConfig(config);
  return config;
}

/** The device number of an emulated disk ('/dev/vdb' → 254:16), in the kernel's encoding. */
export function diskDeviceNumber(device: string): number {
  return encodeDev(VIRTIO_BLK_MAJOR, diskIndex(device) * MINORS_PER_DISK);
}

function diskIndex(device: string): number {
  const match = /^\/dev\/vd([a-z])$/.exec(device);
  if (!match) throw new RangeError(`emulated disks are named /dev/vda … /dev/vdz, not ${JSON.stringify(device)}`);
  return match[1]!.charCodeAt(0) - 'a'.charCodeAt(0);
}

/** Throws a RangeError naming the first thing wrong with a complete configuration (as machine.json holds it). */
export function validateConfig(config: MachineConfig): void {
  if (typeof config !== 'object' || config === null) throw new RangeError('not a machine configuration (an object)');
  for (const field of ['memoryBytes', 'seed'] as const) {
    if (!Number.isSafeInteger(config[field])) throw new RangeError(`${field} must be an integer`);
  }
  for (const field of ['disks', 'swaps', 'cmdline', 'processes'] as const) {
    if (!Array.isArray(config[field])) throw new RangeError(`${field} must be a list`);
  }
  if (typeof config.kernel !== 'object' || config.kernel === null || typeof config.usage !== 'object' || config.usage === null) {
    throw new RangeError('kernel and usage must be objects');
  }
  // The emulated firmware's memory map refuses a size it cannot lay out.
  seabiosE820(config.memoryBytes);
  const devices = new Set<string>();
  for (const disk of config.disks) {
    diskIndex(disk.device);
    if (devices.has(disk.device)) throw new RangeError(`disk ${disk.device} is configured twice`);
    if (disk.sizeBytes % 4096 !== 0 || disk.sizeBytes <= 0) throw new RangeError(`disk ${disk.device}: size must be a positive multiple of 4096`);
    devices.add(disk.device);
  }
  for (const swap of config.swaps) {
    if (swap.sizeBytes % 4096 !== 0 || swap.sizeBytes < MIN_SWAP_PAGES * 4096) {
      throw new RangeError(`swap on ${swap.device}: size must be a multiple of 4096, at least ${MIN_SWAP_PAGES * 4} KiB (mkswap's minimum)`);
    }
    if ((swap.usedBytes ?? 0) % 4096 !== 0 || (swap.usedBytes ?? 0) >= swap.sizeBytes - 4096) {
      throw new RangeError(`swap on ${swap.device}: usedBytes must be a multiple of 4096 and leave free pages`);
    }
    if (swap.type === 'file') {
      const disk = config.disks.find((d) => d.device === swap.device);
      if (!disk) throw new RangeError(`swap file ${swap.path}: disk ${swap.device} is not configured`);
      if ((swap.offsetPages + swap.sizeBytes / 4096) * 4096 > disk.sizeBytes || swap.offsetPages < 1) {
        throw new RangeError(`swap file ${swap.path} does not fit inside ${swap.device} at page ${swap.offsetPages}`);
      }
    }
  }
  for (const field of ['anon', 'cache', 'zero'] as const) {
    const v = config.usage[field];
    if (!(v >= 0 && v <= 1)) throw new RangeError(`usage.${field} must be a fraction in [0, 1]`);
  }
  if (config.usage.anon + config.usage.cache > 0.95) throw new RangeError('usage.anon + usage.cache leave no free memory');
}

function seededUuid(seed: number, index: number): string {
  const hex = createHash('sha256').update(`swap-${seed}-${index}`).digest('hex');
  // Version 4, variant 10xx: what mkswap's libuuid makes.
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
