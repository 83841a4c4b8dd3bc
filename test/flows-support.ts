/**
 * Shared by the tests of hiberkit's flows on the emulator (CLI, bad images, faults, power loss,
 * refusals, encryption): small machines in temporary directories that are switched off and
 * removed after each test, a way to wait until a hibernating machine is off, and the looks at a
 * machine's disks those tests need.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, vi } from 'vitest';
import { main } from '../lib/cli.js';
import { SIGNATURE_OFFSET, decodeExtentMapPage, decodeHeader, decodeMarker, signatureAt, type Extent } from '../lib/image/format.js';
import type { MachineConfig, MachineConfigInput } from '../emulator/config.js';
import { createEmulatedMachine } from '../emulator/create.js';
import { openEmulatedMachine, type EmulatedMachine, type OpenMachineOptions } from '../emulator/machine.js';

export const MIB = 1 << 20;

/** 32 MiB of RAM (the least the emulated x86 layout allows) and a 32 MiB swap partition, /dev/vda. */
export const SMALL: MachineConfigInput = {
  memoryBytes: 32 * MIB,
  swaps: [{ type: 'partition', device: '/dev/vda', sizeBytes: 32 * MIB, label: 'swap' }],
};

/** Where the swap file of SWAP_FILE starts on its disk (its resume offset). */
export const SWAP_FILE_PAGE = 2048;

/** The same machine with a 32 MiB swap file /swapfile on a 48 MiB disk instead of a partition. */
export const SWAP_FILE: MachineConfigInput = {
  memoryBytes: 32 * MIB,
  disks: [{ device: '/dev/vda', sizeBytes: 48 * MIB }],
  swaps: [{ type: 'file', path: '/swapfile', device: '/dev/vda', offsetPages: SWAP_FILE_PAGE, sizeBytes: 32 * MIB }],
};

/**
 * Machines of one test file: each lives in its own temporary directory; after every test the
 * running ones are shut down and the directories removed.
 */
export function useMachines(prefix: string) {
  const dirs: string[] = [];
  const opened: EmulatedMachine[] = [];
  afterEach(() => {
    for (const machine of opened.splice(0)) if (machine.status === 'running') machine.shutdown();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  const dir = (): string => {
    const made = mkdtempSync(join(tmpdir(), `hiberkit-${prefix}-`));
    dirs.push(made);
    return made;
  };
  /** The machine in `at` as this process sees it now: the running boot, or the next one. */
  const boot = (at: string, options?: OpenMachineOptions): EmulatedMachine => {
    const machine = openEmulatedMachine(at, options);
    opened.push(machine);
    return machine;
  };
  /** A new machine of `config` in a new directory, booted. */
  const machine = (config: MachineConfigInput = SMALL, options: OpenMachineOptions = {}): EmulatedMachine => {
    const at = dir();
    createEmulatedMachine(at, { config });
    return boot(at, options);
  };
  return { dir, boot, machine };
}


/** The page at `page` of `device` as the disk holds it now. */
export function diskPage(machine: EmulatedMachine, page = 0, device = '/dev/vda'): Buffer {
  return machine.disks.readPage(machine.disks.byDevice(device)!, page);
}

/** The signature in the last 10 bytes of a swap header page ("SWAPSPACE2", "HIBERKIT01", …). */
export function signatureOf(page: Uint8Array): string {
  return signatureAt(page, SIGNATURE_OFFSET);
}

/** Where the parts of the hiberkit image on a disk are, read from its marker, header and extent map. */
export function imageLayout(machine: EmulatedMachine, resumePage = 0): { headerPage: number; mapPage: number; extents: Extent[] } {
  const { headerPage } = decodeMarker(diskPage(machine, resumePage));
  const header = decodeHeader(diskPage(machine, headerPage));
  const { extents } = decodeExtentMapPage(diskPage(machine, header.extentMapPage), 0);
  return { headerPage, mapPage: header.extentMapPage, extents };
}

/** Changes one byte of a disk page in place (XOR with 0xff): damage that every CRC notices. */
export function flipByte(machine: EmulatedMachine, page: number, offset: number, device = '/dev/vda'): void {
  const disk = machine.disks.byDevice(device)!;
  const bytes = machine.disks.readPage(disk, page);
  bytes[offset]! ^= 0xff;
  machine.disks.writePage(disk, page, bytes);
}

/** Rewrites the configuration of the switched-off machine in `dir`, as a hardware or kernel change between boots would. */
export function changeMachine(dir: string, change: (config: MachineConfig) => MachineConfig): void {
  const file = join(dir, 'machine.json');
  writeFileSync(file, `${JSON.stringify(change(JSON.parse(readFileSync(file, 'utf8')) as MachineConfig), null, 2)}\n`);
}

/**
 * What `main()` prints, for tests that run the CLI in this process: stdout and stderr are captured
 * (not shown) from the start of each test to its end.
 */
export function useCliOutput(): { stdout: string; stderr: string } {
  const output = { stdout: '', stderr: '' };
  beforeEach(() => {
    output.stdout = '';
    output.stderr = '';
    for (const stream of ['stdout', 'stderr'] as const) {
      vi.spyOn(process[stream], 'write').mockImplementation(((chunk: string | Uint8Array) => {
        output[stream] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
        return true;
      }) as typeof process.stdout.write);
    }
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  return output;
}

/**
 * Starts `hiberkit hibernate` with `flags` and resolves once the machine is off and its disk marked,
 * with the exit code still to come (wrapped: an async function would otherwise wait for it).
 */
export async function hibernated(machine: EmulatedMachine, flags: string[]): Promise<{ exitCode: Promise<number> }> {
  const exitCode = main(['hibernate', '--emulate', machine.dir, ...flags]);
  await machine.switchedOff(exitCode);
  expect(signatureOf(diskPage(machine))).toBe('HIBERKIT01');
  return { exitCode };
}

/** A passphrase file (mode 0600) holding `text` and a newline, in a new directory of `machines`. */
export function passphraseFileIn(machines: { dir(): string }, text: string): string {
  const file = join(machines.dir(), 'passphrase');
  writeFileSync(file, `${text}\n`, { mode: 0o600 });
  return file;
}

/** `hiberkit inspect --json` through main(), parsed from what `output` (useCliOutput) captured. */
export async function inspectJson(output: { stdout: string }, dir: string, ...flags: string[]): Promise<Record<string, unknown>> {
  const from = output.stdout.length;
  await main(['inspect', '--json', '--emulate', dir, ...flags]);
  return JSON.parse(output.stdout.slice(from)) as Record<string, unknown>;
}
