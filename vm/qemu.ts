/**
 * Boots the test VM once and returns what it printed.
 *
 * qemu runs under TCG (KVM is not available on the build machines) with the serial
 * console on stdio. The console is streamed to a log file under .cache/vm/logs/ (kept, so a
 * failure can be read afterwards) and parsed for protocol lines (guest/protocol.ts). A boot
 * ends when the guest powers off (qemu exits), the kernel panics or reboots (-no-reboot and
 * panic=-1 make qemu exit), or the timeout kills qemu.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type ConsoleLine, parseLine } from './guest/protocol.js';
import { LOG_DIR } from './paths.js';

export interface VmDisk {
  /** A raw image file on the host (see createDisk). The first disk is /dev/vda (254:0), the next /dev/vdb (254:16). */
  path: string;
  readOnly?: boolean;
}

export interface BootOptions {
  kernel: string;
  initrd: string;
  /** A scenario of vm/guest/scenarios/ (NAME.sh, or NAME.ts compiled to dist/), unless `script` is given. */
  scenario: string;
  /**
   * A shell script to run instead of a named scenario, handed to the guest through qemu's
   * fw_cfg (no initramfs rebuild). `scenario` then only names the log file.
   */
  script?: string;
  /** Exported to the scenario as HK_BOOT (default 1): lets one scenario hibernate in boot 1 and resume in boot 2. */
  boot?: number;
  disks?: VmDisk[];
  memMB?: number;
  cpus?: number;
  /** Extra kernel command-line words (e.g. `hk.image=...`, which the guest sees as HK_IMAGE). */
  cmdline?: string[];
  timeoutMs?: number;
  /**
   * Typed on the serial console, in order: each `text` once the console has shown its `prompt`
   * (after the previous answer). A prompt has no line end, so the raw output is watched.
   */
  consoleInput?: ConsoleAnswer[];
}

export interface ConsoleAnswer {
  prompt: RegExp;
  text: string;
}

export interface BootResult {
  scenario: string;
  boot: number;
  /** The whole console output. */
  log: string;
  logPath: string;
  lines: ConsoleLine[];
  /**
   * When each console line arrived on the host, in milliseconds since qemu was started (index:
   * line number − 1, as in ConsoleLine.lineNo). Guest uptime does not survive a resume; these do.
   */
  lineTimesMs: number[];
  /** qemu's exit status (0 after a guest power-off or reboot), null if it was killed. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** The status /init printed after the scenario (HK:EXIT), null if the scenario never returned. */
  scenarioExit: number | null;
  /** The kernel panicked (then qemu exits at once: panic=-1 and -no-reboot). */
  panicked: boolean;
  elapsedMs: number;
}

const DEFAULTS = { memMB: 1024, cpus: 1, timeoutMs: 300_000 };

/** A short description of a boot for assertion messages: how it ended and where its log is. */
export function describeBoot(result: BootResult): string {
  const ending = result.timedOut
    ? `timed out after ${result.elapsedMs} ms`
    : result.panicked
      ? 'kernel panic'
      : `qemu exited ${result.exitCode ?? result.signal}, scenario exit ${result.scenarioExit ?? 'none'}`;
  const errors = result.lines.filter((l) => l.kind === 'ERROR').map((l) => l.payload);
  return `${result.scenario} boot ${result.boot}: ${ending}${errors.length ? `; guest errors: ${errors.join('; ')}` : ''}; log: ${result.logPath}`;
}

function logFileName(scenario: string, boot: number): string {
  const time = new Date().toISOString().replace(/[:.]/g, '-');
  return `${time}-${scenario.replace(/[^\w.-]/g, '_')}-boot${boot}.log`;
}

