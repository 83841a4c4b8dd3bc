/**
 * Boots a Debian test system (system.ts) the way its boot loader would: the kernel and the
 * initramfs are taken out of the root disk's /boot with debugfs before every boot, so an
 * initramfs the guest regenerated (`hiberkit setup`, `setup --undo`) is the one the next boot
 * runs. The root is /dev/vda; the console is ttyS0. What the guest does is a step script
 * (guest/debian/steps/NAME.sh), handed over with qemu's -fw_cfg and run by the hk-step service
 * once the system is up; it reports with the console protocol of guest/protocol.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { GUEST_DIR } from '../paths.js';
import { runOrThrow } from '../provision.js';
import { type BootOptions, type BootResult, runQemu, type VmDisk } from '../qemu.js';
import { DEBIAN_CACHE_DIR } from './root.js';

export interface DebianBootOptions extends Omit<BootOptions, 'kernel' | 'initrd' | 'script' | 'disks'> {
  /** The root disk, /dev/vda: a copy of a DebianSystem image. */
  root: string;
  /** A step script of guest/debian/steps/ (without .sh). */
  step: string;
  /** More disks: /dev/vdb, … */
  disks?: VmDisk[];
}

/** The shell helpers every step script starts with: the protocol, the cycle state, the Debian helpers. */
const STEP_LIBRARIES = [join(GUEST_DIR, 'lib.sh'), join(GUEST_DIR, 'scenarios', 'cycle-common.sh'), join(GUEST_DIR, 'debian', 'lib.sh')];

/** The step script as the guest runs it: the libraries, the command-line words as HK_*, the step. */
export function stepScript(step: string): string {
  const parts = STEP_LIBRARIES.map((path) => readFileSync(path, 'utf8'));
  parts.push('hk_export_cmdline_words\nhk_stamp step\n');
  parts.push(readFileSync(join(GUEST_DIR, 'debian', 'steps', `${step}.sh`), 'utf8'));
  return parts.join('\n');
}

/** True while the file system's journal still holds updates (a hibernated or crashed system). */
function needsRecovery(image: string): boolean {
  const header = runOrThrow('dumpe2fs', ['-h', image]);
  return /^Filesystem features:.*\bneeds_recovery\b/m.test(header);
}

/** The one kernel release in the image's /boot. */
function kernelRelease(image: string): string {
  const listing = runOrThrow('debugfs', ['-R', 'ls -p /boot', image]);
  const releases = [...listing.matchAll(/\/vmlinuz-([^/]+)\//g)].map((m) => m[1]!);
  if (releases.length !== 1) throw new Error(`Debian boot: expected one kernel in /boot of ${image}, found ${releases.length ? releases.join(', ') : 'none'}`);
  return releases[0]!;
}

export interface BootFiles {
  kernel: string;
  initrd: string;
  release: string;
}

/**
 * The kernel and initramfs in the image's /boot, copied to `dir`. A system that hibernated has
 * its last writes in the ext4 journal, which debugfs does not read: then the files come from a
 * scratch copy whose journal was replayed, and the image itself is left as the kernel left it.
 */
export function extractBootFiles(image: string, dir: string): BootFiles {
  mkdirSync(dir, { recursive: true });
  let source = image;
  let scratch: string | undefined;
  if (needsRecovery(image)) {
    scratch = mkdtempSync(join(DEBIAN_CACHE_DIR, '.replay-'));
    source = join(scratch, 'root.img');
    runOrThrow('cp', ['--sparse=always', image, source]);
    // Exit status 1: the journal was replayed ("errors corrected"); 2 and up: e2fsck failed.
    const replay = spawnSync('e2fsck', ['-E', 'journal_only', '-p', source], { encoding: 'utf8' });
    if (replay.status === null || replay.status > 1) throw new Error(`Debian boot: replaying the journal of a copy of ${image} failed (${replay.status}): ${replay.stdout}${replay.stderr}`);
  }
  try {
    const release = kernelRelease(source);
    const kernel = join(dir, 'vmlinuz');
    const initrd = join(dir, 'initrd.img');
    rmSync(kernel, { force: true });
    rmSync(initrd, { force: true });
    runOrThrow('debugfs', ['-R', `dump /boot/vmlinuz-${release} ${kernel}`, source]);
    runOrThrow('debugfs', ['-R', `dump /boot/initrd.img-${release} ${initrd}`, source]);
    return { kernel, initrd, release };
  } finally {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
}

/** Boots the system on `options.root` once and returns what it printed. */
export async function bootDebian(options: DebianBootOptions): Promise<BootResult> {
  const { root, step, disks = [], cmdline = [], ...rest } = options;
  const files = extractBootFiles(root, join(DEBIAN_CACHE_DIR, 'boot', options.scenario));
  return runQemu({
    ...rest,
    kernel: files.kernel,
    initrd: files.initrd,
    script: stepScript(step),
    disks: [{ path: root }, ...disks],
    cmdline: ['root=/dev/vda', ...cmdline],
  });
}
