// systemd's system-sleep hooks as `hiberkit hibernate --systemd` runs them in systemd-sleep's place:
// one of a name in /etc hides the one in /usr/lib, a link to /dev/null masks it, non-executables
// are skipped; all run at once with `pre|post hibernate` and $SYSTEMD_SLEEP_ACTION; a failing one
// is reported and the others still run.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { runSleepHooks, sleepHooks } from '../lib/sleep-hooks.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function hookDirectories() {
  const root = mkdtempSync(join(tmpdir(), 'hiberkit-sleep-hooks-'));
  dirs.push(root);
  const lib = join(root, 'usr/lib/systemd/system-sleep');
  const etc = join(root, 'etc/systemd/system-sleep');
  mkdirSync(lib, { recursive: true });
  mkdirSync(etc, { recursive: true });
  const log = join(root, 'log');
  const hook = (dir: string, name: string, body = '', mode = 0o755) => {
    const path = join(dir, name);
    writeFileSync(path, `#!/bin/sh\necho "${name} $1 $2 $SYSTEMD_SLEEP_ACTION ${dir === etc ? 'etc' : 'lib'}" >> ${log}\n${body}`);
    chmodSync(path, mode);
    return path;
  };
  return { root, lib, etc, log, hook };
}

test('the hooks by name, /etc over /usr/lib, masked and non-executable ones left out', () => {
  const { lib, etc, hook } = hookDirectories();
  hook(lib, '10-network');
  hook(lib, '50-graphics');
  hook(etc, '50-graphics');
  hook(lib, '60-masked');
  symlinkSync('/dev/null', join(etc, '60-masked'));
  hook(lib, '70-not-executable', '', 0o644);
  mkdirSync(join(etc, '80-a-directory'));
  expect(sleepHooks([join(lib, '..', 'nowhere'), lib, etc])).toEqual([join(lib, '10-network'), join(etc, '50-graphics')]);
});

test('pre and post hibernate reach every hook; a failing one is reported and the rest run', async () => {
  const { lib, etc, log, hook } = hookDirectories();
  hook(lib, '10-network');
  hook(etc, '20-fails', 'exit 3\n');
  const reports: string[] = [];
  await runSleepHooks('pre', (line) => reports.push(line), sleepHooks([lib, etc]));
  await runSleepHooks('post', (line) => reports.push(line), sleepHooks([lib, etc]));
  expect(readFileSync(log, 'utf8').split('\n').filter(Boolean).sort()).toEqual([
    '10-network post hibernate hibernate lib',
    '10-network pre hibernate hibernate lib',
    '20-fails post hibernate hibernate etc',
    '20-fails pre hibernate hibernate etc',
  ]);
  expect(reports).toEqual([
    `sleep hook ${join(etc, '20-fails')} pre failed (exit 3); hibernation goes on`,
    `sleep hook ${join(etc, '20-fails')} post failed (exit 3); hibernation goes on`,
  ]);
});
