/**
 * The emulated machine's one-hibernation-at-a-time lock. The native backend uses flock(2)
 * (lib/lock.ts), which Node cannot call; an emulated machine is driven by test processes only, so
 * a pid file in its state directory stands in: created exclusively, and taken over when the
 * process named in it is gone.
 */
import { openSync, closeSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { alreadyRunning } from '../lib/lock.js';
import { processExists } from './state-dir.js';

export function acquirePidLock(dir: string, what: string): () => void {
  const path = join(dir, 'hiberkit.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readQuietly(path);
      if (/^\d+$/.test(holder) && processExists(Number(holder))) throw alreadyRunning(what, holder, path);
      unlinkSync(path);
    }
  }
  throw alreadyRunning(what, '', path);
}

function readQuietly(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}
