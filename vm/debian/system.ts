/**
 * The disk image of a Debian test system: the flavor's root (root.ts) with the current tree's
 * hiberkit installed the way a user installs it, `npm install -g` of the packed package, turned
 * into an ext4 image with `mkfs.ext4 -d` (nothing is mounted) and given a 512 MiB swap file.
 *
 * Installing happens on the host, in a chroot of a copy of the root: npm needs the registry for
 * hiberkit's dependencies (node-gyp-build, node-addon-api) and the guest has no network, and a
 * TCG guest would take minutes. npm is the host's own (the one the tests run with), run by the
 * root's node: Debian's npm package would add 230 MB and 80 s to every root for one command.
 *
 * The image is cached under .cache/vm/debian/ by a hash of the root, the packed package, the
 * native build and this file; each test boots its own copy (copyDisk).
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from '../paths.js';
import { runOrThrow } from '../provision.js';
import { assertNothingMountedUnder, withChroot } from './chroot.js';
import { debianRoot, DEBIAN_CACHE_DIR, type DebianFlavor, SWAP_FILE } from './root.js';

/** Sparse; the root takes about 0.5 GB, the swap file 0.5 GB, the rest is room for initramfs rebuilds. */
const IMAGE_MB = 3072;
/** Holds the image of a 1024 MB guest (the kernel's, LZO: about 70 MB; hiberkit's about as much). */
export const SWAP_FILE_MB = 512;
const PAGE_BYTES = 4096;

/** The built files of the tree that the package's install does not build in the guest. */
const NATIVE_BUILD_FILES = ['hiberkit.node', 'hiberkit-resume'];

export interface DebianSystem {
  flavor: DebianFlavor;
  /** The cached ext4 image: copy it before booting (copyDisk), never boot it. */
  image: string;
  /** The swap file's first page on /dev/vda, in pages: its resume_offset. */
  swapFileOffset: number;
  reused: boolean;
  buildMs: number;
  /** The root's part of buildMs (root.ts). */
  rootReused: boolean;
  rootBuildMs: number;
}

