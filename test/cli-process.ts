/**
 * The built CLI (dist/lib/cli.js) run as a user runs it, in a separate node process: for the
 * tests that need a real process (exit codes, stderr as written, locks and devices held by
 * another process). buildUnlessFresh() compiles dist first when a source is newer.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'vitest';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CLI = join(ROOT, 'dist/lib/cli.js');

export interface RunningCli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts `node dist/lib/cli.js ...args`; `extraFds` adds pipes after stdio (fd 3, …). */
export function startCli(args: string[], extraFds = 0): RunningCli {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe', ...Array<'pipe'>(extraFds).fill('pipe')] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

export async function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const run = startCli(args);
  const code = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/** Newest modification time of the TypeScript sources the CLI is built from. */
function newestSource(): number {
  let newest = statSync(join(ROOT, 'tsconfig.build.json')).mtimeMs;
  for (const dir of ['lib', 'emulator']) {
    for (const file of readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })) {
      if (file.endsWith('.ts')) newest = Math.max(newest, statSync(join(ROOT, dir, file)).mtimeMs);
    }
  }
  return newest;
}

/** `npx tsc -p tsconfig.build.json`, unless dist is newer than every source (as right after `npm run build`). */
export async function buildUnlessFresh(): Promise<void> {
  if (existsSync(CLI) && statSync(CLI).mtimeMs > newestSource()) return;
  const started = Date.now();
  // Other people's files may be mid-edit and fail the typecheck; tsc emits all the same, and the emitted CLI is what is tested here.
  await promisify(execFile)(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')]).catch(() => {});
  expect(statSync(CLI).mtimeMs).toBeGreaterThanOrEqual(started - 1000);
}
