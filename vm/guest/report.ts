/**
 * Guest side of the console protocol (protocol.ts) for node scenarios. Writes go straight to
 * file descriptor 1 with writeSync: a scenario may freeze user space or power the machine off
 * right after printing, and an asynchronous stream write would be lost (or wait on a frozen
 * thread) then.
 */
import { readFileSync, writeSync } from 'node:fs';
import { formatLine, type LineKind } from './protocol.js';

export function emit(kind: LineKind, payload: string | object): void {
  writeSync(1, `${formatLine(kind, payload)}\n`);
}

/** Seconds since the guest kernel booted, as /proc/uptime gives it (centisecond resolution). */
function uptimeSeconds(): number {
  return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
}

/** Prints `HK:STAMP name uptime`, the same stamp the shell helper `hk_stamp` prints. */
export function stamp(name: string): void {
  emit('STAMP', `${name} ${uptimeSeconds().toFixed(2)}`);
}

/**
 * A `hk.NAME=value` word of the kernel command line. /init exports each as HK_NAME (upper case,
 * dots and dashes as underscores), because the kernel does not pass dotted words to init.
 */
export function bootArg(name: string): string | undefined {
  return process.env[`HK_${name.toUpperCase().replace(/[.-]/g, '_')}`];
}
