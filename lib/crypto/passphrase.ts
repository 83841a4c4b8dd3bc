/**
 * Where a passphrase comes from: a file or an inherited file descriptor (automation, the VM
 * tests, unattended machines), or a prompt on the terminal without echo (a person at the
 * console of the initramfs). Passphrases are bytes, wiped by the caller after use.
 */
import { closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { isatty, ReadStream } from 'node:tty';
import { HiberkitError } from '../errors.js';
import { reasonOf } from '../describe-error.js';

export type PassphraseSource = { file: string } | { fd: number } | { prompt: string };

export function readPassphrase(source: PassphraseSource): Buffer {
  if ('prompt' in source) return promptWithoutEcho(source.prompt);
  const from = 'file' in source ? `the passphrase file ${source.file}` : `file descriptor ${source.fd} (--passphrase-fd)`;
  let bytes: Buffer;
  try {
    bytes = readFileSync('file' in source ? source.file : source.fd);
  } catch (err) {
    throw new HiberkitError('NO_PASSPHRASE', `cannot read the passphrase from ${from}: ${reasonOf(err)}`, { cause: err });
  }
  return stripNewline(bytes, from);
}

/** A passphrase being set: typed twice at a prompt, so a typo cannot lock the user out. */
export function readNewPassphrase(source: PassphraseSource): Buffer {
  const first = readPassphrase(source);
  if (!('prompt' in source)) return first;
  const again = readPassphrase({ prompt: 'Repeat it: ' });
  const same = again.equals(first);
  again.fill(0);
  if (!same) {
    first.fill(0);
    throw new HiberkitError('NO_PASSPHRASE', 'the two passphrases differ');
  }
  return first;
}

function stripNewline(bytes: Buffer, from: string): Buffer {
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  const passphrase = Buffer.from(bytes.subarray(0, end));
  bytes.fill(0);
  if (passphrase.length === 0) throw new HiberkitError('NO_PASSPHRASE', `the passphrase from ${from} is empty`);
  return passphrase;
}

/**
 * Reads one line from the controlling terminal (or /dev/console in an initramfs) with echo off.
 * Synchronous on purpose: resume runs it before anything else happens, and it must work where
 * stdin is not the terminal.
 */
function promptWithoutEcho(prompt: string): Buffer {
  const path = findTerminal();
  if (!path) {
    throw new HiberkitError(
      'NO_PASSPHRASE',
      'no terminal to ask for the passphrase on (no controlling terminal, and stdin is not the console): use --passphrase-file or --passphrase-fd',
    );
  }
  const fd = openSync(path, 'r+');
  try {
    return withRawTerminal(path, () => {
      writeAll(fd, prompt);
      try {
        return readLine(fd);
      } finally {
        writeAll(fd, '\n');
      }
    });
  } finally {
    closeSync(fd);
  }
}

/**
 * The terminal a person can answer on: the controlling terminal, or in an initramfs (where init
 * has none) the console when stdin is on it. Anything else (a service, a pipeline without a
 * terminal) gets no prompt: it would wait for ever for an answer nobody can type.
 */
function findTerminal(): string | undefined {
  if (isTerminal('/dev/tty')) return '/dev/tty';
  return isatty(0) && isTerminal('/dev/console') ? '/dev/console' : undefined;
}

function isTerminal(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch {
    return false;
  }
  try {
    return isatty(fd);
  } finally {
    closeSync(fd);
  }
}

const CTRL_C = 0x03;
const CTRL_D = 0x04;
const BACKSPACE = [0x08, 0x7f];
const CTRL_U = 0x15;

/**
 * One line typed in raw mode (no echo, no signals from the keyboard): Enter ends it, Backspace
 * and Ctrl-U edit it, Ctrl-C (or Ctrl-D on an empty line) abandons the prompt.
 */
function readLine(fd: number): Buffer {
  const typed: number[] = [];
  const one = Buffer.alloc(1);
  try {
    for (;;) {
      if (readSync(fd, one, 0, 1, null) !== 1) throw new HiberkitError('NO_PASSPHRASE', 'the terminal closed before a passphrase was entered');
      const byte = one[0]!;
      if (byte === 0x0a || byte === 0x0d) return Buffer.from(typed);
      if (byte === CTRL_C || (byte === CTRL_D && typed.length === 0)) {
        throw new HiberkitError('NO_PASSPHRASE', `the passphrase prompt was abandoned (${byte === CTRL_C ? 'Ctrl-C' : 'Ctrl-D'})`);
      }
      if (BACKSPACE.includes(byte)) typed.pop();
      else if (byte === CTRL_U) typed.length = 0;
      else typed.push(byte);
    }
  } finally {
    typed.fill(0);
    one.fill(0);
  }
}

function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text);
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done);
}

/**
 * Puts the terminal in raw mode (echo off) around `body`, and always back. Raw mode is set through
 * a tty.ReadStream on a descriptor of its own: libuv re-opens that one non-blocking, which must
 * not happen to the descriptor read from. Node puts a terminal libuv made raw back to its saved
 * mode when SIGINT or SIGTERM ends the process, so a signal during the prompt leaves echo on.
 */
function withRawTerminal<T>(path: string, body: () => T): T {
  const control = new ReadStream(openSync(path, 'r+'));
  try {
    control.setRawMode(true);
    try {
      return body();
    } finally {
      control.setRawMode(false);
    }
  } finally {
    control.destroy();
  }
}
