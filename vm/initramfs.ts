/**
 * Builds the test VM's initramfs: an uncompressed newc archive (unpacking gzip costs seconds
 * under TCG, a plain copy does not) with
 *   - busybox and its applet links, and the host tools busybox cannot replace (util-linux swap
 *     tools and blkid, mkfs.ext4), each with the libraries `ldd` lists, at their host paths;
 *   - the host's node binary, unmodified, with its libraries;
 *   - the built package under /hk/pkg (dist/, the addon, package.json, runtime dependencies) and
 *     hiberkit-resume, the native resume program (on the PATH too);
 *   - the kernel modules the VM needs (virtio disk, fw_cfg) and /hk/modules, their load order;
 *   - /init (guest/init.sh), /hk/lib.sh and the shell scenarios under /hk/scenarios.
 *
 * The archive is named by a hash of everything that goes in (file contents included), and
 * reused while that hash is unchanged.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, posix, relative } from 'node:path';
import { archivePath, type ArchiveEntry, writeNewcArchive } from './cpio.js';
import { moduleLoadOrder } from './kernel-modules.js';
import { GUEST_DIR, INITRAMFS_CACHE_DIR, REPO_ROOT } from './paths.js';
import type { KernelFiles } from './provision.js';

/** Modules /init loads: the virtio disk stack, and fw_cfg for scripts passed by the host. */
const GUEST_MODULES = ['virtio_pci', 'virtio_blk', 'qemu_fw_cfg'];

/** Host tools the scenarios need beyond busybox: util-linux's swapon knows hibernation signatures, busybox's does not. */
const HOST_TOOLS = ['mkswap', 'swapon', 'swapoff', 'blkid', 'mkfs.ext4'];
/** Configuration files those tools read, copied when the host has them. */
const HOST_CONFIG_FILES = ['/etc/mke2fs.conf'];

/** Package dependencies the guest does not need at run time (node-addon-api is C++ headers). */
const BUILD_ONLY_DEPENDENCIES = new Set(['node-addon-api']);

/** Where the package lives in the guest. */
const GUEST_PACKAGE_DIR = '/hk/pkg';
export const ADDON_PATH = join(REPO_ROOT, 'build', 'Release', 'hiberkit.node');
const RESUME_PROGRAM_PATH = join(REPO_ROOT, 'build', 'Release', 'hiberkit-resume');

export interface Initramfs {
  path: string;
  hash: string;
  bytes: number;
  /** False when this call wrote the archive, true when a cached one was reused. */
  reused: boolean;
  buildMs: number;
}

function findOnPath(tool: string): string {
  const dirs = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  const found = dirs.map((dir) => join(dir, tool)).find((path) => existsSync(path));
  if (!found) throw new Error(`initramfs: ${tool} is not installed on the host (see vm/debian-packages.txt)`);
  return found;
}

/**
 * The archive path for a host path: its directory resolved through symlinks, its own name kept.
 * On a usrmerged host /lib/x86_64-linux-gnu/libc.so.6 becomes usr/lib/x86_64-linux-gnu/libc.so.6,
 * which the /lib -> usr/lib link in the archive makes reachable under the original path too.
 */
function canonicalArchivePath(hostPath: string): string {
  return archivePath(join(realpathSync(dirname(hostPath)), basename(hostPath)));
}

/** The shared libraries (and dynamic loader) `ldd` lists for an ELF file; none for a static one. */
function sharedLibraries(elf: string): string[] {
  const result = spawnSync('ldd', [elf], { encoding: 'utf8' });
  if (result.status !== 0) {
    if (/not a dynamic executable/.test(`${result.stdout}${result.stderr}`)) return [];
    throw new Error(`initramfs: ldd ${elf} failed: ${result.stderr.trim()}`);
  }
  const libraries: string[] = [];
  for (const line of result.stdout.split('\n')) {
    if (/=> not found/.test(line)) throw new Error(`initramfs: ${elf} needs a library the host lacks: ${line.trim()}`);
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)";
    // linux-vdso has no path: the kernel provides it.
    const path = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line)?.[1];
    if (path) libraries.push(path);
  }
  return libraries;
}

class EntryList {
  readonly entries: ArchiveEntry[] = [];
  private readonly paths = new Set<string>();

  add(entry: ArchiveEntry): void {
    const path = archivePath(entry.path);
    if (this.paths.has(path)) return;
    this.paths.add(path);
    this.entries.push({ ...entry, path });
  }

  has(path: string): boolean {
    return this.paths.has(archivePath(path));
  }

