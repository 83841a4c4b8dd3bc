// The shared image cases (test/resume-cases.ts) against both resume implementations, in dry-run
// mode on copies of the same disk: `resume({ dryRun: true })` in TypeScript on the emulated
// machine, `hiberkit-resume --dry-run` on a copy of its disk file. They must agree on every case:
// the outcome, the error code, and the disk afterwards, byte for byte. (The program is never run
// here without --dry-run: the host's /dev/snapshot is real. Real restores are compared in the VM.)
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { HiberkitError } from '../lib/errors.js';
import { parseConfig } from '../lib/config.js';
import { machinePaths } from '../lib/machine-paths.js';
import { resumeProgramPath } from '../lib/native/resume-program.js';
import { resume } from '../lib/resume.js';
import { signatureAt } from '../lib/image/format.js';
import type { MachineConfig } from '../emulator/config.js';
import { changeMachine, passphraseFileIn, useMachines } from './flows-support.js';
import { expectSameBytes } from './image-support.js';
import { HOST_LIKE, RESUME_CASES, configText, type CaseContext, type PreparedCase, type ResumeCase } from './resume-cases.js';

const machines = useMachines('resume-parity');
const context: CaseContext = {
  machine: (config = HOST_LIKE) => machines.machine(config),
  secretFile: (text) => passphraseFileIn(machines, text),
};

/** The emulated machine's disk: the TypeScript side resumes on it. */
const diskOf = (dir: string) => join(dir, 'disks', 'vda.img');

function machineConfig(dir: string): MachineConfig {
  return JSON.parse(readFileSync(join(dir, 'machine.json'), 'utf8')) as MachineConfig;
}

/** Page of the swap header of the machine's swap area: its resume offset. */
function resumePageOf(dir: string): number {
  const [swap] = machineConfig(dir).swaps;
  return swap?.type === 'file' ? swap.offsetPages : 0;
}

interface Verdict {
  outcome: string;
  /** The one line a refusal prints, for its kept/discarded wording. */
  line?: string;
}

async function typeScriptVerdict(c: ResumeCase, prepared: PreparedCase): Promise<Verdict> {
  const machine = machines.boot(prepared.dir);
  // As the CLI reads it: the config file's resume location ranks below the kernel command line.
  const { resumeDevice, resumeOffset, ...config } = parseConfig(configText(prepared.dir, '/dev/vda'));
  try {
    const result = await resume({
      ...config,
      ...(c.run.flags ? { resumeDevice: '/dev/vda', resumeOffset: resumePageOf(prepared.dir) } : {}),
      ...(c.run.passphrase !== undefined ? { passphraseFile: context.secretFile(c.run.passphrase) } : {}),
      ...(c.run.onBadPassphrase ? { onBadPassphrase: c.run.onBadPassphrase } : {}),
      configFile: { resumeDevice, resumeOffset },
      backend: machine.backend,
      dryRun: true,
    });
    return { outcome: result.status };
  } catch (err) {
    if (!(err instanceof HiberkitError)) throw err;
    return { outcome: err.code, line: err.message };
  }
}

function nativeVerdict(c: ResumeCase, prepared: PreparedCase, disk: string): Verdict {
  const dir = machines.dir();
  const config = join(dir, 'hiberkit.conf');
  writeFileSync(config, configText(prepared.dir, disk));
  // The machine's kernel command line stands in for the host's /proc/cmdline.
  const cmdline = join(dir, 'cmdline');
  writeFileSync(cmdline, `${machineConfig(prepared.dir).cmdline.map((word) => word.replaceAll('/dev/vda', disk)).join(' ')}\n`);
  const args = ['--dry-run', '--config', config, '--cmdline-file', cmdline];
  if (c.run.flags) args.push('--resume-device', disk, '--resume-offset', String(resumePageOf(prepared.dir)));
  if (c.run.passphrase !== undefined) args.push('--passphrase-file', context.secretFile(c.run.passphrase));
  if (c.run.onBadPassphrase) args.push('--on-bad-passphrase', c.run.onBadPassphrase);
  // Its default private key would be the host's /etc/hiberkit/key.
  if (c.run.keys) args.push('--secret-key', machinePaths(prepared.dir).secretKey);
  const run = spawnSync(resumeProgramPath(), args, { encoding: 'utf8', timeout: 60_000 });
  if (run.status === 0) {
    if (run.stdout.includes('hiberkit-resume: image OK:')) return { outcome: 'image-ok' };
    if (run.stderr.includes('noresume is on the kernel command line')) return { outcome: 'noresume' };
    if (run.stderr.includes('no hibernation image on')) return { outcome: 'no-image' };
  }
  const refusals = run.stderr.split('\n').filter((line) => /^hiberkit-resume: [A-Z_]+: /.test(line));
  // A refusal is one line, and the last one.
  expect(refusals, run.stderr).toHaveLength(1);
  expect(run.stderr.trimEnd().endsWith(refusals[0]!), run.stderr).toBe(true);
  expect(run.status, run.stderr).toBe(1);
  return { outcome: /^hiberkit-resume: ([A-Z_]+): /.exec(refusals[0]!)![1]!, line: refusals[0] };
}

describe('hiberkit resume and hiberkit-resume agree on every image case (dry run)', () => {
  test.each(RESUME_CASES)('$name: $expected.outcome, disk $expected.disk', async (c) => {
    const prepared = await c.prepare(context);
    // The hibernation that made the image learns its fate only in a later boot: not this test's business.
    prepared.pending?.catch(() => {});
    if (c.run.cmdline) changeMachine(prepared.dir, (config) => ({ ...config, cmdline: [...config.cmdline, ...c.run.cmdline!] }));
    const before = readFileSync(diskOf(prepared.dir));
    const copy = join(machines.dir(), 'vda.img');
    copyFileSync(diskOf(prepared.dir), copy);

    const native = nativeVerdict(c, prepared, copy);
    const typeScript = await typeScriptVerdict(c, prepared);
    expect({ native: native.outcome, typeScript: typeScript.outcome }).toEqual({ native: c.expected.outcome, typeScript: c.expected.outcome });

    const after = readFileSync(diskOf(prepared.dir));
    expectSameBytes(readFileSync(copy), after, 'the disks after both implementations');
    if (c.expected.disk !== 'discarded') {
      expectSameBytes(after, before, 'an untouched disk');
    } else {
      // Discarded: the swap header back at the resume page, so swapon takes the area again.
      expect(Buffer.compare(after, before)).not.toBe(0);
      const resumePage = resumePageOf(prepared.dir);
      expect(signatureAt(after.subarray(resumePage * 4096, (resumePage + 1) * 4096), 4086)).toBe('SWAPSPACE2');
    }
    const says = { discarded: /It was discarded and the swap signature put back/, kept: /The image is kept/, untouched: undefined }[c.expected.disk];
    if (says) for (const verdict of [native, typeScript]) expect(verdict.line).toMatch(says);
  });
});
