/**
 * A real Debian root file system for the VM tests, built with mmdebstrap from Debian's own
 * packages: systemd as init, udev, dbus (logind answers `systemctl hibernate` over it), the cloud
 * kernel, an initramfs generator (initramfs-tools, or dracut), Node where the suite has a new
 * enough one. It is configured for the test VM (guest/debian/): a password-less root, no network,
 * `/` on /dev/vda with a swap file in fstab, and the hk-step service that runs the host's step
 * script at boot and reports on the serial console.
 *
 * Built as root with `mmdebstrap --mode=root` into .cache/vm/debian/, named by a hash of its
 * inputs (suite, packages, the guest files, this builder's source) and reused while the hash is
 * unchanged: a trixie root takes about 40 s to build, reuse costs nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_DIR, GUEST_DIR, REPO_ROOT } from '../paths.js';
import { ensureHostPackages, runOrThrow } from '../provision.js';
import { assertNothingMountedUnder, withChroot } from './chroot.js';

export const DEBIAN_CACHE_DIR = join(CACHE_DIR, 'debian');
const DEBIAN_GUEST_DIR = join(GUEST_DIR, 'debian');
const MIRROR = 'http://deb.debian.org/debian';
const COMPLETE_MARKER = '.complete';

export type InitramfsGenerator = 'initramfs-tools' | 'dracut';

/** One kind of Debian system the tests boot. */
export interface DebianFlavor {
  /** Names the cache entries and logs. */
  name: string;
  suite: 'trixie' | 'bookworm';
  generator: InitramfsGenerator;
  /**
   * Debian 12 ships Node 18 and hiberkit needs 20: such a system gets the node binary the tests
   * run with (system.ts), as a user of Debian 12 would install a newer Node themselves.
   */
  bringsNode: boolean;
}

export const TRIXIE: DebianFlavor = { name: 'trixie', suite: 'trixie', generator: 'initramfs-tools', bringsNode: false };

/**
 * What every flavor installs besides its generator: init and its helpers, what `hiberkit setup`
 * and the tests' steps use (e2fsprogs, util-linux's swap tools, procps), zstd for the initramfs.
 * `minbase` has no dbus, and without it `systemctl hibernate` cannot reach logind.
 */
const BASE_PACKAGES = ['systemd', 'systemd-sysv', 'udev', 'dbus', 'kmod', 'procps', 'e2fsprogs', 'util-linux', 'zstd', 'linux-image-cloud-amd64'];

export function packagesOf(flavor: DebianFlavor): string[] {
  return [...BASE_PACKAGES, flavor.generator, ...(flavor.bringsNode ? [] : ['nodejs'])];
}

/** Where the root lives once built: the image builder (system.ts) copies it. */
export interface DebianRoot {
  flavor: DebianFlavor;
  /** The root directory tree. */
  tree: string;
  /** The hash of the inputs that named it. */
  hash: string;
  reused: boolean;
  buildMs: number;
}

/**
 * The swap file's place in fstab. system.ts allocates it in the ext4 image itself (mkfs.ext4 -d
 * would turn a file of zeros into holes, which swapon refuses).
 */
export const SWAP_FILE = '/swapfile';

/** Each generator's command that rebuilds the initramfs of every installed kernel. */
const REGENERATE_INITRAMFS: Record<InitramfsGenerator, string[]> = {
  'initramfs-tools': ['update-initramfs', '-u', '-k', 'all'],
  dracut: ['dracut', '--force', '--regenerate-all'],
};

/** The guest files this builder installs, as [host source, path in the root, mode]. */
const GUEST_FILES: ReadonlyArray<[string, string, number]> = [
  ['step-runner.sh', 'usr/local/lib/hk/step-runner', 0o755],
  ['hk-step.service', 'etc/systemd/system/hk-step.service', 0o644],
  ['sleep-hook.sh', 'usr/lib/systemd/system-sleep/hk-report', 0o755],
];

function rootHash(flavor: DebianFlavor): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ suite: flavor.suite, packages: packagesOf(flavor), mirror: MIRROR }));
  hash.update(readFileSync(join(REPO_ROOT, 'vm', 'debian', 'root.ts')));
  for (const [source] of GUEST_FILES) hash.update(readFileSync(join(DEBIAN_GUEST_DIR, source)));
  return hash.digest('hex').slice(0, 16);
}

/** The test VM's settings on top of what the packages installed. */
function configureRoot(tree: string, flavor: DebianFlavor): void {
  writeFileSync(join(tree, 'etc', 'hostname'), 'hkvm\n');
  writeFileSync(join(tree, 'etc', 'hosts'), '127.0.0.1 localhost\n127.0.1.1 hkvm\n');
  // errors=remount-ro and pass 1 as the Debian installer writes them: the initramfs checks `/`
  // before mounting it, which is what a resume must come before.
  writeFileSync(join(tree, 'etc', 'fstab'), `/dev/vda / ext4 errors=remount-ro 0 1\n${SWAP_FILE} none swap sw 0 0\n`);
  // A fixed identity per root: hiberkit refuses an image from another machine (machine-id).
  writeFileSync(join(tree, 'etc', 'machine-id'), `${randomBytes(16).toString('hex')}\n`);
  runOrThrow('chroot', [tree, 'passwd', '--delete', 'root']);
  for (const [source, target, mode] of GUEST_FILES) {
    const path = join(tree, target);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, readFileSync(join(DEBIAN_GUEST_DIR, source)));
    chmodSync(path, mode);
  }
  const wants = join(tree, 'etc', 'systemd', 'system', 'multi-user.target.wants');
  mkdirSync(wants, { recursive: true });
  symlinkSync('/etc/systemd/system/hk-step.service', join(wants, 'hk-step.service'));
  // The kernel's package built the initramfs before fstab existed: built again, it has what the
  // installed system's has (initramfs-tools adds fsck for the root file system fstab names).
  withChroot(tree, {}, () => runOrThrow('chroot', [tree, ...REGENERATE_INITRAMFS[flavor.generator]]));
}

/** The root of `flavor`, from the cache or built now (needs root, mmdebstrap and the network). */
export function debianRoot(flavor: DebianFlavor): DebianRoot {
  const started = Date.now();
  ensureHostPackages();
  const hash = rootHash(flavor);
  const dir = join(DEBIAN_CACHE_DIR, `root-${flavor.name}-${hash}`);
  const tree = join(dir, 'tree');
  const reused = existsSync(join(dir, COMPLETE_MARKER));
  if (!reused) {
    mkdirSync(DEBIAN_CACHE_DIR, { recursive: true });
    // Older roots of this flavor are a few hundred MB each and never used again.
    for (const name of readdirSync(DEBIAN_CACHE_DIR)) {
      if (!name.startsWith(`root-${flavor.name}-`)) continue;
      assertNothingMountedUnder(join(DEBIAN_CACHE_DIR, name));
      rmSync(join(DEBIAN_CACHE_DIR, name), { recursive: true, force: true });
    }
    const partial = `${dir}.partial`;
    mkdirSync(partial, { recursive: true });
    const partialTree = join(partial, 'tree');
    runOrThrow('mmdebstrap', ['--mode=root', '--variant=minbase', '--quiet', `--include=${packagesOf(flavor).join(',')}`, flavor.suite, partialTree, MIRROR]);
    configureRoot(partialTree, flavor);
    writeFileSync(join(partial, COMPLETE_MARKER), `${flavor.suite} ${hash}\n`);
    // Renamed last: an interrupted build never looks like a usable root.
    renameSync(partial, dir);
  }
  return { flavor, tree, hash, reused, buildMs: Date.now() - started };
}
