// One hibernation at a time: on a real machine an exclusive flock(2) on /run/hiberkit.lock
// (lib/lock.ts, through the addon), which the kernel drops when its holder dies; on an emulated
// machine a pid file in its state directory, taken over when its holder is gone. Either way a
// second `hibernate` started while one runs fails at once with ALREADY_RUNNING naming the holder.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { acquireLock } from '../lib/lock.js';
import { requireNative } from '../lib/native/binding.js';
import { acquirePidLock } from '../emulator/hibernation-lock.js';
import { hibernate } from '../lib/hibernate.js';
import { resume } from '../lib/resume.js';
import { useMachines } from './flows-support.js';
import { ROOT, buildUnlessFresh } from './cli-process.js';

const machines = useMachines('lock');
const native = requireNative();
const flock = (fd: number) => native.flockExclusive(fd);

/** The pid of a process that has exited: a lock it held is stale. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '']);
  expect(child.status).toBe(0);
  return child.pid!;
}

const refusal = (pid: number, path: string) =>
  expect.objectContaining({
    name: 'HiberkitError',
    code: 'ALREADY_RUNNING',
    message: `another hiberkit hibernate is running (pid ${pid}, lock ${path}); wait for it to finish`,
  });

describe('the flock(2) lock of a real machine', () => {
  beforeAll(buildUnlessFresh, 120_000);

  test('the first caller holds it; a second open of the file is told who; after the release it is free again', () => {
    const path = join(machines.dir(), 'hiberkit.lock');
    const release = acquireLock(path, 'hiberkit hibernate', flock);
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid}\n`);
    expect(() => acquireLock(path, 'hiberkit hibernate', flock)).toThrow(refusal(process.pid, path));
    // The refused attempt left the holder's pid in place.
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid}\n`);
    release();
    acquireLock(path, 'hiberkit hibernate', flock)();
  });

  test('a stale pid in the file means nothing: only a held flock refuses', () => {
    const path = join(machines.dir(), 'hiberkit.lock');
    writeFileSync(path, `${deadPid()}\n`);
    const release = acquireLock(path, 'hiberkit hibernate', flock);
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid}\n`);
    release();
  });

  test('a holder that is killed releases the lock with its death', async () => {
    const path = join(machines.dir(), 'hiberkit.lock');
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { acquireLock } = await import(${JSON.stringify(join(ROOT, 'dist/lib/lock.js'))});
const { requireNative } = await import(${JSON.stringify(join(ROOT, 'dist/lib/native/binding.js'))});
const native = requireNative();
acquireLock(process.argv[1], 'hiberkit hibernate', (fd) => native.flockExclusive(fd));
process.stdout.write('held\\n');
setInterval(() => {}, 1000);`,
        path,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise((resolve) => holder.stdout!.once('data', resolve));
    expect(() => acquireLock(path, 'hiberkit hibernate', flock)).toThrow(refusal(holder.pid!, path));
    holder.kill('SIGKILL');
    await new Promise((resolve) => holder.once('close', resolve));
    acquireLock(path, 'hiberkit hibernate', flock)();
  });
});

describe('the pid-file lock of an emulated machine', () => {
  test('the first caller holds it; a second is told who; after the release it is free again', () => {
    const dir = machines.dir();
    const path = join(dir, 'hiberkit.lock');
    const release = acquirePidLock(dir, 'hiberkit hibernate');
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid}\n`);
    expect(() => acquirePidLock(dir, 'hiberkit hibernate')).toThrow(refusal(process.pid, path));
    release();
    expect(existsSync(path)).toBe(false);
    acquirePidLock(dir, 'hiberkit hibernate')();
  });

  test.each([
    ['a process that has exited', () => `${deadPid()}\n`],
    ['nothing readable (a crash while writing it)', () => ''],
  ])('a lock left by %s is taken over', (_what, content) => {
    const dir = machines.dir();
    const path = join(dir, 'hiberkit.lock');
    writeFileSync(path, content());
    const release = acquirePidLock(dir, 'hiberkit hibernate');
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
    writeFileSync(join(machine.dir, 'hiberkit.lock'), `${deadPid()}\n`);
    const pending = hibernate({ backend: machine.backend });
    await machine.switchedOff(pending);
    expect(await resume({ backend: machines.boot(machine.dir).backend })).toMatchObject({ status: 'restored' });
    await expect(pending).resolves.toMatchObject({ resumed: true });
  });
});
