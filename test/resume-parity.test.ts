// The shared image cases (test/resume-cases.ts) against both resume implementations, in dry-run
// mode on copies of the same disk: `resume({ dryRun: true })` in TypeScript on the emulated
// machine, `hiberkit-resume --dry-run` on a copy of its disk file. They must agree on every case:
// the outcome, the error code, and the disk afterwards, byte for byte. (The program is never run
// here without --dry-run: the host's /dev/snapshot is real. Real restores are compared in the VM.)
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { HiberkitError } from '../lib/errors.js';
import { parseConfig } from '../lib/config.js';
import { machinePaths } from '../lib/machine-paths.js';
import { resumeProgramPath } from '../lib/native/resume-program.js';
import { resume } from '../lib/resume.js';
import { crc32c } from '../lib/codec/index.js';
import { decodeMarker, markResumePage, pageContentCrc, restoreOriginalPage, signatureAt } from '../lib/image/format.js';
import { HEADER } from '../lib/image/layout.js';
import type { MachineConfig } from '../emulator/config.js';
import { changeMachine, passphraseFileIn, useMachines } from './flows-support.js';
import { expectSameBytes, seededRandom } from './image-support.js';
import { HOST_LIKE, RESUME_CASES, configText, goodImage, type CaseContext, type PreparedCase, type ResumeCase } from './resume-cases.js';

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

/**
 * Why a refusal says the image was not restored, with the device's name taken out (each
 * implementation ran on its own copy), without what it says to do next (a boot, not a shell).
 */
function reasonOf(verdict: Verdict, device: string): string | undefined {
  return verdict.line
    ?.replace(/^hiberkit-resume: [A-Z_]+: /, '')
    .replace(/\. (The image is kept|It was discarded)[^]*$/, '')
    .replaceAll(device, 'DEVICE');
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
    // The same words too: the messages are ported with the checks.
    if (!c.wordsDiffer) expect(reasonOf(native, copy)).toBe(reasonOf(typeScript, '/dev/vda'));

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

/** Page `page` of a disk file, and writing one back. */
function readPage(disk: string, page: number): Buffer {
  const fd = openSync(disk, 'r');
  try {
    const bytes = Buffer.alloc(4096);
    readSync(fd, bytes, 0, 4096, page * 4096);
    return bytes;
  } finally {
    closeSync(fd);
  }
}

function writePage(disk: string, page: number, bytes: Uint8Array): void {
  const fd = openSync(disk, 'r+');
  try {
    writeSync(fd, bytes, 0, 4096, page * 4096);
  } finally {
    closeSync(fd);
  }
}

/**
 * Changes the header page of the image on `disk` and makes every CRC agree again (the header's
 * own, and the marker's copy of it): only the decoding of the header's fields can tell.
 */
function rewriteHeader(disk: string, change: (header: Buffer) => void): void {
  const marked = readPage(disk, 0);
  const { headerPage } = decodeMarker(marked);
  const header = readPage(disk, headerPage);
  change(header);
  header.writeUInt32LE(crc32c(header.subarray(0, HEADER.crc.at)), HEADER.crc.at);
  writePage(disk, headerPage, header);
  writePage(disk, 0, markResumePage(restoreOriginalPage(marked), headerPage, pageContentCrc(header)));
}

describe('header fields changed with every CRC fixed: both decode the header alike (seeded)', () => {
  test('40 changes of one byte, mostly in the fields and identity strings', async () => {
    const { machine, pending } = await goodImage(context);
    pending?.catch(() => {});
    const disk = diskOf(machine.dir);
    const pristine = readFileSync(disk);
    const random = seededRandom(11);
    const run: ResumeCase = { name: 'fuzz', prepare: async () => ({ dir: machine.dir, machine }), run: { flags: true }, expected: { outcome: '', disk: 'untouched' } };
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      writeFileSync(disk, pristine);
      // The fields and identity strings end at byte 218; the rest up to the CRC is reserved.
      const offset = random() < 0.8 ? Math.floor(random() * 218) : 218 + Math.floor(random() * (HEADER.crc.at - 218));
      const value = [0, 0xff, Math.floor(random() * 256)][Math.floor(random() * 3)]!;
      rewriteHeader(disk, (header) => {
        header[offset] = header[offset] === value ? value ^ 0x01 : value;
      });
      const copy = join(machines.dir(), 'vda.img');
      copyFileSync(disk, copy);
      const native = nativeVerdict(run, { dir: machine.dir, machine }, copy);
      const typeScript = await typeScriptVerdict(run, { dir: machine.dir, machine });
      expect(native.outcome, `byte ${offset} = ${value}: ${native.line}`).toBe(typeScript.outcome);
      expect(reasonOf(native, copy), `byte ${offset} = ${value}`).toBe(reasonOf(typeScript, '/dev/vda'));
      expectSameBytes(readFileSync(copy), readFileSync(disk), `the disks after byte ${offset} = ${value}`);
      outcomes.set(typeScript.outcome, (outcomes.get(typeScript.outcome) ?? 0) + 1);
    }
    // The changes reach more than one check (a sanity check of the generator, not of the readers).
    expect(outcomes.size).toBeGreaterThan(2);
    console.log(`header changes with CRCs fixed: ${[...outcomes].map(([outcome, n]) => `${outcome} ${n}`).join(', ')}`);
  });
});
