/**
 * Where a passphrase comes from: a file or an inherited file descriptor (automation, the VM
 * tests, unattended machines), or a prompt on the terminal without echo (a person at the
 * console of the initramfs). Passphrases are bytes, wiped by the caller after use.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { isatty } from 'node:tty';
import { HiberkitError } from '../errors.js';

export type PassphraseSource = { file: string } | { fd: number } | { prompt: string };

export function readPassphrase(source: PassphraseSource): Buffer {
  if ('file' in source) return stripNewline(readFileSync(source.file));
  if ('fd' in source) return stripNewline(readFileSync(source.fd));
  return promptWithoutEcho(source.prompt);
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

function stripNewline(bytes: Buffer): Buffer {
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  const passphrase = Buffer.from(bytes.subarray(0, end));
  bytes.fill(0);
  if (passphrase.length === 0) throw new HiberkitError('NO_PASSPHRASE', 'the passphrase is empty');
  return passphrase;
}

/**
 * Reads one line from the controlling terminal (or /dev/console in an initramfs) with echo off.
 * Synchronous on purpose: resume runs it before anything else happens, and it must work where
 * stdin is not the terminal.
 */
function promptWithoutEcho(prompt: string): Buffer {
  const path = ['/dev/tty', '/dev/console'].find((p) => {
    try {
      closeSync(openSync(p, 'r+'));
      return true;
    } catch {
      return false;
    }
  });
  if (!path) throw new HiberkitError('NO_PASSPHRASE', 'no terminal to ask for the passphrase: use --passphrase-file or --passphrase-fd');
  const fd = openSync(path, 'r+');
  try {
    if (!isatty(fd)) throw new HiberkitError('NO_PASSPHRASE', `${path} is not a terminal: use --passphrase-file or --passphrase-fd`);
    return withEchoOff(fd, () => {
      writeAll(fd, prompt);
      const line = readLine(fd);
      writeAll(fd, '\n');
      return line;
    });
  } finally {
    closeSync(fd);
  }
}

function readLine(fd: number): Buffer {
  const chunks: Buffer[] = [];
  const one = Buffer.alloc(1);
  while (readSync(fd, one, 0, 1, null) === 1 && one[0] !== 0x0a && one[0] !== 0x0d) chunks.push(Buffer.from(one));
  const line = Buffer.concat(chunks);
  for (const c of chunks) c.fill(0);
  return line;
}

function writeAll(fd: number, text: string): void {
  const bytes = Buffer.from(text);
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done);
}

/** Turns terminal echo off around `body` with stty on that terminal, and always back on. */
function withEchoOff<T>(fd: number, body: () => T): T {
  const stty = (arg: string) => execFileSync('stty', [arg], { stdio: [fd, 'ignore', 'ignore'] });
  stty('-echo');
  try {
    return body();
  } finally {
    stty('echo');
  }
}
