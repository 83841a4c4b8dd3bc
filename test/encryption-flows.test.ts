// Encrypted images through the CLI on an emulated machine: sealed with a passphrase (read from a
// file) or to a public key made by `hiberkit keygen`, resumed with the right secret; a wrong
// passphrase either keeps the image for another try or discards it, as asked; `discard` needs no
// key; a machine set up for encryption refuses a plain image put in place of its encrypted one.
// The image on disk holds no page of the RAM in clear.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import { main } from '../lib/cli.js';
import type { EmulatedMachine } from '../emulator/machine.js';
import { PAGE_ANON } from '../emulator/ram.js';
import { diskPage, hibernated, inspectJson, passphraseFileIn, signatureOf, useCliOutput, useMachines } from './flows-support.js';

const machines = useMachines('encryption');
const output = useCliOutput();

const secretFile = (text: string): string => passphraseFileIn(machines, text);

/** Anonymous pages of the RAM the image was made from: process memory, which must not be on disk in clear. */
function anonymousPages(machine: EmulatedMachine, count: number): Buffer[] {
  const found: Buffer[] = [];
  for (const range of machine.map.ranges) {
    for (let pfn = range.start; pfn < range.end && found.length < count; pfn++) {
      const page = machine.ram.page(pfn);
      if (machine.ram.pageState(pfn) === PAGE_ANON && page.some((byte) => byte !== 0)) found.push(Buffer.from(page));
    }
  }
  return found;
}

describe('an image sealed with a passphrase', () => {
  test('hibernate and resume with --passphrase-file; the disk holds no RAM page in clear', async () => {
    const machine = machines.machine();
    const passphrase = secretFile('correct horse battery staple');
    const { exitCode: hibernating } = await hibernated(machine, ['--encrypt', 'passphrase', '--passphrase-file', passphrase, '--compress', 'none']);
    expect(output.stdout).toContain('hiberkit: image encrypted (passphrase, AES-256-GCM)\n');
    // Without the passphrase inspect can say what the image is, not whether it is intact.
    expect(await inspectJson(output, machine.dir)).toMatchObject({ present: true, encrypted: true, keyKind: 'passphrase', compression: 'none' });
    expect((await inspectJson(output, machine.dir)).valid).toBeUndefined();
    // The creation time counts only once the header is authenticated (issue #10: an old image put back shows its age).
    expect((await inspectJson(output, machine.dir)).createdAtVerified).toBeUndefined();
    expect(await inspectJson(output, machine.dir, '--passphrase-file', passphrase)).toMatchObject({ present: true, valid: true, encrypted: true, createdAtVerified: true });
    const disk = readFileSync(join(machine.dir, 'disks', 'vda.img'));
    const samples = anonymousPages(machine, 16);
    expect(samples).toHaveLength(16);
    for (const page of samples) expect(disk.indexOf(page)).toBe(-1);

    const openSnapshot = vi.spyOn(machines.boot(machine.dir).backend, 'openSnapshot');
    expect(await main(['resume', '--emulate', machine.dir, '--passphrase-file', passphrase])).toBe(0);
    expect(openSnapshot).toHaveBeenCalledWith('restore');
    expect(await hibernating).toBe(0);
    expect(output.stdout).toMatch(/^hiberkit: resumed after hibernating to \/dev\/vda/m);
    expect(signatureOf(diskPage(machine))).toBe('SWAPSPACE2');
  });

  test('a wrong passphrase with --on-bad-passphrase keep: refused, nothing reaches /dev/snapshot, the image stays; the right one then resumes it', async () => {
    const machine = machines.machine();
    const right = secretFile('correct horse battery staple');
    const wrong = secretFile('incorrect horse');
    const { exitCode: hibernating } = await hibernated(machine, ['--encrypt', 'passphrase', '--passphrase-file', right]);

    const next = machines.boot(machine.dir);
    const openSnapshot = vi.spyOn(next.backend, 'openSnapshot');
    expect(await main(['resume', '--emulate', machine.dir, '--passphrase-file', wrong, '--on-bad-passphrase', 'keep'])).toBe(1);
    expect(output.stderr).toMatch(/^hiberkit: the image on \/dev\/vda was not restored: .*passphrase.*The image is kept: run `hiberkit resume` again with the right key, or `hiberkit discard` to drop it/m);
    expect(openSnapshot).not.toHaveBeenCalled();
    expect(signatureOf(diskPage(next))).toBe('HIBERKIT01');

    expect(await main(['resume', '--emulate', machine.dir, '--passphrase-file', right])).toBe(0);
    expect(await hibernating).toBe(0);
  });

  test('a wrong passphrase with --on-bad-passphrase discard: refused, and the swap header is back', async () => {
    const machine = machines.machine();
    const original = diskPage(machine);
    const { exitCode: hibernating } = await hibernated(machine, ['--encrypt', 'passphrase', '--passphrase-file', secretFile('correct horse battery staple')]);
    const next = machines.boot(machine.dir);
    expect(await main(['resume', '--emulate', machine.dir, '--passphrase-file', secretFile('incorrect horse'), '--on-bad-passphrase', 'discard'])).toBe(1);
    expect(output.stderr).toMatch(/It was discarded and the swap signature put back; the boot continues normally\.\n$/);
    expect(diskPage(next).equals(original)).toBe(true);
    next.finishBoot();
    expect(await hibernating).toBe(1);
  });

  test('discard needs no key', async () => {
    const machine = machines.machine();
    const original = diskPage(machine);
    const { exitCode: hibernating } = await hibernated(machine, ['--encrypt', 'passphrase', '--passphrase-file', secretFile('correct horse battery staple')]);
    expect(await main(['discard', '--emulate', machine.dir])).toBe(0);
    expect(output.stdout).toContain('hiberkit: image on /dev/vda discarded; the swap signature is back\n');
    const next = machines.boot(machine.dir);
    expect(diskPage(next).equals(original)).toBe(true);
    next.finishBoot();
    expect(await hibernating).toBe(1);
  });
});

