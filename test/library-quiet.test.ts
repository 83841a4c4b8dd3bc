// A library prints nothing it was not asked to: hibernate() and resume() report through
// onProgress, and the critical section (which cannot call back into JavaScript while user space is
// frozen) writes its lines only to the descriptor given as progressFd. Run in a separate process
// so that everything written to its stdout and stderr is seen.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, expect, test } from 'vitest';
import { ROOT, buildUnlessFresh } from './cli-process.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

beforeAll(buildUnlessFresh, 120_000);

/** One hibernate/resume cycle of an emulated machine through the library, with `extra` options; what the process wrote. */
async function cycle(extra: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'hiberkit-quiet-'));
  dirs.push(dir);
  const program = `const { createEmulatedMachine, openEmulatedMachine } = await import(${JSON.stringify(join(ROOT, 'dist/emulator/index.js'))});
const { hibernate, resume } = await import(${JSON.stringify(join(ROOT, 'dist/lib/index.js'))});
const seen = [];
createEmulatedMachine(process.argv[1], { config: { memoryBytes: 32 << 20, swaps: [{ type: 'partition', device: '/dev/vda', sizeBytes: 32 << 20 }] } });
const machine = openEmulatedMachine(process.argv[1]);
const pending = hibernate({ backend: machine.backend, onProgress: (line) => seen.push(line), ${extra} });
await machine.switchedOff(pending);
const restored = await resume({ backend: openEmulatedMachine(process.argv[1]).backend, onProgress: (line) => seen.push(line), ${extra} });
await pending;
if (restored.status !== 'restored' || seen.length === 0) process.exitCode = 3;`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', program, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { code, stdout, stderr };
}

test('hibernate and resume with onProgress only: nothing on stdout or stderr', async () => {
  expect(await cycle('')).toEqual({ code: 0, stdout: '', stderr: '' });
});

test('with progressFd: 2 the critical section writes its lines there', async () => {
  const { code, stdout, stderr } = await cycle('progressFd: 2');
  expect({ code, stdout }).toEqual({ code: 0, stdout: '' });
  expect(stderr).toMatch(
    /^hiberkit: snapshot of \d+ MiB taken in \d+ ms\nhiberkit: image saved; powering off\nhiberkit: the emulated machine in \S+ is off; its image waits for the next boot\. Resume it with `hiberkit resume --emulate \S+` [^\n]*\nhiberkit: resumed\n$/,
  );
});
