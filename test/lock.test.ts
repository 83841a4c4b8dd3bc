// One hibernation at a time (lib/lock.ts): a second `hibernate` started while one runs fails at
// once with ALREADY_RUNNING naming the holder, and a lock left behind by a process that died is
// taken over.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { acquireLock } from '../lib/lock.js';
import { hibernate } from '../lib/hibernate.js';
import { resume } from '../lib/resume.js';
import { useMachines } from './flows-support.js';

const machines = useMachines('lock');

/** The pid of a process that has exited: a lock it held is stale. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  expect(child.status).toBe(0);
  return child.pid!;
}

describe('acquireLock', () => {
  test('the first caller holds it; a second is told who; after the release it is free again', () => {
    const path = join(machines.dir(), 'hiberkit.lock');
    const release = acquireLock(path, 'hiberkit hibernate');
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid}\n`);
    expect(() => acquireLock(path, 'hiberkit hibernate')).toThrow(
      expect.objectContaining({
        name: 'HiberkitError',
        code: 'ALREADY_RUNNING',
        message: `another hiberkit hibernate is running (pid ${process.pid}, lock ${path}); wait for it to finish`,
      }),
    );
    release();
    expect(existsSync(path)).toBe(false);
    acquireLock(path, 'hiberkit hibernate')();
  });

  test.each([
    ['a process that has exited', () => `${deadPid()}\n`],
    ['nothing readable (a crash while writing it)', () => ''],
  ])('a lock left by %s is taken over', (_what, content) => {
    const path = join(machines.dir(), 'hiberkit.lock');
    writeFileSync(path, content());
    const release = acquireLock(path, 'hiberkit hibernate');
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid}\n`);
    release();
  });
});

describe('two hibernations of one machine', () => {
  test('the second, started while the first prepares, fails at once with ALREADY_RUNNING; the first goes on', async () => {
    const machine = machines.machine();
    let second: Promise<unknown> | undefined;
    const first = hibernate({
      backend: machine.backend,
      // The first progress line comes once the first holds the lock and before it opens anything.
      onProgress: () => void (second ??= hibernate({ backend: machine.backend })),
    });
    await expect(second).rejects.toMatchObject({
      name: 'HiberkitError',
      code: 'ALREADY_RUNNING',
      message: expect.stringContaining(`another hiberkit hibernate is running (pid ${process.pid}, lock ${join(machine.dir, 'hiberkit.lock')})`),
    });
    await machine.switchedOff(first);
    expect(await resume({ backend: machines.boot(machine.dir).backend })).toMatchObject({ status: 'restored' });
    await expect(first).resolves.toMatchObject({ resumed: true });
    expect(existsSync(join(machine.dir, 'hiberkit.lock'))).toBe(false);
  });

  test('a lock left by a hibernate that died is taken over by the next one', async () => {
    const machine = machines.machine();
    writeFileSync(join(machine.backend.runDirectory, 'hiberkit.lock'), `${deadPid()}\n`);
    const pending = hibernate({ backend: machine.backend });
    await machine.switchedOff(pending);
    expect(await resume({ backend: machines.boot(machine.dir).backend })).toMatchObject({ status: 'restored' });
    await expect(pending).resolves.toMatchObject({ resumed: true });
  });
});
