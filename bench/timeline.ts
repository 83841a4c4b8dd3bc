/**
 * A boot's console as a timeline: which line matched what, and when it reached the host.
 *
 * Host arrival times are the benchmark's clock: the guest's uptime jumps on a resume (the
 * restored kernel adds the time it was off), while TCG guest time tracks host time, so intervals
 * between arrivals are the guest's intervals. The kernel's own timestamps ("[    7.519686] …")
 * and the tools' own figures serve as cross-checks within one boot.
 */
import type { BootResult } from '../vm/vm.js';

export interface TimelineEvent {
  /** Index of the line in the log (0-based). */
  index: number;
  /** Host milliseconds since qemu started. */
  atMs: number;
  line: string;
  match: RegExpExecArray;
}

export class BenchParseError extends Error {}

export class ConsoleTimeline {
  readonly #lines: string[];

  constructor(readonly boot: BootResult) {
    this.#lines = boot.log.split('\n');
  }

  /** The first line at or after line `from` that matches, or undefined. */
  find(pattern: RegExp, from = 0): TimelineEvent | undefined {
    for (let index = from; index < this.#lines.length; index++) {
      const line = this.#lines[index]!;
      const match = pattern.exec(line);
      if (match) return { index, atMs: this.boot.lineTimesMs[index]!, line, match };
    }
    return undefined;
  }

  /** Like find, but a missing line is an error naming what was expected and where the log is. */
  expect(pattern: RegExp, what: string, from = 0): TimelineEvent {
    const event = this.find(pattern, from);
    if (!event) throw new BenchParseError(`${what}: no line matching ${pattern} in ${this.boot.logPath}`);
    return event;
  }

  /** The `HK:STAMP name` line. */
  stamp(name: string, from = 0): TimelineEvent {
    return this.expect(new RegExp(`HK:STAMP ${name} (\\d+(?:\\.\\d+)?)`), `stamp ${name}`, from);
  }

  /** When qemu exited: the machine's power-off. */
  get endMs(): number {
    return this.boot.elapsedMs;
  }
}

/** The kernel's timestamp of a console line, in milliseconds of its own clock. */
export function kernelTimeMs(event: TimelineEvent): number {
  const match = /\[\s*(\d+\.\d+)\]/.exec(event.line);
  if (!match) throw new BenchParseError(`no kernel timestamp in: ${event.line}`);
  return Number(match[1]) * 1000;
}

/** The guest uptime an HK:STAMP line carries, in milliseconds. */
export function stampTimeMs(event: TimelineEvent): number {
  return Number(event.match[1]) * 1000;
}
