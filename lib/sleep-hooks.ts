/**
 * systemd's system-sleep hooks, run as systemd-sleep runs them around a hibernation: every
 * executable in /usr/lib/systemd/system-sleep/ and /etc/systemd/system-sleep/ (and /run, /usr/local;
 * one in /etc hides one of the same name in /usr/lib; one linked to /dev/null is masked), all at once, with the
 * arguments `pre hibernate` before and `post hibernate` after, $SYSTEMD_SLEEP_ACTION set, each
 * given 90 seconds; a hook that fails is reported and does not stop the hibernation.
 * `hiberkit hibernate --systemd` (what systemd-hibernate.service runs after `hiberkit setup`)
 * runs them, since systemd-sleep no longer does.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Lowest precedence first; /lib/systemd is where Debian 12's systemd keeps its own. */
export const SLEEP_HOOK_DIRECTORIES = [
  '/lib/systemd/system-sleep',
  '/usr/lib/systemd/system-sleep',
  '/usr/local/lib/systemd/system-sleep',
  '/run/systemd/system-sleep',
  '/etc/systemd/system-sleep',
];

const HOOK_TIMEOUT_MS = 90_000;

/** The hooks to run, by name, each name's file from the directory of highest precedence. */
export function sleepHooks(directories = SLEEP_HOOK_DIRECTORIES): string[] {
  const byName = new Map<string, string>();
  for (const dir of directories) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) byName.set(name, join(dir, name));
  }
  return [...byName.keys()]
    .sort()
    .map((name) => byName.get(name)!)
    .filter((path) => {
      try {
        if (realpathSync(path) === '/dev/null' || !statSync(path).isFile()) return false;
        accessSync(path, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/** Runs every hook with `phase hibernate` at once and waits for all; failures go to `report`. */
export async function runSleepHooks(phase: 'pre' | 'post', report: (line: string) => void, hooks = sleepHooks()): Promise<void> {
  await Promise.all(
    hooks.map(
      (hook) =>
        new Promise<void>((done) => {
          const child = spawn(hook, [phase, 'hibernate'], {
            stdio: ['ignore', 'inherit', 'inherit'],
            env: { ...process.env, SYSTEMD_SLEEP_ACTION: 'hibernate' },
            timeout: HOOK_TIMEOUT_MS,
          });
          child.on('error', (err) => {
            report(`sleep hook ${hook} ${phase}: ${err.message}`);
            done();
          });
          child.on('exit', (code, signal) => {
            if (code !== 0) report(`sleep hook ${hook} ${phase} failed (${signal ? `killed by ${signal}` : `exit ${code}`}); hibernation goes on`);
            done();
          });
        }),
    ),
  );
}
