/**
 * hiberkit's own package.json, found by walking up from this file: it is lib/ when run from
 * source (tests) and dist/lib/ when run from the build.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Manifest {
  name?: string;
  version?: string;
}

function findPackage(): { root: string; manifest: Manifest } {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
      if (manifest.name === 'hiberkit') return { root: dir, manifest };
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no hiberkit package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** The package's root directory (where package.json, build/ and prebuilds/ are). */
export function packageRoot(): string {
  return findPackage().root;
}

/** The version in package.json. */
export function packageVersion(): string {
  return findPackage().manifest.version ?? 'unknown';
}
