// The attacks of issue #10, made as an attacker with the swap disk (and what anyone may read)
// would make them, on emulated machines through the CLI: each one refused with its error code,
// nothing written to /dev/snapshot, the swap signature put back and the boot going on.
//
//   forged image      an image sealed to the public key by someone without the signing key
//                     (unsigned, or signed with a key of their own): IMAGE_FORGED
//   downgrade         a plain image where keys or encryption are configured: IMAGE_NOT_ENCRYPTED
//   replay            an old image's marker written back after the image was resumed, or
//                     discarded: its header (and key block) is gone, so it is IMAGE_CORRUPT
//   kind swap         an image sealed another way than this machine's: refused before any prompt
import { readFileSync, statSync, writeFileSync, mkdirSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import { main } from '../lib/cli.js';
import type { EmulatedMachine } from '../emulator/machine.js';
import { decodeMarker } from '../lib/image/format.js';
import { diskPage, hibernated, passphraseFileIn, signatureOf, useCliOutput, useMachines } from './flows-support.js';
import { resume } from '../lib/resume.js';
import { HiberkitError } from '../lib/errors.js';
import { loadConfig, type Settings } from '../lib/config.js';

const machines = useMachines('attacks');
const output = useCliOutput();
const PASSPHRASE = 'correct horse battery staple';

const passphraseFile = (text = PASSPHRASE): string => passphraseFileIn(machines, text);

/** The victim's key pair (keygen) and a config file recording it. */
async function victimKeys(): Promise<{ dir: string; config: string; passphrase: string }> {
  const dir = machines.dir();
  const config = join(dir, 'hiberkit.conf');
  const passphrase = passphraseFile();
  expect(await main(['keygen', '--out', join(dir, 'keys'), '--config', config, '--passphrase-file', passphrase])).toBe(0);
  return { dir: join(dir, 'keys'), config, passphrase };
}

/**
 * Resumes the next boot of `machine` (the library call, to see the error code) with `settings`;
 * expects a refusal with `code` in which nothing reached /dev/snapshot, the swap header back in
 * place, and the machine booting on. Returns the message.
 */
async function expectRefused(machine: EmulatedMachine, settings: Settings, code: string, hibernating: Promise<number>): Promise<string> {
  const original = diskPage(machine);
  const next = machines.boot(machine.dir);
  const openSnapshot = vi.spyOn(next.backend, 'openSnapshot');
  const refusal = await resume({ ...settings, backend: next.backend }).then(
    () => expect.fail('the image was resumed'),
    (err: unknown) => err,
  );
  expect(refusal).toBeInstanceOf(HiberkitError);
  const { code: actual, message } = refusal as HiberkitError;
  expect(actual, message).toBe(code);
  expect(message).toMatch(/It was discarded and the swap signature put back; the boot continues normally\.$/);
  expect(openSnapshot).not.toHaveBeenCalled();
  expect(signatureOf(diskPage(next))).toBe('SWAPSPACE2');
  expect(diskPage(next).subarray(0, 4048).equals(original.subarray(0, 4048))).toBe(true);
  next.finishBoot();
  expect(await hibernating).toBe(1);
  return message;
}

describe('a forged public-key image (made with the public key alone)', () => {
  test('unsigned (key.pub rewritten as an old v1 key, no signing key): IMAGE_FORGED, nothing uploaded', async () => {
    const victim = await victimKeys();
    const attacker = machines.dir();
    const publicText = readFileSync(join(victim.dir, 'key.pub'), 'utf8');
    writeFileSync(join(attacker, 'key.pub'), publicText.replace('hiberkit-public-key-v2:', 'hiberkit-public-key-v1:'));
    const machine = machines.machine();
    const { exitCode: hibernating } = await hibernated(machine, ['--encrypt', 'public-key', '--public-key', join(attacker, 'key.pub')]);
    expect(output.stdout).toContain('comes from an older hiberkit keygen without a signing key');
    const message = await expectRefused(machine, { ...loadConfig(victim.config), passphraseFile: victim.passphrase }, 'IMAGE_FORGED', hibernating);
    expect(message).toContain('carries no origin signature');
  });

  test('signed with a signing key of the attacker: IMAGE_FORGED, nothing uploaded', async () => {
    const victim = await victimKeys();
    const attackerKeys = machines.dir();
    expect(await main(['keygen', '--out', attackerKeys, '--passphrase-file', passphraseFile('attacker passphrase')])).toBe(0);
    // The victim's public key next to the attacker's own signing key.
    writeFileSync(join(attackerKeys, 'key.pub'), readFileSync(join(victim.dir, 'key.pub')));
    const machine = machines.machine();
    const { exitCode: hibernating } = await hibernated(machine, ['--encrypt', 'public-key', '--public-key', join(attackerKeys, 'key.pub')]);
    expect(output.stdout).toContain('hiberkit: image encrypted (public-key, AES-256-GCM, signed)\n');
    const message = await expectRefused(machine, { ...loadConfig(victim.config), passphraseFile: victim.passphrase }, 'IMAGE_FORGED', hibernating);
    expect(message).toContain('does not verify');
  });

  test('the genuine image, signed by this machine, resumes; its creation time is logged once authenticated', async () => {
    const victim = await victimKeys();
    const machine = machines.machine();
    const { exitCode: hibernating } = await hibernated(machine, ['--config', victim.config]);
    expect(output.stdout).toContain('hiberkit: image encrypted (public-key, AES-256-GCM, signed)\n');
    // The emulated swap disk is not on dm-crypt: memory pushed out to it is in clear, and hibernate says so.
    expect(output.stdout).toContain('hiberkit: warning: swap not encrypted: /dev/vda: memory the kernel pushes out');
    expect(await main(['resume', '--emulate', machine.dir, '--config', victim.config, '--passphrase-file', victim.passphrase])).toBe(0);
    expect(output.stdout).toMatch(/^hiberkit: image made \d{4}-\d\d-\d\dT[\d:.]+Z by kernel .*, authenticated$/m);
    expect(await hibernating).toBe(0);
  });

  test('hibernate with a v2 public key but no signing key stops before anything is frozen', async () => {
    const victim = await victimKeys();
    const alone = machines.dir();
    writeFileSync(join(alone, 'key.pub'), readFileSync(join(victim.dir, 'key.pub')));
    const machine = machines.machine();
    expect(await main(['hibernate', '--emulate', machine.dir, '--encrypt', 'public-key', '--public-key', join(alone, 'key.pub')])).toBe(1);
    expect(output.stderr).toMatch(/cannot read the signing key .*sign\.key/);
    expect(signatureOf(diskPage(machine))).toBe('SWAPSPACE2');
  });
});

describe('a plain image where encryption is configured (downgrade)', () => {
  test('keygen records encrypt = public-key; resume with that config refuses a plain image: IMAGE_NOT_ENCRYPTED', async () => {
    const victim = await victimKeys();
    expect(readFileSync(victim.config, 'utf8')).toMatch(/^encrypt = public-key$/m);
    const machine = machines.machine();
    const { exitCode: hibernating } = await hibernated(machine, ['--encrypt', 'none']);
    await expectRefused(machine, { ...loadConfig(victim.config), passphraseFile: victim.passphrase }, 'IMAGE_NOT_ENCRYPTED', hibernating);
  });

  test('a secret key configured without an encrypt setting is enough to refuse it', async () => {
    const victim = await victimKeys();
    const machine = machines.machine();
    const { exitCode: hibernating } = await hibernated(machine, []);
    await expectRefused(machine, { secretKey: join(victim.dir, 'key'), passphraseFile: victim.passphrase }, 'IMAGE_NOT_ENCRYPTED', hibernating);
  });

  test('keys configured without an encrypt setting: hibernate encrypts to them, as resume will expect', async () => {
    const victim = await victimKeys();
    writeFileSync(victim.config, readFileSync(victim.config, 'utf8').replace(/^encrypt = .*\n/m, ''));
    const machine = machines.machine();
    const { exitCode: hibernating } = await hibernated(machine, ['--config', victim.config]);
    expect(output.stdout).toContain('hiberkit: image encrypted (public-key, AES-256-GCM, signed)\n');
    expect(await main(['resume', '--emulate', machine.dir, '--config', victim.config, '--passphrase-file', victim.passphrase])).toBe(0);
    expect(await hibernating).toBe(0);
  });

  test('only an explicit encrypt = none accepts plain images again', async () => {
    const victim = await victimKeys();
    writeFileSync(victim.config, readFileSync(victim.config, 'utf8').replace('encrypt = public-key', 'encrypt = none'));
    const machine = machines.machine();
    const { exitCode: hibernating } = await hibernated(machine, []);
    expect(await main(['resume', '--emulate', machine.dir, '--config', victim.config])).toBe(0);
    expect(await hibernating).toBe(0);
  });
});

describe('an old image put back (replay)', () => {
  /** The resume page as an attacker copied it while the image was there (one page; its CRCs are public). */
  const copyMarker = (machine: EmulatedMachine): Buffer => Buffer.from(diskPage(machine));
  const writeBack = (machine: EmulatedMachine, page: Buffer): void => machine.disks.writePage(machine.disks.byDevice('/dev/vda')!, 0, page);

  test('re-marked after it was resumed: its header is gone, IMAGE_CORRUPT, nothing uploaded', async () => {
    const pass = passphraseFile();
    const machine = machines.machine();
    const { exitCode: first } = await hibernated(machine, ['--encrypt', 'passphrase', '--passphrase-file', pass]);
    const marked = copyMarker(machine);
    const { headerPage } = decodeMarker(marked);
    expect(await main(['resume', '--emulate', machine.dir, '--passphrase-file', pass])).toBe(0);
    expect(await first).toBe(0);
    // Resume destroyed the header (and the key block in it) before restoring.
    expect(diskPage(machine, headerPage).every((byte) => byte === 0)).toBe(true);

    const { exitCode: second } = await hibernated(machine, ['--encrypt', 'passphrase', '--passphrase-file', pass]);
    writeBack(machine, marked);
    const message = await expectRefused(machine, { encrypt: 'passphrase', passphraseFile: pass }, 'IMAGE_CORRUPT', second);
    expect(message).toContain('not the one the marker was written for');
  });

  test('re-marked after it was discarded: IMAGE_CORRUPT, nothing uploaded', async () => {
    const pass = passphraseFile();
    const machine = machines.machine();
    const { exitCode: hibernating } = await hibernated(machine, ['--encrypt', 'passphrase', '--passphrase-file', pass]);
    const marked = copyMarker(machine);
    expect(await main(['discard', '--emulate', machine.dir])).toBe(0);
    expect(diskPage(machines.boot(machine.dir), decodeMarker(marked).headerPage).every((byte) => byte === 0)).toBe(true);
    writeBack(machine, marked);
    await expectRefused(machine, { encrypt: 'passphrase', passphraseFile: pass }, 'IMAGE_CORRUPT', hibernating);
  });

  test('re-marked after a refusal: IMAGE_CORRUPT the second time too', async () => {
    const victim = await victimKeys();
    const machine = machines.machine();
    const { exitCode: hibernating } = await hibernated(machine, ['--encrypt', 'none']);
    const marked = copyMarker(machine);
    await expectRefused(machine, { ...loadConfig(victim.config), passphraseFile: victim.passphrase }, 'IMAGE_NOT_ENCRYPTED', hibernating);
    // The attacker writes the copied page back while the machine is off.
    machines.boot(machine.dir).shutdown();
    writeBack(machine, marked);
    const next = machines.boot(machine.dir);
    const openSnapshot = vi.spyOn(next.backend, 'openSnapshot');
    const from = output.stderr.length;
    expect(await main(['resume', '--emulate', machine.dir, '--encrypt', 'none'])).toBe(1);
    expect(output.stderr.slice(from)).toContain('not the one the marker was written for');
    expect(openSnapshot).not.toHaveBeenCalled();
  });
});

test('an image sealed another way than configured is refused before any prompt (its kind byte is not authenticated yet)', async () => {
  const victim = await victimKeys();
  const machine = machines.machine();
  await hibernated(machine, ['--encrypt', 'passphrase', '--passphrase-file', passphraseFile()]);
  const next = machines.boot(machine.dir);
  const openSnapshot = vi.spyOn(next.backend, 'openSnapshot');
  // No passphrase source at all: a prompt would fail with NO_PASSPHRASE instead.
  expect(await main(['resume', '--emulate', machine.dir, '--config', victim.config])).toBe(1);
  expect(output.stderr).toMatch(/sealed with a passphrase, but this machine seals its images with a public-key/);
  expect(output.stderr).toContain('The image is kept');
  expect(openSnapshot).not.toHaveBeenCalled();
});

describe('keygen (issue #10)', () => {
  test('--force replaces key files with new 0600 files in a 0700 directory, whatever the old modes', async () => {
    const dir = join(machines.dir(), 'keys');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    for (const name of ['key', 'sign.key']) writeFileSync(join(dir, name), 'old\n', { mode: 0o644 });
    expect(await main(['keygen', '--out', dir, '--force', '--passphrase-file', passphraseFile()])).toBe(0);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'sign.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'key.pub')).mode & 0o777).toBe(0o644);
    expect(readFileSync(join(dir, 'key'), 'utf8')).not.toContain(readFileSync(join(dir, 'key.pub'), 'utf8').trim().split(':')[1]);
  });

  test('a passphrase shorter than 8 characters is refused, at keygen and at hibernate --encrypt passphrase', async () => {
    const short = passphraseFile('short');
    expect(await main(['keygen', '--out', join(machines.dir(), 'keys'), '--passphrase-file', short])).toBe(1);
    expect(output.stderr).toMatch(/at least 8/);
    const machine = machines.machine();
    expect(await main(['hibernate', '--emulate', machine.dir, '--encrypt', 'passphrase', '--passphrase-file', short])).toBe(1);
    expect(signatureOf(diskPage(machine))).toBe('SWAPSPACE2');
  });
});
