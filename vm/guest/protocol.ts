/**
 * The line protocol between a guest scenario and the host, over the serial console.
 *
 * The guest prints `HK:<KIND> <payload>` lines; everything else on the console (kernel
 * messages, tool output) is kept in the log but ignored by the parser. The kernel can print
 * in front of a guest line without a newline in between, so the host looks for `HK:` anywhere
 * in a line, not only at its start.
 *
 * Kinds:
 *   HK:STAMP <name> <uptime seconds>  a phase boundary (`cut -d' ' -f1 /proc/uptime`)
 *   HK:CASE {"id","phase","ok","ms","error"?}
 *                                     one conformance case
 *   HK:RESULT {...}                   a scenario's measurements or facts, free-form JSON
 *   HK:EXIT <status>                  the scenario ended with this exit status (printed by /init)
 *   HK:ERROR <text>                   the scenario, or /init, could not do something
 *
 * This file is compiled into dist/ for the guest and imported from TypeScript by the host,
 * so both sides share one definition.
 */

export type LineKind = 'STAMP' | 'CASE' | 'RESULT' | 'EXIT' | 'ERROR';

/** One guest case outcome, as the conformance runner prints it. */
export interface CaseReport {
  id: string;
  ok: boolean;
  /** The assertion or device error, when `ok` is false. */
  error?: string;
  /** The run it belongs to (guest/conformance-plan.ts: root, nobody, root-resume). */
  phase: string;
  /** How long the case took in the guest. */
  ms: number;
}

/** A parsed `HK:` line. `json` is set for kinds whose payload is JSON and parsed cleanly. */
export interface ConsoleLine {
  kind: string;
  payload: string;
  json?: unknown;
  /** 1-based line number in the console log, to find the context around it. */
  lineNo: number;
}

const JSON_KINDS = new Set(['CASE', 'RESULT']);

/** Formats one protocol line (no trailing newline). */
export function formatLine(kind: LineKind, payload: string | object): string {
  const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
  return `HK:${kind} ${text}`;
}

/** Parses one console line; undefined when it carries no protocol line. */
export function parseLine(line: string, lineNo: number): ConsoleLine | undefined {
  const match = /HK:([A-Z]+)(?: (.*))?$/.exec(line.replace(/\r$/, ''));
  if (!match) return undefined;
  const kind = match[1]!;
  const payload = (match[2] ?? '').trim();
  const parsed: ConsoleLine = { kind, payload, lineNo };
  if (JSON_KINDS.has(kind)) {
    // A kernel message printed into the middle of a line garbles it; the host then reports
    // the line as malformed (json stays undefined) instead of guessing.
    try {
      parsed.json = JSON.parse(payload);
    } catch {
      /* malformed: leave json undefined */
    }
  }
  return parsed;
}

/** The `HK:STAMP` lines as name → uptime seconds (the last one wins for a repeated name). */
export function stampsOf(lines: readonly ConsoleLine[]): Map<string, number> {
  const stamps = new Map<string, number>();
  for (const line of lines) {
    if (line.kind !== 'STAMP') continue;
    const [name, uptime] = line.payload.split(/\s+/);
    const seconds = Number(uptime);
    if (name && Number.isFinite(seconds)) stamps.set(name, seconds);
  }
  return stamps;
}

/** The JSON payloads of every line of one kind that parsed. */
export function payloadsOf<T>(lines: readonly ConsoleLine[], kind: 'CASE' | 'RESULT'): T[] {
  return lines.filter((l) => l.kind === kind && l.json !== undefined).map((l) => l.json as T);
}