function qemuArguments(options: BootOptions, scriptPath?: string): string[] {
  const boot = options.boot ?? 1;
  const append = ['console=ttyS0', 'panic=-1', `hk.scenario=${options.scenario}`, `hk.boot=${boot}`, ...(options.cmdline ?? [])];
  const args = [
    '-accel', 'tcg',
    '-cpu', 'max',
    '-m', String(options.memMB ?? DEFAULTS.memMB),
    '-smp', String(options.cpus ?? DEFAULTS.cpus),
    '-nographic',
    '-no-reboot',
    // No network device: the guest needs none, and its option ROM costs boot time.
    '-nic', 'none',
    '-kernel', options.kernel,
    '-initrd', options.initrd,
    '-append', append.join(' '),
  ];
  for (const disk of options.disks ?? []) {
    args.push('-drive', `file=${disk.path},format=raw,if=virtio${disk.readOnly ? ',readonly=on' : ''}`);
  }
  if (scriptPath) args.push('-fw_cfg', `name=opt/hk/scenario,file=${scriptPath}`);
  return args;
}

/** Writes each answer's text to `input` once `output` has shown its prompt, one after the other. */
function answerPrompts(output: NodeJS.ReadableStream, input: NodeJS.WritableStream, answers: ConsoleAnswer[]): void {
  // Only the end of the output matters: a prompt is the last thing before the guest waits.
  const KEEP = 4096;
  let seen = '';
  output.on('data', (chunk: Buffer) => {
    if (answers.length === 0) return;
    seen = (seen + chunk.toString('latin1')).slice(-KEEP);
    if (answers[0]!.prompt.test(seen)) {
      input.write(answers.shift()!.text);
      seen = '';
    }
  });
}

/** Boots the VM and resolves when qemu has exited (never rejects for guest failures: inspect the result). */
export async function runQemu(options: BootOptions): Promise<BootResult> {
  const boot = options.boot ?? 1;
  const timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutMs;
  mkdirSync(LOG_DIR, { recursive: true });
  const logPath = join(LOG_DIR, logFileName(options.scenario, boot));
  let scriptPath: string | undefined;
  if (options.script !== undefined) {
    scriptPath = logPath.replace(/\.log$/, '.script.sh');
    writeFileSync(scriptPath, options.script);
  }

  const started = Date.now();
  const answers = [...(options.consoleInput ?? [])];
  const child = spawn('qemu-system-x86_64', qemuArguments(options, scriptPath), { stdio: ['pipe', 'pipe', 'pipe'] });
  // Nothing to type: the console's input ends at once, as /dev/null's would.
  if (answers.length > 0) answerPrompts(child.stdout, child.stdin, answers);
  else child.stdin.end();
  // Never leave a qemu behind when the test process goes away first.
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);

  const logStream = createWriteStream(logPath);
  const text: string[] = [];
  const lines: ConsoleLine[] = [];
  const lineTimesMs: number[] = [];
  let lineNo = 0;
  let panicked = false;
  const reader = createInterface({ input: child.stdout, crlfDelay: Infinity });
  reader.on('line', (line) => {
    lineNo += 1;
    text.push(line);
    lineTimesMs.push(Date.now() - started);
    logStream.write(`${line}\n`);
    const parsed = parseLine(line, lineNo);
    if (parsed) lines.push(parsed);
    if (/Kernel panic - not syncing/.test(line)) panicked = true;
  });
  child.stderr.on('data', (chunk: Buffer) => logStream.write(`[qemu stderr] ${chunk.toString()}`));

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);

  const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.once('error', reject);
    // 'close' (not 'exit'): it fires after stdout has been read to the end.
    child.once('close', (code, sig) => resolve([code, sig]));
  }).finally(() => {
    clearTimeout(timer);
    process.removeListener('exit', killOnExit);
  });
  const elapsedMs = Date.now() - started;
  if (timedOut) logStream.write(`[hiberkit] qemu killed after the ${timeoutMs} ms timeout\n`);
  await new Promise<void>((resolve) => logStream.end(resolve));

  const exitLine = lines.filter((l) => l.kind === 'EXIT').at(-1);
  return {
    scenario: options.scenario,
    boot,
    log: text.join('\n'),
    logPath,
    lines,
    lineTimesMs,
    exitCode,
    signal,
    timedOut,
    scenarioExit: exitLine ? Number(exitLine.payload) : null,
    panicked,
    elapsedMs,
  };
}
