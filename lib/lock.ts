/**
 * One hibernation at a time. /dev/snapshot is single-open, but that alone is not enough: a second
 * `hiberkit hibernate` started while the first is preparing would be frozen with everything else,
 * thawed after the resume, and then hibernate the machine again. An exclusive flock(2) on a lock
 * file, held from the first check until the call returns (across the hibernation: it lives in the
 * image too), makes the second one fail at once. The kernel drops the lock when its holder dies,
 * so there is no stale lock to detect and no takeover to race; the pid written into the file only
 * names the holder in the message.
 */
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { HiberkitError } from './errors.js';

/** flock(fd, LOCK_EX | LOCK_NB): true when taken, false when someone else holds it. */
export type TryExclusiveLock = (fd: number) => boolean;

/** Takes the lock at `path` or throws ALREADY_RUNNING; returns its release. */
export function acquireLock(path: string, what: string, tryLock: TryExclusiveLock): () => void {
  // O_RDWR | O_CREAT without O_TRUNC: the holder's pid must survive a failed attempt.
  const fd = openSync(path, 'a+', 0o644);
  let taken = false;
  try {
    taken = tryLock(fd);
    if (!taken) throw alreadyRunning(what, readFileSync(path, 'utf8').trim(), path);
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`);
  } finally {
    if (!taken) closeSync(fd);
  }
  // The file stays: unlinking it would let a process that opened it just before lock the deleted
  // file while a third one creates and locks a new one.
  return () => {
    ftruncateSync(fd, 0);
    closeSync(fd);
  };
}

export function alreadyRunning(what: string, holder: string, path: string): HiberkitError {
  const who = /^\d+$/.test(holder) ? `pid ${holder}, ` : '';
  return new HiberkitError('ALREADY_RUNNING', `another ${what} is running (${who}lock ${path}); wait for it to finish`);
}
