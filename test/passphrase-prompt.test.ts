// The passphrase prompt on a real terminal (a pseudo-terminal made by util-linux `script`): echo is
// off while typing, Backspace edits, Ctrl-C abandons the prompt with a clear error (and at resume
// the image is kept), and a SIGTERM or SIGINT during the prompt leaves the terminal echoing again. Without a
// terminal there is no prompt: NO_PASSPHRASE at once instead of a silent wait.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { createEmulatedMachine } from '../emulator/create.js';
import { CLI, ROOT, buildUnlessFresh, runCli, startCli } from './cli-process.js';
import { SMALL } from './flows-support.js';
import { onTerminal, shellQuote } from './terminal-session.js';

const PASSPHRASE_MODULE = join(ROOT, 'dist/lib/crypto/passphrase.js');

/** A node program that asks once and prints what it got (or the error's code and message). */
const ASK = `const { readPassphrase } = await import(${JSON.stringify(PASSPHRASE_MODULE)});
process.stdout.write('pid ' + process.pid + '\\n');
try {
  process.stdout.write('GOT[' + readPassphrase({ prompt: 'Passphrase: ' }) + ']\\n');
} catch (err) {
  process.stdout.write('ERR ' + err.code + ': ' + err.message + '\\n');
}`;

/** `node -e ASK`, then stty's view of echo on the same terminal (`echo` or `-echo`). */
const askThenShowEcho = `${JSON.stringify(process.execPath)} --input-type=module -e ${shellQuote(ASK)}; stty -a | tr ' ' '\\n' | grep -x -- '-\\?echo'`;

beforeAll(buildUnlessFresh, 120_000);

describe('the prompt on a terminal', () => {
  test('echo is off while typing; Backspace edits; Enter ends it; echo is back afterwards', async () => {
    const { shown, code } = await onTerminal(askThenShowEcho, 'Passphrase: ', (type) => type('secrx\x7ft\r'));
    expect(code).toBe(0);
    expect(shown).toMatch(/Passphrase: \nGOT\[secrt\]\necho\n$/);
    expect(shown).not.toContain('secrx');
  });

  test('Ctrl-C abandons the prompt with NO_PASSPHRASE; echo is back', async () => {
    const { shown } = await onTerminal(askThenShowEcho, 'Passphrase: ', (type) => type('sec\x03'));
    expect(shown).toMatch(/Passphrase: \nERR NO_PASSPHRASE: the passphrase prompt was abandoned \(Ctrl-C\)\necho\n$/);
  });

  test.each(['SIGTERM', 'SIGINT'] as const)('%s during the prompt ends the process and leaves the terminal echoing', async (signal) => {
    const { shown } = await onTerminal(askThenShowEcho, 'Passphrase: ', (type, sofar) => {
      type('sec');
      setTimeout(() => process.kill(Number(/pid (\d+)/.exec(sofar)![1]), signal), 200);
    });
    expect(shown).not.toContain('GOT[');
    // stty's last word: `echo`, not `-echo` (the shell may or may not have said "Terminated" first).
    expect(shown).toMatch(/(?<!-)echo\n$/);
  });
});

test('no terminal at all (no controlling terminal, stdin not the console): NO_PASSPHRASE at once', async () => {
  // detached: a new session, so there is no controlling terminal; stdin is /dev/null.
  const child = spawn(process.execPath, ['--input-type=module', '-e', ASK], { detached: true, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const started = Date.now();
  await new Promise((resolve) => child.on('close', resolve));
  expect(out).toMatch(/ERR NO_PASSPHRASE: no terminal to ask for the passphrase on .*use --passphrase-file or --passphrase-fd\n$/);
  expect(Date.now() - started).toBeLessThan(5000);
});

describe('Ctrl-C at the resume prompt', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hiberkit-prompt-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('resume stops with one line, keeps the image, and the next resume with the passphrase restores it', async () => {
    const machineDir = join(dir, 'machine');
    createEmulatedMachine(machineDir, { config: SMALL });
    const passphrase = join(dir, 'passphrase');
    writeFileSync(passphrase, 'correct horse battery staple\n', { mode: 0o600 });
    const hibernating = startCli(['hibernate', '--emulate', machineDir, '--encrypt', 'passphrase', '--passphrase-file', passphrase]);
    // Off again, after this boot: the machine was off before the command booted it too.
    await vi.waitFor(() => expect(hibernating.stdout()).toContain('hiberkit: freezing and saving the image'), { timeout: 15_000, interval: 20 });
    await vi.waitFor(() => expect(JSON.parse(readFileSync(join(machineDir, 'kernel.json'), 'utf8'))).toMatchObject({ state: 'off' }), { timeout: 15_000, interval: 20 });

    const resume = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} resume --emulate ${JSON.stringify(machineDir)}`;
    const { shown, code } = await onTerminal(resume, 'Passphrase to resume: ', (type) => type('\x03'));
    expect(code, shown).toBe(1);
    expect(shown).toMatch(/Passphrase to resume: \nhiberkit: the image on \/dev\/vda was not restored: the passphrase prompt was abandoned \(Ctrl-C\)\. The image is kept: run `hiberkit resume` again with the right key, or `hiberkit discard` to drop it/);

    const resumed = await runCli(['resume', '--emulate', machineDir, '--passphrase-file', passphrase]);
    expect(resumed, resumed.stderr).toMatchObject({ code: 0, stdout: expect.stringContaining('hiberkit: image restored from /dev/vda') });
    expect(await hibernating.exited).toBe(0);
  });
});