function fileHash(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** `npm pack` of the tree into `dir` (dist/ must be built: packing never builds, tests may be running on dist/). */
function packTree(dir: string): string {
  const output = runOrThrow('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], REPO_ROOT);
  const name = output.trim().split('\n').at(-1)!;
  return join(dir, name);
}

function nativeBuildFiles(): string[] {
  return NATIVE_BUILD_FILES.map((name) => join(REPO_ROOT, 'build', 'Release', name)).filter((path) => existsSync(path));
}

function systemHash(rootHash: string, tarball: string, flavor: DebianFlavor): string {
  const hash = createHash('sha256');
  hash.update(`${rootHash}\n${fileHash(tarball)}\n`);
  for (const file of nativeBuildFiles()) hash.update(`${file}\n${fileHash(file)}\n`);
  if (flavor.bringsNode) hash.update(fileHash(process.execPath));
  hash.update(readFileSync(join(REPO_ROOT, 'vm', 'debian', 'system.ts')));
  return hash.digest('hex').slice(0, 16);
}

/** The directory of the npm the host runs (…/node_modules/npm). */
function hostNpmDir(): string {
  const cli = realpathSync(runOrThrow('sh', ['-c', 'command -v npm']).trim());
  return dirname(dirname(cli));
}

/**
 * `npm install -g` of the packed package in the chroot, into /usr/local as Debian's npm does.
 * The package's install step (node-gyp-build) takes the prebuild for linux-x64 when it matches;
 * the tree's own native build is then copied into the installed package's build/Release, which
 * the addon loader and resumeProgramPath() look at first: the committed prebuild can lag behind
 * the native sources until the prebuilds are rebuilt, and the VM must test the current sources.
 */
function installHiberkit(tree: string, tarball: string, flavor: DebianFlavor): void {
  if (flavor.bringsNode) copyFileSync(process.execPath, join(tree, 'usr', 'local', 'bin', 'node'));
  const guestTarball = join('/run', 'hk-install', 'hiberkit.tgz');
  mkdirSync(join(tree, dirname(guestTarball)), { recursive: true });
  copyFileSync(tarball, join(tree, guestTarball));
  const node = flavor.bringsNode ? '/usr/local/bin/node' : '/usr/bin/node';
  withChroot(tree, { readOnly: [{ host: hostNpmDir(), guest: '/run/hk-npm' }], network: true }, () => {
    runOrThrow('chroot', [tree, node, '/run/hk-npm/bin/npm-cli.js', 'install', '--global', '--prefix=/usr/local', '--no-audit', '--no-fund', '--cache=/run/hk-install/npm-cache', guestTarball]);
  });
  rmSync(join(tree, 'run', 'hk-install'), { recursive: true, force: true });
  const release = join(tree, 'usr', 'local', 'lib', 'node_modules', 'hiberkit', 'build', 'Release');
  mkdirSync(release, { recursive: true });
  for (const file of nativeBuildFiles()) copyFileSync(file, join(release, file.split('/').at(-1)!));
}

/**
 * The swap file, allocated inside the finished image with debugfs: a real mkswap header as its
 * first block, the rest allocated unwritten (as `fallocate` does; the kernel's swapon accepts
 * that, it refuses holes). Returns its first block, which is its resume offset (4 KiB blocks).
 */
function addSwapFile(image: string, work: string): number {
  const pages = (SWAP_FILE_MB * 1024 * 1024) / PAGE_BYTES;
  const model = join(work, 'swap-model');
  runOrThrow('truncate', ['-s', `${SWAP_FILE_MB}M`, model]);
  runOrThrow('mkswap', ['--quiet', model]);
  const header = join(work, 'swap-header');
  writeFileSync(header, readFileSync(model).subarray(0, PAGE_BYTES));
  const name = SWAP_FILE.slice(1);
  const commands = [`write ${header} ${name}`, `fallocate ${SWAP_FILE} 1 ${pages - 1}`, `sif ${SWAP_FILE} size ${pages * PAGE_BYTES}`, `sif ${SWAP_FILE} mode 0100600`];
  const script = join(work, 'swap.debugfs');
  writeFileSync(script, `${commands.join('\n')}\n`);
  runOrThrow('debugfs', ['-w', '-f', script, image]);
  const block = Number(runOrThrow('debugfs', ['-R', `bmap ${SWAP_FILE} 0`, image]).trim());
  if (!Number.isInteger(block) || block <= 0) throw new Error(`Debian image: no block for ${SWAP_FILE} in ${image}`);
  return block;
}

/** The image of `flavor` with the current tree installed: cached, or built now (needs root). */
export function debianSystem(flavor: DebianFlavor): DebianSystem {
  const started = Date.now();
  const root = debianRoot(flavor);
  mkdirSync(DEBIAN_CACHE_DIR, { recursive: true });
  const work = mkdtempSync(join(DEBIAN_CACHE_DIR, `.system-${flavor.name}-`));
  try {
    const tarball = packTree(work);
    const hash = systemHash(root.hash, tarball, flavor);
    const image = join(DEBIAN_CACHE_DIR, `system-${flavor.name}-${hash}.img`);
    const metaPath = image.replace(/\.img$/, '.json');
    if (existsSync(metaPath)) {
      const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as { swapFileOffset: number };
      return { flavor, image, swapFileOffset: meta.swapFileOffset, reused: true, buildMs: Date.now() - started, rootReused: root.reused, rootBuildMs: root.buildMs };
    }
    for (const name of readdirSync(DEBIAN_CACHE_DIR)) {
      if (name.startsWith(`system-${flavor.name}-`)) rmSync(join(DEBIAN_CACHE_DIR, name), { force: true });
    }
    const tree = join(work, 'tree');
    runOrThrow('cp', ['-a', '--reflink=auto', root.tree, tree]);
    installHiberkit(tree, tarball, flavor);
    const partial = join(work, 'image');
    runOrThrow('mkfs.ext4', ['-q', '-F', '-L', 'root', '-d', tree, partial, `${IMAGE_MB}M`]);
    const swapFileOffset = addSwapFile(partial, work);
    renameSync(partial, image);
    // The metadata last: it is what marks the image complete.
    writeFileSync(metaPath, `${JSON.stringify({ swapFileOffset })}\n`);
    return { flavor, image, swapFileOffset, reused: false, buildMs: Date.now() - started, rootReused: root.reused, rootBuildMs: root.buildMs };
  } finally {
    assertNothingMountedUnder(work);
    rmSync(work, { recursive: true, force: true });
  }
}
