/** Where the VM tooling finds the repository and keeps what it downloads, builds and logs. */
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
/**
 * vm/ → the repository. `npm run bench` runs this tooling compiled into dist/vm/, one level
 * deeper.
 */
export const REPO_ROOT = resolve(HERE, basename(resolve(HERE, '..')) === 'dist' ? '../..' : '..');

/** Gitignored (`.cache/` in .gitignore); safe to delete, everything in it is rebuilt on demand. */
export const CACHE_DIR = join(REPO_ROOT, '.cache', 'vm');
export const KERNEL_CACHE_DIR = join(CACHE_DIR, 'kernel');
export const INITRAMFS_CACHE_DIR = join(CACHE_DIR, 'initramfs');
export const LOG_DIR = join(CACHE_DIR, 'logs');

/** The guest-side sources: /init, the shell helpers and the scenarios. */
export const GUEST_DIR = join(REPO_ROOT, 'vm', 'guest');

/** A path inside the repository as committed files name it: relative, the same on every machine. */
export function repoRelative(path: string): string {
  return relative(REPO_ROOT, path);
}
