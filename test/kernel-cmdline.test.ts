// The kernel command line (lib/kernel-cmdline.ts), read by the kernel's rules: both backends use it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createEmulatedMachine, openEmulatedMachine } from '../emulator/index.js';
import { commandLineValue, hibernationDisabledByCommandLine, parseCommandLine, resumeOffsetFromCommandLine } from '../lib/kernel-cmdline.js';

const dir = mkdtempSync(join(tmpdir(), 'hiberkit-cmdline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('kernel command line', () => {
  const sample =
    'BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=UUID=0d8e9f3c-aa01-4b6e-9d2e-5c1f2e3d4a5b ro quiet ' +
    'resume=UUID=7b1c2d3e-1111-2222-3333-444455556666 resume_offset=34816 dyndbg="file power/* +p" resume_offset=40960\n';

  it('splits words, keeping quoted blanks and dropping the quotes around a value', () => {
    const words = parseCommandLine(sample);
    expect(words).toContain('dyndbg=file power/* +p');
    expect(words[0]).toBe('BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64');
    expect(words).toHaveLength(8);
  });

  it('drops a quote that opens a word with the one that ends it, and keeps quotes inside a word', () => {
    expect(parseCommandLine('"a b" c')).toEqual(['a b', 'c']);
    expect(parseCommandLine('x=a"b c"d y')).toEqual(['x=a"b c"d', 'y']);
    expect(parseCommandLine('  \t\n')).toEqual([]);
  });

  it('takes the last value of a repeated parameter, as the kernel does', () => {
    const words = parseCommandLine(sample);
    expect(commandLineValue(words, 'resume')).toBe('UUID=7b1c2d3e-1111-2222-3333-444455556666');
    expect(commandLineValue(words, 'resume_offset')).toBe('40960');
    expect(commandLineValue(words, 'noresume')).toBeUndefined();
  });

  it('ignores what follows "--": those words are for init', () => {
    const words = parseCommandLine('resume=/dev/vda2 -- resume=/dev/vdb nohibernate');
    expect(commandLineValue(words, 'resume')).toBe('/dev/vda2');
    expect(hibernationDisabledByCommandLine(words)).toBe(false);
  });

  it.each([
    ['quiet nohibernate', true],
    ['hibernate=no', true],
    ['hibernate=nope', true],
    ['hibernate=noresume', false],
    ['hibernate=noresumeplease', false],
    ['hibernate=nocompress', false],
    ['hibernate=protect_image', false],
    ['quiet splash', false],
  ])('"%s" disables hibernation: %s', (text, disabled) => {
    expect(hibernationDisabledByCommandLine(parseCommandLine(text))).toBe(disabled);
  });

  it.each([
    ['', 0],
    ['resume_offset=34816', 34816],
    ['resume_offset=0x8800', 0x8800],
    ['resume_offset=010', 8],
    ['resume_offset=12ab', 0],
    ['resume_offset=-1', 0],
    ['resume_offset=5 resume_offset=7', 7],
  ])('reads resume_offset from "%s" as %d, like kstrtoull(…, 0)', (text, pages) => {
    expect(resumeOffsetFromCommandLine(parseCommandLine(text))).toBe(pages);
  });

  it("is what the emulator's kernel reads too: the last resume= and resume_offset= count", () => {
    // Before the shared parser, the emulator took the first resume= and read 0x20 as NaN.
    createEmulatedMachine(dir, {
      config: { cmdline: ['console=ttyS0', 'resume=/dev/vdb', 'resume_offset=0x10', 'resume=/dev/vda', 'resume_offset=0x20'] },
    });
    const machine = openEmulatedMachine(dir);
    expect(machine.backend.system.resumeSetting()).toMatchObject({ device: '/dev/vda', offsetPages: 0x20 });
  });
});