  /** A host executable or library at its canonical path, with every library it loads. */
  addElf(hostPath: string): void {
    if (this.has(canonicalArchivePath(hostPath))) return;
    this.add({ type: 'file', path: canonicalArchivePath(hostPath), source: realpathSync(hostPath) });
    for (const library of sharedLibraries(hostPath)) this.addElf(library);
  }

  /** Every file under a host directory, at `guestDir`, skipping what `keep` rejects. */
  addTree(hostDir: string, guestDir: string, keep: (relativePath: string) => boolean = () => true): void {
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        const hostPath = join(dir, entry.name);
        const rel = relative(hostDir, hostPath);
        if (entry.isDirectory()) walk(hostPath);
        else if (entry.isFile() && keep(rel)) this.add({ type: 'file', path: posix.join(guestDir, rel), source: hostPath });
      }
    };
    walk(hostDir);
  }
}

/** Mirror the host's usrmerge links (/bin -> usr/bin, ...) so host paths resolve in the guest. */
function addRootLayout(list: EntryList): void {
  for (const name of ['bin', 'sbin', 'lib', 'lib64']) {
    const host = `/${name}`;
    if (existsSync(host) && lstatSync(host).isSymbolicLink()) list.add({ type: 'symlink', path: name, target: readlinkSync(host) });
    else list.add({ type: 'dir', path: name });
  }
  for (const dir of ['proc', 'sys', 'dev', 'run', 'root', 'etc', 'usr/local/bin']) list.add({ type: 'dir', path: dir });
  list.add({ type: 'dir', path: 'tmp', mode: 0o1777 });
  // uid 65534 is what the conformance runner's unprivileged child runs as.
  list.add({ type: 'file', path: 'etc/passwd', mode: 0o644, content: Buffer.from('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n') });
  list.add({ type: 'file', path: 'etc/group', mode: 0o644, content: Buffer.from('root:x:0:\nnogroup:x:65534:\n') });
}

