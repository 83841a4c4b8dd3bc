/**
 * What `npm pack` puts in the published package: what a user runs and reads (the built library,
 * CLI and emulator with their declarations, the native sources and binding.gyp for the
 * source-build fallback, the prebuilds, the docs, README and LICENSE), and nothing else: no
 * tests, benchmark or VM tooling, no source maps, no TypeScript sources. Needs `npm run build`
 * first (as `npm test` does), since the packed list is read from dist/.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, test } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

let files: string[] = [];

beforeAll(() => {
  // --ignore-scripts: no prepack build; the list comes from the tree as it is.
  const output = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const [packed] = JSON.parse(output) as [{ files: { path: string }[] }];
  files = packed.files.map((file) => file.path).sort();
}, 120_000);

describe('the packed package', () => {
  test.each([
    'dist/lib/cli.js',
    'dist/lib/index.js',
    'dist/lib/index.d.ts',
    'dist/lib/backend.d.ts',
    'dist/emulator/index.js',
    'dist/emulator/index.d.ts',
    'binding.gyp',
    'native/addon.cc',
    'native/snapshot_device.cc',
    'native/image_writer.h',
    'prebuilds/linux-x64/hiberkit.node',
    'docs/image-format.md',
    'docs/snapshot-device.md',
    'README.md',
    'LICENSE',
    'package.json',
  ])('holds %s', (path) => {
    expect(files).toContain(path);
  });

  test('holds the source of every native file binding.gyp compiles', () => {
    const sources = readFileSync(join(root, 'binding.gyp'), 'utf8').match(/native\/\w+\.cc/g) ?? [];
    expect(sources.length).toBeGreaterThan(10);
    expect(sources.filter((source) => !files.includes(source))).toEqual([]);
  });

  test('holds no tests, benchmark, VM tooling, caches or build output other than dist/lib and dist/emulator', () => {
    const outside = files.filter((path) => /^(test|bench|vm|\.cache|\.ci|build)\//.test(path) || (path.startsWith('dist/') && !/^dist\/(lib|emulator)\//.test(path)));
    expect(outside).toEqual([]);
  });

  test('holds no build-time generator (native/image_layout.h ships already generated)', () => {
    expect(files.filter((path) => path.includes('layout-cpp'))).toEqual([]);
    expect(files).toContain('native/image_layout.h');
  });

  test('holds no source maps and no TypeScript sources besides declarations', () => {
    expect(files.filter((path) => path.endsWith('.map'))).toEqual([]);
    expect(files.filter((path) => path.endsWith('.ts') && !path.endsWith('.d.ts'))).toEqual([]);
  });

  test('every module the package exports is in it', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      main: string;
      types: string;
      bin: Record<string, string>;
      exports: Record<string, { types: string; default: string }>;
    };
    const entries = [manifest.main, manifest.types, ...Object.values(manifest.bin), ...Object.values(manifest.exports).flatMap((entry) => [entry.types, entry.default])];
    expect(entries.map((entry) => entry.replace(/^\.\//, '')).filter((entry) => !files.includes(entry))).toEqual([]);
  });
});
