/**
 * The committed prebuild (prebuilds/<platform>-<arch>/, made by `npm run prebuilds` with
 * prebuildify --napi --strip) must load through node-gyp-build with no build directory and no
 * compiler, and expose the same native surface as the source build, so it cannot silently lag.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);

describe('prebuild', () => {
  test(`${process.platform}-${process.arch} loads without a compiler and matches the source build`, () => {
    // A fresh process: node-gyp-build reads PREBUILDS_ONLY when it resolves, and Node caches addons.
    const probe = spawnSync(
      process.execPath,
      ['-e', `const p = require('node-gyp-build').resolve(${JSON.stringify(root)}); console.log(JSON.stringify({ p, keys: Object.keys(require(p)).sort() }))`],
      { cwd: root, env: { ...process.env, PREBUILDS_ONLY: '1' }, encoding: 'utf8' },
    );
    expect(probe.stderr).toBe('');
    const { p, keys } = JSON.parse(probe.stdout) as { p: string; keys: string[] };
    expect(p).toContain(`prebuilds/${process.platform}-${process.arch}/`);
    const built = Object.keys(require(`${root}/build/Release/hiberkit.node`)).sort();
    expect(keys).toEqual(built);
  });
});