function addTools(list: EntryList): void {
  // Real tools first: a busybox applet is only linked where no real tool took its path.
  list.addElf(process.execPath);
  for (const tool of HOST_TOOLS) list.addElf(findOnPath(tool));
  for (const file of HOST_CONFIG_FILES) if (existsSync(file)) list.add({ type: 'file', path: file, source: file });

  const busybox = findOnPath('busybox');
  list.addElf(busybox);
  const busyboxInGuest = `/${canonicalArchivePath(busybox)}`;
  const applets = spawnSync(busybox, ['--list-full'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  for (const applet of applets) {
    const dir = posix.dirname(applet);
    const path = dir === '.' ? applet : posix.join(archivePath(realpathSync(`/${dir}`)), posix.basename(applet));
    if (!list.has(path)) list.add({ type: 'symlink', path, target: busyboxInGuest });
  }
}

function addKernelModules(list: EntryList, kernel: KernelFiles): void {
  const order = moduleLoadOrder(kernel.modulesDir, GUEST_MODULES);
  const guestPaths = order.map((module) => posix.join('/usr/lib/modules', kernel.release, module.relativePath));
  order.forEach((module, i) => list.add({ type: 'file', path: guestPaths[i]!, source: module.path, mode: 0o644 }));
  list.add({ type: 'file', path: 'hk/modules', mode: 0o644, content: Buffer.from(`${guestPaths.join('\n')}\n`) });
}

/** The package's runtime dependencies, transitively, as directories under node_modules. */
function runtimePackageDirs(): string[] {
  const dirs: string[] = [];
  const visit = (name: string): void => {
    const dir = join(REPO_ROOT, 'node_modules', name);
    if (dirs.includes(dir) || BUILD_ONLY_DEPENDENCIES.has(name)) return;
    dirs.push(dir);
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    for (const dependency of Object.keys(manifest.dependencies ?? {})) visit(dependency);
  };
  const root = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  for (const dependency of Object.keys(root.dependencies ?? {})) visit(dependency);
  return dirs;
}

function addPackage(list: EntryList): void {
  const dist = join(REPO_ROOT, 'dist');
  if (!existsSync(join(dist, 'vm', 'guest'))) {
    throw new Error('initramfs: dist/vm/guest is missing: run `npm run build` first');
  }
  list.add({ type: 'file', path: posix.join(GUEST_PACKAGE_DIR, 'package.json'), source: join(REPO_ROOT, 'package.json') });
  // Declarations and source maps are of no use to node at run time.
  list.addTree(dist, posix.join(GUEST_PACKAGE_DIR, 'dist'), (rel) => !rel.endsWith('.d.ts') && !rel.endsWith('.map'));
  // The addon is optional here: shell scenarios run without it, and tests that need it check for it.
  if (existsSync(ADDON_PATH)) {
    list.add({ type: 'file', path: posix.join(GUEST_PACKAGE_DIR, 'build', 'Release', 'hiberkit.node'), source: ADDON_PATH });
    for (const library of sharedLibraries(ADDON_PATH)) list.addElf(library);
  }
  // Like the addon: where lib/native/resume-program.ts looks for it, with the libraries it loads (libcrypto).
  if (existsSync(RESUME_PROGRAM_PATH)) {
    const guestPath = posix.join(GUEST_PACKAGE_DIR, 'build', 'Release', 'hiberkit-resume');
    list.add({ type: 'file', path: guestPath, source: RESUME_PROGRAM_PATH, mode: 0o755 });
    for (const library of sharedLibraries(RESUME_PROGRAM_PATH)) list.addElf(library);
    list.add({ type: 'symlink', path: 'usr/local/bin/hiberkit-resume', target: guestPath });
  }
  for (const dir of runtimePackageDirs()) list.addTree(dir, posix.join(GUEST_PACKAGE_DIR, relative(REPO_ROOT, dir)));
  const cli = Buffer.from(`#!/bin/sh\nexec node ${GUEST_PACKAGE_DIR}/dist/lib/cli.js "$@"\n`);
  list.add({ type: 'file', path: 'usr/local/bin/hiberkit', mode: 0o755, content: cli });
}

function addGuestScripts(list: EntryList): void {
  list.add({ type: 'file', path: 'init', source: join(GUEST_DIR, 'init.sh'), mode: 0o755 });
  list.add({ type: 'file', path: 'hk/lib.sh', source: join(GUEST_DIR, 'lib.sh'), mode: 0o644 });
  list.addTree(join(GUEST_DIR, 'scenarios'), 'hk/scenarios', (rel) => rel.endsWith('.sh'));
}

/** Everything that goes into the archive, in archive order. */
function initramfsEntries(kernel: KernelFiles): ArchiveEntry[] {
  const list = new EntryList();
  addRootLayout(list);
  addTools(list);
  addKernelModules(list, kernel);
  addPackage(list);
  addGuestScripts(list);
  return list.entries;
}

function hashFile(hash: ReturnType<typeof createHash>, path: string): void {
  const fd = openSync(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(4 * 1024 * 1024);
    for (let n = readSync(fd, buffer); n > 0; n = readSync(fd, buffer)) hash.update(buffer.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

/** A hash of the archive's entries and contents, and of the code that writes it. */
function contentHash(entries: readonly ArchiveEntry[]): string {
  const hash = createHash('sha256');
  for (const builder of ['cpio.ts', 'initramfs.ts']) hashFile(hash, join(REPO_ROOT, 'vm', builder));
  for (const entry of entries) {
    hash.update(`\n${entry.type} ${entry.path} ${'mode' in entry ? entry.mode ?? '' : ''}\n`);
    if (entry.type === 'symlink') hash.update(entry.target);
    else if (entry.type === 'file') {
      if ('content' in entry) hash.update(entry.content);
      else hashFile(hash, entry.source);
    }
  }
  return hash.digest('hex').slice(0, 16);
}

/** The initramfs for the current tree: reused from .cache/vm/initramfs/ when nothing changed. */
export function buildInitramfs(kernel: KernelFiles): Initramfs {
  const started = Date.now();
  const entries = initramfsEntries(kernel);
  const hash = contentHash(entries);
  const path = join(INITRAMFS_CACHE_DIR, `initramfs-${hash}.cpio`);
  const reused = existsSync(path);
  if (!reused) {
    mkdirSync(INITRAMFS_CACHE_DIR, { recursive: true });
    const partial = `${path}.partial-${process.pid}`;
    try {
      writeNewcArchive(entries, partial);
      renameSync(partial, path);
    } finally {
      rmSync(partial, { force: true });
    }
    // Older archives are 100+ MB each and never used again once the tree changed.
    for (const name of readdirSync(INITRAMFS_CACHE_DIR)) {
      if (name.endsWith('.cpio') && name !== basename(path)) rmSync(join(INITRAMFS_CACHE_DIR, name), { force: true });
    }
  }
  return { path, hash, bytes: statSync(path).size, reused, buildMs: Date.now() - started };
}
