/**
 * Facts about the running system for hibernation: swap areas, the resume device, what the
 * kernel allows. The parsing is done by pure functions (text in, data out) exported for tests;
 * NativeSystemInfo reads /proc, /sys and stat(2) and feeds them.
 */
import { existsSync, readFileSync, readdirSync, realpathSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { freemem, hostname, release, totalmem } from 'node:os';
import { join } from 'node:path';

import type { HibernationSupport, SwapArea, SystemInfo } from '../backend.js';
import { HiberkitError } from '../errors.js';
import { PAGE_SIZE, decodeDev, encodeDev } from '../ioctls.js';
import { classifyResumePage, SIGNATURE_OFFSET } from '../image/format.js';
import { commandLineValue, hibernationDisabledByCommandLine, parseCommandLine, resumeOffsetFromCommandLine } from '../kernel-cmdline.js';
import { swapIdentity } from '../swap-header.js';
import type { NativeBinding } from './binding.js';

// ---------------------------------------------------------------------------------------------
// Pure parsers

/**
 * Whether block device `name` (as in /sys/class/block) is a dm-crypt mapping or stacked on one:
 * dm devices say what they are in dm/uuid (`CRYPT-…` for dm-crypt, `LVM-…` for a logical
 * volume), and name what they sit on in slaves/. A partition is looked at through its disk.
 * `read` and `list` read sysfs relative to /sys/class/block (null, [] when absent).
 */
export function stackedOnDmCrypt(name: string, read: (file: string) => string | null, list: (dir: string) => string[], depth = 0): boolean {
  if (depth > 8) return false;
  if (read(`${name}/dm/uuid`)?.startsWith('CRYPT-')) return true;
  return list(`${name}/slaves`).some((slave) => stackedOnDmCrypt(slave, read, list, depth + 1));
}

/** One line of /proc/swaps, before the device facts are looked up. */
type ProcSwapsEntry = Pick<SwapArea, 'path' | 'type' | 'sizeBytes' | 'usedBytes' | 'priority'>;

/** Undoes the kernel's octal escapes in /proc paths (space → `\040`, tab, newline, backslash). */
export function unescapeProcPath(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** /proc/swaps: a header line, then `Filename Type Size Used Priority` with sizes in KiB. */
export function parseProcSwaps(text: string): ProcSwapsEntry[] {
  const entries: ProcSwapsEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 5) continue;
    const [path, type, size, used, priority] = fields as [string, string, string, string, string];
    entries.push({
      path: unescapeProcPath(path),
      type: type === 'partition' ? 'partition' : 'file',
      sizeBytes: Number(size) * 1024,
      usedBytes: Number(used) * 1024,
      priority: Number(priority),
    });
  }
  return entries;
}

/** A sysfs choice list such as `[platform] shutdown reboot` or `none [integrity] confidentiality`. */
export function parseChoiceList(text: string): { options: string[]; selected: string | null } {
  let selected: string | null = null;
  const options = text
    .trim()
    .split(/\s+/)
    .filter((word) => word !== '')
    .map((word) => {
      const bare = word.replace(/^\[(.*)\]$/, '$1');
      if (bare !== word) selected = bare;
      return bare;
    });
  return { options, selected };
}

/** `KEY=value` lines of a sysfs uevent file. */
export function parseUevent(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) fields[line.slice(0, eq)] = line.slice(eq + 1).trim();
  }
  return fields;
}

/** `MAJ:MIN` (as /sys/power/resume and /sys/dev/block name devices), or null. */
export function parseMajorMinor(text: string): { major: number; minor: number } | null {
  const match = /^\s*(\d+):(\d+)\s*$/.exec(text);
  return match ? { major: Number(match[1]), minor: Number(match[2]) } : null;
}

// ---------------------------------------------------------------------------------------------
// The live system

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null; // absent (no such kernel feature) or unreadable (not root): the caller decides
  }
}

/** A file's decimal byte count, or null for an absent file or anything else. */
function parseByteCount(text: string | null): number | null {
  const trimmed = text?.trim() ?? '';
  return /^\d+$/.test(trimmed) ? Number(trimmed) : null;
}

/** The first page of a file or device, or null when it is shorter; throws when it cannot be read. */
function firstPageOf(path: string): Uint8Array | null {
  const fd = openSync(path, 'r');
  try {
    const page = new Uint8Array(PAGE_SIZE);
    return readSync(fd, page, 0, PAGE_SIZE, 0) === PAGE_SIZE ? page : null;
  } finally {
    closeSync(fd);
  }
}

/** The first page of a device, or null where it cannot be read. */
function readFirstPage(path: string): Uint8Array | null {
  try {
    return firstPageOf(path);
  } catch {
    return null;
  }
}

/**
 * Refuses what `swap-offset` must not give an offset for: a directory, a device (a swap partition
 * needs no offset), or a regular file without a swap signature at the end of its first page
 * (mkswap's, or a hibernation image's mark over it). `firstPage` is that page, or null when the
 * file is shorter than one page.
 */
