/**
 * A command on a new pseudo-terminal (made by util-linux `script`), for the tests of passphrase
 * prompts: type into it, wait for what it shows, see its exit code. Shared by the TypeScript
 * prompt's tests (test/passphrase-prompt.test.ts) and the C++ one's (test/native-image-keys.test.ts).
 */
import { spawn } from 'node:child_process';

export interface TerminalSession {
  /** Types `keys` at the terminal. */
  type(keys: string): void;
  /** Everything the terminal has shown so far, raw (line ends \r\n). */
  shown(): string;
  /** Resolves once the terminal has shown `text` `times` times. */
  whenShown(text: string, times?: number): Promise<void>;
  /** Everything the terminal showed (line ends \n) and the exit code, once the command is done. */
  finished: Promise<{ shown: string; code: number | null }>;
}

export function startOnTerminal(shellCommand: string): TerminalSession {
  const child = spawn('script', ['--quiet', '--flush', '--return', '--command', shellCommand, '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let shown = '';
  const waiting: { text: string; times: number; resolve: () => void }[] = [];
  const settle = () => {
    for (const wait of [...waiting]) {
      if (shown.split(wait.text).length - 1 >= wait.times) {
        waiting.splice(waiting.indexOf(wait), 1);
        wait.resolve();
      }
    }
  };
  child.stdout.on('data', (chunk: Buffer) => {
    shown += chunk.toString('utf8');
    settle();
  });
  return {
    type: (keys) => child.stdin.write(keys),
    shown: () => shown,
    whenShown: (text, times = 1) =>
      new Promise((resolve) => {
        waiting.push({ text, times, resolve });
        settle();
      }),
    finished: new Promise((resolve) => child.on('close', (code) => resolve({ shown: shown.replace(/\r\n/g, '\n'), code }))),
  };
}

/**
 * Runs `shellCommand` on a new pseudo-terminal; once `prompt` appears, `answer` gets a way to type
 * and the output so far. Resolves with everything the terminal showed and the exit code.
 */
export function onTerminal(shellCommand: string, prompt: string, answer: (type: (keys: string) => void, shown: string) => void): Promise<{ shown: string; code: number | null }> {
  const session = startOnTerminal(shellCommand);
  void session.whenShown(prompt).then(() => answer(session.type, session.shown()));
  return session.finished;
}

/** `text` quoted for a POSIX shell. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