test('a system set up for encrypted images refuses a plain one in its place (IMAGE_NOT_ENCRYPTED) and discards it', async () => {
  const machine = machines.machine();
  const original = diskPage(machine);
  const { exitCode: hibernating } = await hibernated(machine, []);
  const next = machines.boot(machine.dir);
  const openSnapshot = vi.spyOn(next.backend, 'openSnapshot');
  expect(await main(['resume', '--emulate', machine.dir, '--encrypt', 'passphrase', '--passphrase-file', secretFile('correct horse battery staple')])).toBe(1);
  expect(output.stderr).toMatch(/^hiberkit: the image on \/dev\/vda was not restored: .*not encrypted.*It was discarded/m);
  expect(openSnapshot).not.toHaveBeenCalled();
  expect(diskPage(next).equals(original)).toBe(true);
  next.finishBoot();
  expect(await hibernating).toBe(1);
});

describe('an image sealed to a public key', () => {
  test('keygen, hibernate with the public key (no passphrase asked), resume with the private key and its passphrase', async () => {
    const machine = machines.machine();
    const keys = machines.dir();
    const passphrase = secretFile('key passphrase');
    expect(await main(['keygen', '--out', keys, '--passphrase-file', passphrase])).toBe(0);
    expect(output.stdout).toContain(`hiberkit: wrote ${join(keys, 'key')} (private, sealed with your passphrase), ${join(keys, 'key.pub')} and ${join(keys, 'sign.key')} (signs images; root-only, keep it out of the initramfs)\n`);
    expect(await main(['keygen', '--out', keys, '--passphrase-file', passphrase])).toBe(1);
    expect(output.stderr).toMatch(/exists; images sealed to it would become unreadable: use --force/);

    const { exitCode: hibernating } = await hibernated(machine, ['--encrypt', 'public-key', '--public-key', join(keys, 'key.pub')]);
    expect(output.stdout).toContain('hiberkit: image encrypted (public-key, AES-256-GCM, signed)\n');

    // Without the private key the image is kept for a try with it.
    expect(await main(['resume', '--emulate', machine.dir, '--secret-key', join(keys, 'missing')])).toBe(1);
    expect(output.stderr).toMatch(/cannot read the private key .*missing.*The image is kept/);
    expect(signatureOf(diskPage(machines.boot(machine.dir)))).toBe('HIBERKIT01');

    expect(await main(['resume', '--emulate', machine.dir, '--secret-key', join(keys, 'key'), '--passphrase-file', passphrase])).toBe(0);
    expect(await hibernating).toBe(0);
    expect(signatureOf(diskPage(machine))).toBe('SWAPSPACE2');
  });
});