export function assertSwapFile(path: string, isRegularFile: boolean, firstPage: Uint8Array | null): void {
  if (!isRegularFile) {
    throw new HiberkitError('NOT_A_SWAP_FILE', `${path} is not a regular file; swap-offset is for swap files (a swap partition needs no offset: give it as --resume-device)`);
  }
  if (!firstPage || classifyResumePage(firstPage).kind === 'unknown') {
    throw new HiberkitError('NOT_A_SWAP_FILE', `${path} is not a swap file: no swap signature at byte ${SIGNATURE_OFFSET} of its first page (make one with mkswap, then swapon)`);
  }
}

/**
 * This machine's identity, recorded in its images: /etc/machine-id, else the DMI product UUID,
 * else the host name (native/resume/system_facts.cc MachineId reads the same).
 */
export function thisMachineId(): string {
  const machineId = readText('/etc/machine-id')?.trim();
  if (machineId) return machineId;
  const productUuid = readText('/sys/class/dmi/id/product_uuid')?.trim().toLowerCase();
  if (productUuid) return productUuid;
  return hostname();
}

/** The identifier kinds `resume=` accepts, and the /dev/disk/by-* directory udev keeps for each. */
const BY_LINK_DIRS = { UUID: 'by-uuid', LABEL: 'by-label', PARTUUID: 'by-partuuid', PARTLABEL: 'by-partlabel' } as const;
type IdentifierKind = keyof typeof BY_LINK_DIRS;

export class NativeSystemInfo implements SystemInfo {
  readonly #native: NativeBinding;

  constructor(native: NativeBinding) {
    this.#native = native;
  }

  kernelRelease(): string {
    return release();
  }

  machineId(): string {
    return thisMachineId();
  }

  commandLine(): string[] {
    return parseCommandLine(readText('/proc/cmdline') ?? '');
  }

  swapAreas(): SwapArea[] {
    return parseProcSwaps(readText('/proc/swaps') ?? '').map((entry) => {
      if (entry.type === 'partition') {
        return { ...entry, blockDevice: entry.path, dev: this.deviceNumber(entry.path), offsetPages: 0 };
      }
      const { blockDevice, dev, offsetPages } = this.#swapFileLocation(entry.path);
      return { ...entry, blockDevice, dev, offsetPages };
    });
  }

