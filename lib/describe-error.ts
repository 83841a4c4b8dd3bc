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

/**
 * Why a call failed, for a message that already names the file: "no such file or directory
 * (ENOENT)" for a system error, describeError() for any other.
 */
export function reasonOf(err: unknown): string {
  if (!isSystemError(err)) return describeError(err);
  // Node's message is "<CODE>: <description>, <syscall> '<path>'": keep the description.
  const description = /^E[A-Z0-9]+: ([^,]+)/.exec(err.message)?.[1] ?? err.message;
  return `${description} (${err.code})`;
}

function describeSystemError(err: NodeJS.ErrnoException & { code: string; syscall: string }): string {
  const what = err.path !== undefined ? `${err.syscall} ${err.path}` : err.syscall;
  return `cannot ${what}: ${reasonOf(err)}`;
}
