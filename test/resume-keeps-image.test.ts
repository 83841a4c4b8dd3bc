// A failed resume discards the image only when the image is proven bad for this machine (or a
// wrong passphrase was given with on-bad-passphrase = discard). A key that could not be obtained,
// a busy /dev/snapshot, a freeze that failed or an error nobody expected keeps it: the image is
// still valid afterwards and the next `hiberkit resume` with what was missing restores it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import { main } from '../lib/cli.js';
import { ERRNO, HiberkitError, SnapshotError, type HiberkitErrorCode } from '../lib/errors.js';
import { provesImageBad, resume } from '../lib/resume.js';
import type { FaultPlan } from '../emulator/faults.js';
import type { EmulatedMachine } from '../emulator/machine.js';
import { diskPage, inspectJson, signatureOf, useCliOutput, useMachines } from './flows-support.js';

const machines = useMachines('keeps');
const output = useCliOutput();

const KEPT = /^hiberkit: the image on \/dev\/vda was not restored: .*\. The image is kept: run `hiberkit resume` again .*, or `hiberkit discard` to drop it/m;

function passphraseFile(text: string): string {
  const file = join(machines.dir(), 'passphrase');
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

/** A machine hibernated by `hiberkit hibernate` with `flags`, switched off; and that command's exit code to come. */
async function hibernated(flags: string[] = []): Promise<{ machine: EmulatedMachine; exitCode: Promise<number> }> {
  const machine = machines.machine();
  const exitCode = main(['hibernate', '--emulate', machine.dir, ...flags]);
  await machine.switchedOff(exitCode);
  return { machine, exitCode };
}

/** The image is on disk, intact (inspect verifies every chunk), and resuming it now works. */
async function stillResumable(machine: EmulatedMachine, exitCode: Promise<number>, keyFlags: string[] = []): Promise<void> {
  expect(signatureOf(diskPage(machines.boot(machine.dir)))).toBe('HIBERKIT01');
  expect(await inspectJson(output, machine.dir, ...keyFlags)).toMatchObject({ present: true, valid: true });
  const resumed = await main(['resume', '--emulate', machine.dir, ...keyFlags]);
  expect(resumed, output.stderr).toBe(0);
  expect(await exitCode).toBe(0);
}

describe('a passphrase that cannot be obtained keeps the image', () => {
  const right = () => passphraseFile('correct horse battery staple\n');

  test.each([
    ['a passphrase file that does not exist', () => ['--passphrase-file', '/nonexistent/hiberkit-passphrase'], /cannot read the passphrase from the passphrase file \/nonexistent\/hiberkit-passphrase: no such file or directory \(ENOENT\)/],
    ['a passphrase file that is a directory', () => ['--passphrase-file', machines.dir()], /cannot read the passphrase from the passphrase file .*: .*\(EISDIR\)/],
    ['a descriptor that is not open', () => ['--passphrase-fd', '99'], /cannot read the passphrase from file descriptor 99 \(--passphrase-fd\): .*\(EBADF\)/],
    ['an empty passphrase file', () => ['--passphrase-file', passphraseFile('\n')], /the passphrase from the passphrase file .* is empty/],
  ])('%s: exit 1, NO_PASSPHRASE, the image kept; the right passphrase then resumes it', async (_what, flags, reason) => {
    const passphrase = right();
    const { machine, exitCode } = await hibernated(['--encrypt', 'passphrase', '--passphrase-file', passphrase]);
    output.stderr = '';
    expect(await main(['resume', '--emulate', machine.dir, ...flags()])).toBe(1);
    expect(output.stderr).toMatch(KEPT);
    expect(output.stderr).toMatch(reason);
    expect(output.stderr.trimEnd().split('\n')).toHaveLength(1);
    // inspect with the same flags fails the same way: no verdict on an image it could not open.
    output.stdout = '';
    output.stderr = '';
    expect(await main(['inspect', '--emulate', machine.dir, ...flags()])).toBe(1);
    expect(output.stderr).toMatch(reason);
    expect(output.stdout).toBe('');
    await stillResumable(machine, exitCode, ['--passphrase-file', passphrase]);
  });

  test('no terminal to ask on: NO_PASSPHRASE at once, the image kept', async () => {
    const passphrase = right();
    const { machine, exitCode } = await hibernated(['--encrypt', 'passphrase', '--passphrase-file', passphrase]);
    const next = machines.boot(machine.dir);
    // vitest's workers have no controlling terminal and stdin is not the console.
    const refusal = resume({ backend: next.backend });
    await expect(refusal).rejects.toMatchObject({ code: 'NO_PASSPHRASE', message: expect.stringMatching(/no terminal to ask for the passphrase on .*use --passphrase-file or --passphrase-fd.*The image is kept/) });
    await stillResumable(machine, exitCode, ['--passphrase-file', passphrase]);
  });
});

describe('a machine that cannot take the image now keeps it', () => {
  test.each<[string, FaultPlan, RegExp]>([
    ['/dev/snapshot busy (another tool has it)', { notifierVeto: ERRNO.EBUSY }, /open failed on \/dev\/snapshot: EBUSY/],
    ['FREEZE refused (a task would not freeze)', { freezeBusy: true }, /SNAPSHOT_FREEZE failed on \/dev\/snapshot: EBUSY/],
  ])('%s: refused, the image kept; the next resume restores it', async (_what, faults, reason) => {
    const { machine, exitCode } = await hibernated();
    const faulty = machines.boot(machine.dir, { faults });
    await expect(resume({ backend: faulty.backend })).rejects.toMatchObject({
      code: 'RESUME_FAILED',
      message: expect.stringMatching(new RegExp(`${reason.source}.*The image is kept: run \`hiberkit resume\` again once that is fixed`)),
    });
    // The trouble passes (this process runs the boot: the next command gets the same machine).
    faulty.faults.plan = {};
    await stillResumable(machine, exitCode);
  });

  test('an error nobody expected: RESUME_FAILED, the image kept', async () => {
    const { machine, exitCode } = await hibernated();
    const next = machines.boot(machine.dir);
    const broken = vi.spyOn(next.backend, 'openSnapshot').mockImplementation(() => {
      throw new TypeError('something went wrong inside');
    });
    await expect(resume({ backend: next.backend })).rejects.toMatchObject({
      code: 'RESUME_FAILED',
      message: expect.stringMatching(/not restored: something went wrong inside\. The image is kept/),
    });
    broken.mockRestore();
    await stillResumable(machine, exitCode);
  });
});

describe('provesImageBad: the allow-list of failures that discard an image', () => {
  const hiberkit = (code: HiberkitErrorCode) => new HiberkitError(code, 'x');
  test.each<HiberkitErrorCode>(['IMAGE_CORRUPT', 'IMAGE_TRUNCATED', 'UNSUPPORTED_VERSION', 'IMAGE_TAMPERED', 'WRONG_KERNEL', 'WRONG_MACHINE', 'IMAGE_NOT_ENCRYPTED', 'RESTORE_FAILED'])(
    '%s discards, whatever on-bad-passphrase says',
    (code) => {
      expect(provesImageBad(hiberkit(code), 'keep')).toBe(true);
      expect(provesImageBad(hiberkit(code), 'discard')).toBe(true);
    },
  );

  test.each<HiberkitErrorCode>(['WRONG_PASSPHRASE', 'WRONG_KEY'])('%s discards only with on-bad-passphrase = discard', (code) => {
    expect(provesImageBad(hiberkit(code), 'keep')).toBe(false);
    expect(provesImageBad(hiberkit(code), 'discard')).toBe(true);
  });

  test.each<[string, unknown]>([
    ['NO_PASSPHRASE', hiberkit('NO_PASSPHRASE')],
    ['BAD_KEY_FILE', hiberkit('BAD_KEY_FILE')],
    ['KEY_REQUIRED', hiberkit('KEY_REQUIRED')],
    ['IMAGE_NOT_INVALIDATED', hiberkit('IMAGE_NOT_INVALIDATED')],
    ['an I/O error', SnapshotError.fromErrno(ERRNO.EIO, 'pread', { path: '/dev/vda' })],
    ['ENOMEM from the kernel', SnapshotError.fromErrno(ERRNO.ENOMEM, 'write', { path: '/dev/snapshot' })],
    ['a system error from fs', Object.assign(new Error("ENOENT: no such file or directory, open '/x'"), { code: 'ENOENT', syscall: 'open', path: '/x' })],
    ['a plain exception', new RangeError('bug')],
    ['something thrown that is not an Error', 'a string'],
  ])('%s keeps the image, even with on-bad-passphrase = discard', (_what, err) => {
    expect(provesImageBad(err, 'discard')).toBe(false);
  });
});