  /**
   * The kernel's live setting (/sys/power/resume, filled from `resume=` at boot or by an
   * initramfs) wins; otherwise `resume=` itself, which the kernel may not have resolved yet
   * (UUID= and LABEL= are initramfs conventions the kernel does not understand).
   */
  resumeSetting(): { device: string | null; dev: number; offsetPages: number } {
    const words = this.commandLine();
    const sysOffset = readText('/sys/power/resume_offset');
    const offsetPages = sysOffset === null ? resumeOffsetFromCommandLine(words) : Number(sysOffset.trim());
    const live = parseMajorMinor(readText('/sys/power/resume') ?? '');
    if (live && (live.major !== 0 || live.minor !== 0)) {
      return { device: this.#nodeOfDevice(live.major, live.minor), dev: encodeDev(live.major, live.minor), offsetPages };
    }
    const spec = commandLineValue(words, 'resume');
    if (spec === undefined || spec === '') return { device: null, dev: 0, offsetPages: 0 };
    const device = this.resolveBlockDevice(spec);
    return { device, dev: this.deviceNumber(device), offsetPages };
  }

  hibernationSupport(): HibernationSupport {
    const disk = parseChoiceList(readText('/sys/power/disk') ?? '');
    const lockdown = readText('/sys/kernel/security/lockdown');
    return {
      snapshotDevice: existsSync('/dev/snapshot'),
      diskState: parseChoiceList(readText('/sys/power/state') ?? '').options.includes('disk'),
      enabled: disk.options.length > 0 && disk.selected !== 'disabled',
      lockdown: lockdown === null ? 'none' : (parseChoiceList(lockdown).selected ?? 'none'),
      diskModes: disk.options.filter((mode) => mode !== 'disabled'),
      disabledOnCommandLine: hibernationDisabledByCommandLine(this.commandLine()),
      imageSizeBytes: parseByteCount(readText('/sys/power/image_size')),
    };
  }

  isPrivileged(): boolean {
    return this.#native.geteuid() === 0;
  }

  deviceNumber(path: string): number {
    const st = this.#native.statRdev(path);
    if (!st.isBlockDevice) throw new HiberkitError('NOT_A_BLOCK_DEVICE', `${path} is not a block device`);
    return st.rdev;
  }

  /**
   * Accepts what `resume=` accepts: `MAJ:MIN`, a hexadecimal device number, a path, and
   * `UUID=`, `LABEL=`, `PARTUUID=`, `PARTLABEL=`. Identifiers are looked up in /dev/disk/by-*
   * (udev); without udev (an early initramfs) labels of partitions are found in sysfs, and swap
   * UUIDs/labels by reading the swap header of each block device.
   */
  resolveBlockDevice(spec: string): string {
    const majorMinor = parseMajorMinor(spec);
    if (majorMinor) return this.#nodeOfDevice(majorMinor.major, majorMinor.minor);
    if (/^[0-9a-f]+$/i.test(spec)) {
      const { major, minor } = decodeDev(parseInt(spec, 16));
      return this.#nodeOfDevice(major, minor);
    }
    const identifier = /^(UUID|LABEL|PARTUUID|PARTLABEL)=(.+)$/.exec(spec);
    if (identifier) return this.#nodeByIdentifier(identifier[1] as IdentifierKind, identifier[2]!);
    if (spec.startsWith('/')) {
      if (!existsSync(spec)) throw new HiberkitError('DEVICE_NOT_FOUND', `${spec} does not exist`);
      return spec;
    }
    throw new HiberkitError('BAD_DEVICE_SPEC', `cannot read "${spec}" as a device (expected MAJ:MIN, a path, UUID=, LABEL=, PARTUUID= or PARTLABEL=)`);
  }

  swapFileOffset(path: string): { blockDevice: string; offsetPages: number } {
    const isRegularFile = statSync(path).isFile();
    assertSwapFile(path, isRegularFile, isRegularFile ? firstPageOf(path) : null);
    const { blockDevice, offsetPages } = this.#swapFileLocation(path);
    return { blockDevice, offsetPages };
  }

  isEncryptedBlockDevice(path: string): boolean {
    let name: string;
    try {
      name = realpathSync(path).replace(/^\/dev\//, '');
    } catch {
      return false;
    }
    return stackedOnDmCrypt(name, (file) => {
      try {
        return readFileSync(join('/sys/class/block', file), 'utf8');
      } catch {
        return null;
      }
    }, (dir) => {
      try {
        return readdirSync(join('/sys/class/block', dir));
      } catch {
        return [];
      }
    });
  }

  memoryBytes(): number {
    return totalmem();
  }

  memoryInUseBytes(): number {
    const { MemTotal, MemAvailable } = parseMeminfo(readFileSync('/proc/meminfo', 'utf8'));
    return MemTotal !== undefined && MemAvailable !== undefined ? MemTotal - MemAvailable : totalmem() - freemem();
  }

  /** A swap file's block device (that of its filesystem) and the physical page of its first page. */
  #swapFileLocation(path: string): { blockDevice: string; dev: number; offsetPages: number } {
    const fsDev = this.#native.statDev(path);
    const blockDevice = this.#nodeOfDevice(fsDev.major, fsDev.minor);
    const first = this.#native.fiemap(path).find((extent) => extent.logical === 0);
    if (!first) throw new HiberkitError('SWAP_FILE_UNMAPPED', `${path} has no allocated first block (a sparse file cannot hold swap)`);
    if (first.physical % PAGE_SIZE !== 0) {
      throw new HiberkitError('SWAP_FILE_UNALIGNED', `the first block of ${path} is not page aligned on ${blockDevice}`);
    }
    return { blockDevice, dev: fsDev.dev, offsetPages: first.physical / PAGE_SIZE };
  }

  /** /dev/NAME of a block device number, from the kernel's own name in sysfs. */
  #nodeOfDevice(major: number, minor: number): string {
    const uevent = readText(`/sys/dev/block/${major}:${minor}/uevent`);
    const name = uevent === null ? undefined : parseUevent(uevent).DEVNAME;
    if (name === undefined) {
      throw new HiberkitError(
        'NO_BLOCK_DEVICE',
        `device ${major}:${minor} is not a block device this kernel knows (a swap file on btrfs or another filesystem without a single block device needs the resume device given explicitly)`,
      );
    }
    return `/dev/${name}`;
  }

  #nodeByIdentifier(kind: IdentifierKind, value: string): string {
    const link = `/dev/disk/${BY_LINK_DIRS[kind]}/${value}`;
    if (existsSync(link)) return realpathSync(link);
    for (const name of readdirSync('/sys/class/block')) {
      if (kind === 'PARTLABEL' && parseUevent(readText(`/sys/class/block/${name}/uevent`) ?? '').PARTNAME === value) {
        return `/dev/${name}`;
      }
      if (kind === 'UUID' || kind === 'LABEL') {
        const page = readFirstPage(`/dev/${name}`);
        const swap = page && swapIdentity(page);
        if (swap && (kind === 'UUID' ? swap.uuid === value.toLowerCase() : swap.label === value)) return `/dev/${name}`;
      }
    }
    throw new HiberkitError('DEVICE_NOT_FOUND', `no block device has ${kind}=${value}`);
  }
}

/** /proc/meminfo as bytes by field name ("MemTotal:  1012340 kB" → MemTotal: 1036636160). */
function parseMeminfo(text: string): Record<string, number> {
  const fields: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const match = /^(\w+):\s+(\d+)(?:\s+kB)?$/.exec(line.trim());
    if (match) fields[match[1]!] = Number(match[2]) * (line.includes('kB') ? 1024 : 1);
  }
  return fields;
}
