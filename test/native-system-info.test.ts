/**
 * The parsers behind NativeSystemInfo on sample texts of /proc and /sys, and the live object
 * on this machine where its answers can be checked against first principles.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { encodeDev } from '../lib/ioctls.js';
import { writeSwapHeader } from '../lib/swap-header.js';
import { requireNative, type NativeBinding } from '../lib/native/binding.js';
import {
  NativeSystemInfo,
  parseChoiceList,
  parseMajorMinor,
  parseProcSwaps,
  parseUevent,
  stackedOnDmCrypt,
  unescapeProcPath,
} from '../lib/native/system-info.js';
import { hibernationDisabledByCommandLine, parseCommandLine } from '../lib/kernel-cmdline.js';

describe('is a block device encrypted below it (dm-crypt)? (issue #10: swap that leaks memory in clear)', () => {
  // A small sysfs: dm-0 is a LUKS mapping of vda2, dm-1 an LVM volume on dm-0, dm-2 an LVM volume on vda3.
  const sysfs: Record<string, string> = { 'dm-0/dm/uuid': 'CRYPT-LUKS2-0123-cryptswap\n', 'dm-1/dm/uuid': 'LVM-abc\n', 'dm-2/dm/uuid': 'LVM-def\n' };
  const slaves: Record<string, string[]> = { 'dm-0/slaves': ['vda2'], 'dm-1/slaves': ['dm-0'], 'dm-2/slaves': ['vda3'] };
  const encrypted = (name: string) => stackedOnDmCrypt(name, (file) => sysfs[file] ?? null, (dir) => slaves[dir] ?? []);

  it('a dm-crypt mapping, or a volume stacked on one, is; a plain partition or a volume on one is not', () => {
    expect(encrypted('dm-0')).toBe(true);
    expect(encrypted('dm-1')).toBe(true);
    expect(encrypted('dm-2')).toBe(false);
    expect(encrypted('vda2')).toBe(false);
  });
});

describe('/proc/swaps', () => {
  const sample = [
    'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority',
    '/dev/vda2                               partition\t2097148\t\t1024\t\t-2',
    '/var/lib/swap\\040space/swapfile         file\t\t1048572\t\t0\t\t10',
    '',
  ].join('\n');

  it('parses partitions and files, sizes in bytes, escaped paths restored', () => {
    expect(parseProcSwaps(sample)).toEqual([
      { path: '/dev/vda2', type: 'partition', sizeBytes: 2097148 * 1024, usedBytes: 1024 * 1024, priority: -2 },
      { path: '/var/lib/swap space/swapfile', type: 'file', sizeBytes: 1048572 * 1024, usedBytes: 0, priority: 10 },
    ]);
  });

  it('has no entries when no swap is active (header only)', () => {
    expect(parseProcSwaps('Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n')).toEqual([]);
  });

  it('undoes every octal escape the kernel writes', () => {
    expect(unescapeProcPath('/a\\040b\\011c\\012d\\134e')).toBe('/a b\tc\nd\\e');
  });
});

describe('sysfs choice lists', () => {
  it('reads /sys/power/disk with the selected mode', () => {
    expect(parseChoiceList('[platform] shutdown reboot suspend test_resume\n')).toEqual({
      options: ['platform', 'shutdown', 'reboot', 'suspend', 'test_resume'],
      selected: 'platform',
    });
    expect(parseChoiceList('[disabled]\n')).toEqual({ options: ['disabled'], selected: 'disabled' });
  });

  it('reads the lockdown level and /sys/power/state', () => {
    expect(parseChoiceList('none [integrity] confidentiality\n').selected).toBe('integrity');
    expect(parseChoiceList('freeze mem disk\n')).toEqual({ options: ['freeze', 'mem', 'disk'], selected: null });
    expect(parseChoiceList('')).toEqual({ options: [], selected: null });
  });
});

describe('device names', () => {
  it('reads uevent files', () => {
    expect(parseUevent('MAJOR=259\nMINOR=3\nDEVNAME=nvme0n1p3\nDEVTYPE=partition\nPARTN=3\nPARTNAME=swap\n')).toEqual({
      MAJOR: '259',
      MINOR: '3',
      DEVNAME: 'nvme0n1p3',
      DEVTYPE: 'partition',
      PARTN: '3',
      PARTNAME: 'swap',
    });
  });

  it('reads MAJ:MIN and nothing else', () => {
    expect(parseMajorMinor('254:0\n')).toEqual({ major: 254, minor: 0 });
    expect(parseMajorMinor('0:0')).toEqual({ major: 0, minor: 0 });
    expect(parseMajorMinor('UUID=1234')).toBeNull();
    expect(parseMajorMinor('254:0:1234')).toBeNull();
  });
});

function readIfPresent(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

describe('NativeSystemInfo on this machine', () => {
  // Loaded here rather than at collection, so the parser tests above run even without the addon.
  let native: NativeBinding;
  let system: NativeSystemInfo;
  let dir: string;
  beforeAll(() => {
    native = requireNative();
    system = new NativeSystemInfo(native);
    dir = mkdtempSync(join(process.cwd(), '.native-sysinfo-test-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reports the running kernel and a machine identity', () => {
    expect(system.kernelRelease()).toBe(release());
    expect(system.machineId().length).toBeGreaterThan(0);
    expect(system.memoryBytes()).toBeGreaterThan(0);
    expect(system.commandLine()).toEqual(parseCommandLine(readFileSync('/proc/cmdline', 'utf8')));
  });

  it('encodes device numbers as the kernel does, and refuses non-block nodes', () => {
    expect(native.statRdev('/dev/null')).toEqual({ major: 1, minor: 3, rdev: encodeDev(1, 3), isBlockDevice: false });
    expect(() => system.deviceNumber('/dev/null')).toThrow(expect.objectContaining({ code: 'NOT_A_BLOCK_DEVICE' }));
  });

  it('reads hibernation support from /dev, /sys/power and the command line', () => {
    const support = system.hibernationSupport();
    const state = readIfPresent('/sys/power/state') ?? '';
    expect(support.snapshotDevice).toBe(existsSync('/dev/snapshot'));
    expect(support.diskState).toBe(state.split(/\s+/).includes('disk'));
    expect(support.disabledOnCommandLine).toBe(hibernationDisabledByCommandLine(system.commandLine()));
    expect(support.diskModes).not.toContain('disabled');
    if (readIfPresent('/sys/power/disk') === null) expect(support.enabled).toBe(false);
    if (readIfPresent('/sys/kernel/security/lockdown') === null) expect(support.lockdown).toBe('none');
    const imageSize = readIfPresent('/sys/power/image_size');
    expect(support.imageSizeBytes).toBe(imageSize === null ? null : Number(imageSize.trim()));
  });

  it('refuses to give an offset for a directory or a file without a swap signature', () => {
    const plain = join(dir, 'plain');
    writeFileSync(plain, Buffer.alloc(64 * 4096, 1));
    expect(() => system.swapFileOffset(plain)).toThrow(expect.objectContaining({ code: 'NOT_A_SWAP_FILE', message: expect.stringMatching(/is not a swap file: no swap signature at byte 4086/) }));
    expect(() => system.swapFileOffset(dir)).toThrow(expect.objectContaining({ code: 'NOT_A_SWAP_FILE', message: expect.stringMatching(/is not a regular file/) }));
  });

  it('places a file on the block device of its filesystem, at the page FIEMAP gives', () => {
    const path = join(dir, 'swapfile');
    // A swap file as mkswap leaves it: its header page, then the pages swap will use.
    writeFileSync(path, Buffer.concat([writeSwapHeader({ sizeBytes: 64 * 4096 }), Buffer.alloc(63 * 4096, 1)]));
    const fsDev = native.statDev(path);
    // Null on an overlay or btrfs filesystem: no single block device behind the file.
    const uevent = readIfPresent(`/sys/dev/block/${fsDev.major}:${fsDev.minor}/uevent`);
    if (uevent === null) {
      expect(() => system.swapFileOffset(path)).toThrow(expect.objectContaining({ code: 'NO_BLOCK_DEVICE' }));
      return;
    }
    const location = system.swapFileOffset(path);
    expect(location.blockDevice).toBe(`/dev/${parseUevent(uevent).DEVNAME}`);
    expect(location.offsetPages * 4096).toBe(native.fiemap(path)[0]!.physical);
    expect(system.resolveBlockDevice(`${fsDev.major}:${fsDev.minor}`)).toBe(location.blockDevice);
    expect(system.resolveBlockDevice((fsDev.dev >>> 0).toString(16))).toBe(location.blockDevice);
  });

  it('explains a device specification it cannot read', () => {
    expect(() => system.resolveBlockDevice('swap-partition')).toThrow(expect.objectContaining({ code: 'BAD_DEVICE_SPEC' }));
    expect(() => system.resolveBlockDevice('PARTLABEL=no-such-label-anywhere')).toThrow(expect.objectContaining({ code: 'DEVICE_NOT_FOUND' }));
  });
});
