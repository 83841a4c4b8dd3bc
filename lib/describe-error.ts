/**
 * One readable line for any error, for messages that wrap another error and for the CLI. Node's
 * own file-system errors read "ENOENT: no such file or directory, open '/x'"; they become
 * "cannot open /x: no such file or directory (ENOENT)", naming the path as the user gave it.
 */
import { HiberkitError, SnapshotError } from './errors.js';

/** What Node's fs calls throw: an errno name in `code`, the call in `syscall`, the file in `path`. */
export function isSystemError(err: unknown): err is NodeJS.ErrnoException & { code: string; syscall: string } {
  return err instanceof Error && !(err instanceof SnapshotError) && typeof (err as NodeJS.ErrnoException).syscall === 'string' && /^E[A-Z0-9]+$/.test(String((err as NodeJS.ErrnoException).code));
}

export function describeError(err: unknown): string {
  if (err instanceof HiberkitError || err instanceof SnapshotError) return err.message;
  if (isSystemError(err)) return describeSystemError(err);
  return err instanceof Error ? err.message : String(err);
}

function describeSystemError(err: NodeJS.ErrnoException & { code: string; syscall: string }): string {
  // Node's message is "<CODE>: <description>, <syscall> '<path>'": keep the description.
  const description = /^E[A-Z0-9]+: ([^,]+)/.exec(err.message)?.[1] ?? err.message;
  const what = err.path !== undefined ? `${err.syscall} ${err.path}` : err.syscall;
  return `cannot ${what}: ${description} (${err.code})`;
}
