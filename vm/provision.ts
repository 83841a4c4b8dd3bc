/**
 * Host provisioning for the test VM: the Debian packages it needs, and a Debian cloud kernel
 * extracted (never installed) into .cache/vm/kernel/. Synchronous on purpose: it runs once in
 * a test's beforeAll, and every step depends on the previous one.
 *
 * Why the cloud kernel: it is small, boots fast under TCG, and has CONFIG_HIBERNATION and
 * CONFIG_HIBERNATION_SNAPSHOT_DEV built in with ext4 built in; only virtio is modular.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KERNEL_CACHE_DIR, REPO_ROOT } from './paths.js';

/** The meta package whose dependency names the current cloud kernel image package. */
const KERNEL_META_PACKAGE = 'linux-image-cloud-amd64';
const COMPLETE_MARKER = '.complete';

export interface KernelFiles {
  /** Debian package the files came from, e.g. linux-image-6.1.0-56-cloud-amd64. */
  packageName: string;
  /** `uname -r` of that kernel, e.g. 6.1.0-56-cloud-amd64. */
  release: string;
  vmlinuz: string;
  /** lib/modules/<release> of the extracted package. */
  modulesDir: string;
}

interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], cwd?: string): CommandResult {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) return { status: null, stdout: '', stderr: String(result.error) };
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export function runOrThrow(command: string, args: string[], cwd?: string): string {
  const result = run(command, args, cwd);
  if (result.status !== 0) {
    throw new Error(`VM provisioning: \`${command} ${args.join(' ')}\` failed (${result.status ?? 'not started'}): ${result.stderr.trim()}`);
  }
  return result.stdout;
}

/** The package list shared with .ci/run (one name a line, `#` comments). */
function requiredDebianPackages(): string[] {
  return readFileSync(join(REPO_ROOT, 'vm', 'debian-packages.txt'), 'utf8')
    .split('\n')
    .map((line) => line.replace(/#.*/, '').trim())
    .filter(Boolean);
}

function isInstalled(pkg: string): boolean {
  const result = run('dpkg-query', ['-W', '-f', '${db:Status-Abbrev}', pkg]);
  return result.status === 0 && result.stdout.startsWith('ii');
}

/** `apt-get update` at most once per process: it is slow and only needed before the first install or lookup. */
let aptListsUpdated = false;
function updateAptListsOnce(): void {
  if (aptListsUpdated) return;
  runOrThrow('apt-get', ['update', '-qq']);
  aptListsUpdated = true;
}

/** Installs the Debian packages of debian-packages.txt that are missing (needs root). */
export function ensureHostPackages(): void {
  const missing = requiredDebianPackages().filter((pkg) => !isInstalled(pkg));
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`VM provisioning: missing Debian packages ${missing.join(', ')}; install them as root (apt-get install ${missing.join(' ')})`);
  }
  updateAptListsOnce();
  runOrThrow('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing]);
}

/** The kernel image package the meta package currently depends on, or undefined if apt does not know. */
function currentKernelPackage(): string | undefined {
  const lookup = (): string | undefined => {
    const result = run('apt-cache', ['depends', KERNEL_META_PACKAGE]);
    if (result.status !== 0) return undefined;
    return /Depends:\s*(linux-image-\S+)/.exec(result.stdout)?.[1];
  };
  const known = lookup();
  if (known) return known;
  updateAptListsOnce();
  return lookup();
}

function cachedKernelPackages(): string[] {
  if (!existsSync(KERNEL_CACHE_DIR)) return [];
  return readdirSync(KERNEL_CACHE_DIR)
    .filter((name) => existsSync(join(KERNEL_CACHE_DIR, name, COMPLETE_MARKER)))
    .sort();
}

function downloadAndExtract(packageName: string): void {
  mkdirSync(KERNEL_CACHE_DIR, { recursive: true });
  const work = mkdtempSync(join(KERNEL_CACHE_DIR, '.download-'));
  try {
    runOrThrow('apt-get', ['download', '-qq', packageName], work);
    const deb = readdirSync(work).find((name) => name.endsWith('.deb'));
    if (!deb) throw new Error(`VM provisioning: apt-get download ${packageName} produced no .deb`);
    const tree = join(work, 'tree');
    runOrThrow('dpkg-deb', ['-x', join(work, deb), tree]);
    writeFileSync(join(tree, COMPLETE_MARKER), `${deb}\n`);
    // Rename last, so an interrupted download never looks like a usable cache entry.
    renameSync(tree, join(KERNEL_CACHE_DIR, packageName));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function locateKernelFiles(packageName: string): KernelFiles {
  const root = join(KERNEL_CACHE_DIR, packageName);
  const vmlinuzName = readdirSync(join(root, 'boot')).find((name) => name.startsWith('vmlinuz-'));
  if (!vmlinuzName) throw new Error(`VM provisioning: no boot/vmlinuz-* in ${root}`);
  const release = vmlinuzName.slice('vmlinuz-'.length);
  // Debian 12 ships modules under lib/ (usrmerge is done by the installed system, not the package).
  const modulesDir = [join(root, 'lib', 'modules', release), join(root, 'usr', 'lib', 'modules', release)].find((dir) => existsSync(dir));
  if (!modulesDir) throw new Error(`VM provisioning: no modules directory for ${release} in ${root}`);
  return { packageName, release, vmlinuz: join(root, 'boot', vmlinuzName), modulesDir };
}

/**
 * The cloud kernel, downloaded and extracted on first use. Reuses the cache when apt names the
 * same package; falls back to the newest cached kernel when apt cannot be asked (offline).
 */
function ensureKernel(): KernelFiles {
  const wanted = currentKernelPackage();
  const cached = cachedKernelPackages();
  if (!wanted) {
    const fallback = cached.at(-1);
    if (!fallback) throw new Error(`VM provisioning: apt does not know ${KERNEL_META_PACKAGE} and no kernel is cached in ${KERNEL_CACHE_DIR}`);
    return locateKernelFiles(fallback);
  }
  if (!cached.includes(wanted)) downloadAndExtract(wanted);
  return locateKernelFiles(wanted);
}

/** Everything the host needs before an initramfs can be built and a VM booted. */
export function provisionVm(): KernelFiles {
  ensureHostPackages();
  const kernel = ensureKernel();
  const qemu = run('qemu-system-x86_64', ['--version']);
  if (qemu.status !== 0) throw new Error(`VM provisioning: qemu-system-x86_64 does not run: ${qemu.stderr.trim()}`);
  return kernel;
}
