/**
 * One hibernation at a time. /dev/snapshot is single-open, but that alone is not enough: a second
 * `hiberkit hibernate` started while the first is preparing would be frozen with everything else,
 * thawed after the resume, and then hibernate the machine again. A lock file held from the first
 * check until the call returns (across the hibernation: it lives in the image too) makes the second
 * one fail at once, saying who holds it. A lock left by a dead process is taken over.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { HiberkitError } from './errors.js';

export function acquireLock(path: string, what: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number.parseInt(safeRead(path), 10);
      if (Number.isInteger(holder) && isAlive(holder)) {
        throw new HiberkitError('ALREADY_RUNNING', `another ${what} is running (pid ${holder}, lock ${path}); wait for it to finish`);
      }
      unlinkSync(path);
    }
  }
  throw new HiberkitError('ALREADY_RUNNING', `another ${what} keeps taking the lock ${path}`);
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
