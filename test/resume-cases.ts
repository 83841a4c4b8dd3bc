/**
 * The shared image cases (issue #11): disks that `hiberkit resume` (TypeScript) and
 * hiberkit-resume (C++) must judge alike — the same outcome, the same error code, the same bytes
 * left on disk. Each case makes an emulated machine whose kernel release and machine id are this
 * host's (what hiberkit-resume checks images against), hibernates it when the case needs an image,
 * and changes what the case is about: a damaged byte, another kernel, a key file gone, a setting.
 * test/resume-parity.test.ts runs both implementations on copies of each disk.
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join } from 'node:path';
import { crc32c } from '../lib/codec/index.js';
import { hibernate } from '../lib/hibernate.js';
import { loadConfig, type Settings } from '../lib/config.js';
import { updateConfigFile, writeKeyFiles } from '../lib/crypto/keygen.js';
import { machinePaths } from '../lib/machine-paths.js';
import { thisMachineId } from '../lib/native/system-info.js';
import { CHUNK_HEADER_BYTES } from '../lib/image/format.js';
import { CHUNK } from '../lib/image/layout.js';
import { behaviourOfRelease } from '../emulator/profile.js';
import type { MachineConfigInput } from '../emulator/config.js';
import type { EmulatedMachine } from '../emulator/machine.js';
import { MIB, SWAP_FILE, SWAP_FILE_PAGE, changeMachine, diskPage, flipByte, imageLayout } from './flows-support.js';

/** This host's identity, as both implementations read it when they check an image. */
export const HOST_IDENTITY = { kernelRelease: release(), machineId: thisMachineId() };

/** A small machine (32 MiB of RAM, a 32 MiB swap partition /dev/vda) that is this host to the image checks. */
export const HOST_LIKE: MachineConfigInput = {
  memoryBytes: 32 * MIB,
  swaps: [{ type: 'partition', device: '/dev/vda', sizeBytes: 32 * MIB, label: 'swap' }],
  kernel: { release: HOST_IDENTITY.kernelRelease, ...behaviourOfRelease(HOST_IDENTITY.kernelRelease) },
  machineId: HOST_IDENTITY.machineId,
};

/** The passphrase of the cases' encrypted images and private keys, and a wrong one. */
export const PASSPHRASE = 'correct horse battery';
export const WRONG_PASSPHRASE = 'incorrect horse battery';

/** What a case needs of its test file: machines, and files to hold passphrases. */
export interface CaseContext {
  machine(config?: MachineConfigInput): EmulatedMachine;
  /** A file holding `text` (and a newline), mode 0600. */
  secretFile(text: string): string;
}

export interface PreparedCase {
  /** The machine's directory: its disks/vda.img and etc/ are what both implementations get. */
  dir: string;
  /** The machine as the case left it (switched off when it hibernated). */
  machine: EmulatedMachine;
  /** A hibernation waiting for its image to be resumed (settled by the test, whatever becomes of the image). */
  pending?: Promise<unknown>;
}

/** How both implementations are run on a case, in settings (the C++ one gets them as flags). */
export interface CaseRun {
  /** The resume device and offset as flags; absent: found through the command line or the config file. */
  flags: boolean;
  /** Words the machine's kernel command line gets (the program reads them as its /proc/cmdline). */
  cmdline?: string[];
  passphrase?: string;
  onBadPassphrase?: 'keep' | 'discard';
  /** The machine has a private key (keygen): the program is pointed at the machine's copy (it would read /etc/hiberkit/key). */
  keys?: boolean;
}

export interface Expected {
  /** 'image-ok' (dry run, left in place), 'no-image', 'noresume', or the refusal's code. */
  outcome: string;
  /**
   * What becomes of the disk: untouched; kept (untouched, and the refusal says the image is kept);
   * or discarded (swap header back, image header wiped, and the refusal says so).
   */
  disk: 'untouched' | 'kept' | 'discarded';
}

export interface ResumeCase {
  name: string;
  /** Why the two refusals are worded differently, where they are (the code and the disk still agree). */
  wordsDiffer?: string;
  prepare(context: CaseContext): Promise<PreparedCase>;
  run: CaseRun;
  expected: Expected;
}

/** Hibernates the machine with `settings` (besides the config file) and resolves once it is off, its image on disk. */
async function hibernated(machine: EmulatedMachine, settings: Settings = {}): Promise<PreparedCase> {
  const pending = hibernate({ ...loadConfig(undefined, machinePaths(machine.dir).configFile), ...settings, backend: machine.backend });
  await machine.switchedOff(pending);
  return { dir: machine.dir, machine, pending };
}

/** A good image hibernated with this host's identity, optionally on a machine of `config`. */
export async function goodImage(context: Pick<CaseContext, 'machine'>, config: MachineConfigInput = HOST_LIKE): Promise<PreparedCase> {
  return hibernated(context.machine(config));
}

/** A case's machine with `config`, hibernated, then changed to this host's identity: an image made elsewhere. */
async function madeElsewhere(context: CaseContext, change: Partial<MachineConfigInput>): Promise<PreparedCase> {
  const prepared = await goodImage(context, { ...HOST_LIKE, ...change });
  changeMachine(prepared.dir, (config) => ({ ...config, machineId: HOST_IDENTITY.machineId, kernel: HOST_LIKE.kernel as typeof config.kernel }));
  return prepared;
}

/** Sets `values` in the config file of the machine in `dir` (made if there is none). */
function configure(dir: string, values: Record<string, string>): void {
  const { configFile } = machinePaths(dir);
  mkdirSync(dirname(configFile), { recursive: true });
  updateConfigFile(configFile, values);
}

/** A passphrase-sealed image (encrypt = passphrase in the machine's config). */
async function passphraseImage(context: CaseContext): Promise<PreparedCase> {
  const machine = context.machine();
  configure(machine.dir, { encrypt: 'passphrase' });
  return hibernated(machine, { passphraseFile: context.secretFile(PASSPHRASE) });
}

/**
 * A public-key image after keygen on the machine (encrypt = public-key, DIR/etc/hiberkit/key),
 * signed with the machine's sign.key; `forge` changes the key files hibernate then uses.
 */
async function publicKeyImage(context: CaseContext, forge: (keyDirectory: string) => void = () => {}): Promise<PreparedCase> {
  const machine = context.machine();
  const paths = machinePaths(machine.dir);
  writeKeyFiles(paths.keyDirectory, { passphraseFile: context.secretFile(PASSPHRASE) }, false);
  configure(machine.dir, { encrypt: 'public-key' });
  forge(paths.keyDirectory);
  return hibernated(machine);
}

/**
 * Changes one byte of the first chunk's payload and fixes its CRCs (the payload's and the record
 * header's), so that only authentication can tell: an encrypted image's chunk tag.
 */
function tamperFirstChunk(machine: EmulatedMachine): void {
  const disk = machine.disks.byDevice('/dev/vda')!;
  const first = imageLayout(machine).extents[0]!.startPage;
  const head = machine.disks.readPage(disk, first);
  const stored = head.readUInt32LE(CHUNK.storedBytes.at);
  const pages = Math.ceil((CHUNK_HEADER_BYTES + stored) / 4096);
  const record = Buffer.concat(Array.from({ length: pages }, (_, i) => machine.disks.readPage(disk, first + i)));
  const payload = record.subarray(CHUNK_HEADER_BYTES, CHUNK_HEADER_BYTES + stored);
  payload[500]! ^= 0x01;
  record.writeUInt32LE(crc32c(payload), CHUNK.payloadCrc.at);
  record.writeUInt32LE(crc32c(record.subarray(0, CHUNK.crc.at)), CHUNK.crc.at);
  for (let i = 0; i < pages; i++) machine.disks.writePage(disk, first + i, record.subarray(i * 4096, (i + 1) * 4096));
}

/** A good image, then `damage` done to its disk. */
async function damagedImage(context: CaseContext, damage: (machine: EmulatedMachine) => void, make: (context: CaseContext) => Promise<PreparedCase> = goodImage): Promise<PreparedCase> {
  const prepared = await make(context);
  damage(prepared.machine);
  return prepared;
}

const BY_FLAGS: CaseRun = { flags: true };

export const RESUME_CASES: ResumeCase[] = [
  {
    name: 'a good plain image',
    prepare: (context) => goodImage(context),
    run: BY_FLAGS,
    expected: { outcome: 'image-ok', disk: 'untouched' },
  },
  {
    name: 'a good plain image stored without compression (every chunk raw: its CRC folded into the stream\'s)',
    prepare: async (context) => hibernated(context.machine(HOST_LIKE), { compress: 'none' }),
    run: BY_FLAGS,
    expected: { outcome: 'image-ok', disk: 'untouched' },
  },
  {
    name: 'a good plain image in a swap file, found through resume= and resume_offset= on the command line',
    prepare: (context) => goodImage(context, { ...HOST_LIKE, swaps: SWAP_FILE.swaps, disks: SWAP_FILE.disks }),
    run: { flags: false, cmdline: ['resume=/dev/vda', `resume_offset=${SWAP_FILE_PAGE}`] },
    expected: { outcome: 'image-ok', disk: 'untouched' },
  },
  {
    name: 'a good passphrase image, the right passphrase',
    prepare: passphraseImage,
    run: { flags: true, passphrase: PASSPHRASE },
    expected: { outcome: 'image-ok', disk: 'untouched' },
  },
  {
    name: 'a good public-key image, the private key\'s passphrase',
    prepare: publicKeyImage,
    run: { flags: true, passphrase: PASSPHRASE, keys: true },
    expected: { outcome: 'image-ok', disk: 'untouched' },
  },
  {
    name: 'no image: a plain swap header',
    prepare: async (context) => {
      const machine = context.machine();
      return { dir: machine.dir, machine };
    },
    run: BY_FLAGS,
    expected: { outcome: 'no-image', disk: 'untouched' },
  },
  {
    name: 'noresume on the command line, the image named by the config file',
    prepare: async (context) => {
      const prepared = await goodImage(context);
      configure(prepared.dir, { 'resume-device': '@DISK@' });
      return prepared;
    },
    run: { flags: false, cmdline: ['noresume'] },
    expected: { outcome: 'noresume', disk: 'untouched' },
  },
  {
    name: 'the kernel\'s own image (S1SUSPEND): left alone',
    prepare: async (context) => {
      const machine = context.machine();
      const page = diskPage(machine);
      page.write('S1SUSPEND\0', 4086, 'latin1');
      machine.disks.writePage(machine.disks.byDevice('/dev/vda')!, 0, page);
      return { dir: machine.dir, machine };
    },
    run: BY_FLAGS,
    expected: { outcome: 'no-image', disk: 'untouched' },
  },
  {
    name: 'a hiberkit marker of another version: refused, not touched',
    prepare: (context) =>
      damagedImage(context, (machine) => {
        const page = diskPage(machine);
        page.write('HIBERKIT02', 4086, 'latin1');
        machine.disks.writePage(machine.disks.byDevice('/dev/vda')!, 0, page);
      }),
    run: BY_FLAGS,
    expected: { outcome: 'UNSUPPORTED_VERSION', disk: 'untouched' },
  },
  ...(
    [
      ['a byte flipped in the chunk data', (m: EmulatedMachine) => flipByte(m, imageLayout(m).extents[0]!.startPage + 3, 2000)],
      ['a byte flipped in the image header', (m: EmulatedMachine) => flipByte(m, imageLayout(m).headerPage, 20)],
      ['a byte flipped in the extent map', (m: EmulatedMachine) => flipByte(m, imageLayout(m).mapPage, 30)],
      ['a byte flipped in the marker', (m: EmulatedMachine) => flipByte(m, 0, 4050)],
    ] as const
  ).map(([name, damage]): ResumeCase => ({
    name,
    prepare: (context) => damagedImage(context, damage),
    run: BY_FLAGS,
    expected: { outcome: 'IMAGE_CORRUPT', disk: 'discarded' },
  })),
  {
    name: 'the image cut short (the disk ends inside its chunk stream)',
    wordsDiffer: 'the emulated disk keeps its configured size when its file is cut short (a read past the end of the file returns nothing), the program sees the file\'s own size',
    prepare: (context) =>
      damagedImage(context, (machine) => truncateSync(join(machine.dir, 'disks', 'vda.img'), (imageLayout(machine).extents[0]!.startPage + 100) * 4096)),
    run: BY_FLAGS,
    expected: { outcome: 'IMAGE_TRUNCATED', disk: 'discarded' },
  },
  {
    name: 'made by another kernel release',
    prepare: (context) => madeElsewhere(context, { kernel: { ...(HOST_LIKE.kernel as object), release: `${HOST_IDENTITY.kernelRelease}-other` } as MachineConfigInput['kernel'] }),
    run: BY_FLAGS,
    expected: { outcome: 'WRONG_KERNEL', disk: 'discarded' },
  },
  {
    name: 'made on another machine',
    prepare: (context) => madeElsewhere(context, { machineId: 'f'.repeat(32) }),
    run: BY_FLAGS,
    expected: { outcome: 'WRONG_MACHINE', disk: 'discarded' },
  },
  {
    name: 'a plain image where the config requires encryption',
    prepare: async (context) => {
      const prepared = await goodImage(context);
      configure(prepared.dir, { encrypt: 'passphrase' });
      return prepared;
    },
    run: { flags: true, passphrase: PASSPHRASE },
    expected: { outcome: 'IMAGE_NOT_ENCRYPTED', disk: 'discarded' },
  },
  {
    name: 'a passphrase image with a chunk altered and its CRCs fixed (tampered)',
    prepare: (context) => damagedImage(context, tamperFirstChunk, passphraseImage),
    run: { flags: true, passphrase: PASSPHRASE },
    expected: { outcome: 'IMAGE_TAMPERED', disk: 'discarded' },
  },
  {
    name: 'a passphrase image, a wrong passphrase, on-bad-passphrase = keep',
    prepare: passphraseImage,
    run: { flags: true, passphrase: WRONG_PASSPHRASE, onBadPassphrase: 'keep' },
    expected: { outcome: 'WRONG_PASSPHRASE', disk: 'kept' },
  },
  {
    name: 'a passphrase image, a wrong passphrase, on-bad-passphrase = discard',
    prepare: passphraseImage,
    run: { flags: true, passphrase: WRONG_PASSPHRASE, onBadPassphrase: 'discard' },
    expected: { outcome: 'WRONG_PASSPHRASE', disk: 'discarded' },
  },
  {
    name: 'a public-key image, a wrong passphrase for the private key, on-bad-passphrase = discard',
    prepare: publicKeyImage,
    run: { flags: true, passphrase: WRONG_PASSPHRASE, onBadPassphrase: 'discard', keys: true },
    expected: { outcome: 'WRONG_PASSPHRASE', disk: 'discarded' },
  },
  {
    name: 'a public-key image made with the public key alone, unsigned (forged)',
    // key.pub rewritten as an old v1 key: hibernate then signs nothing.
    prepare: (context) =>
      publicKeyImage(context, (keys) => {
        const file = join(keys, 'key.pub');
        writeFileSync(file, readFileSync(file, 'utf8').replace('hiberkit-public-key-v2:', 'hiberkit-public-key-v1:'));
      }),
    run: { flags: true, passphrase: PASSPHRASE, keys: true },
    expected: { outcome: 'IMAGE_FORGED', disk: 'discarded' },
  },
  {
    name: 'a public-key image signed with someone else\'s signing key (forged)',
    prepare: (context) =>
      publicKeyImage(context, (keys) => {
        const attacker = join(keys, 'attacker');
        writeKeyFiles(attacker, { passphraseFile: context.secretFile('attacker passphrase') }, false);
        copyFileSync(join(attacker, 'sign.key'), join(keys, 'sign.key'));
      }),
    run: { flags: true, passphrase: PASSPHRASE, keys: true },
    expected: { outcome: 'IMAGE_FORGED', disk: 'discarded' },
  },
  {
    name: 'a public-key image whose private key file is missing: kept',
    prepare: async (context) => {
      const prepared = await publicKeyImage(context);
      rmSync(machinePaths(prepared.dir).secretKey);
      return prepared;
    },
    run: { flags: true, passphrase: PASSPHRASE, keys: true },
    expected: { outcome: 'BAD_KEY_FILE', disk: 'kept' },
  },
  {
    name: 'a passphrase image on a machine set up for public keys (wrong key kind)',
    wordsDiffer: 'hiberkit resume suggests --encrypt, a flag the program does not take: it suggests the config setting',
    prepare: async (context) => {
      const prepared = await passphraseImage(context);
      configure(prepared.dir, { encrypt: 'public-key' });
      return prepared;
    },
    run: { flags: true, passphrase: PASSPHRASE },
    expected: { outcome: 'WRONG_KEY', disk: 'kept' },
  },
];

/** The config file a case's machine has (empty when none), with @DISK@ standing for where the image is. */
export function configText(dir: string, disk: string): string {
  let text = '';
  try {
    text = readFileSync(machinePaths(dir).configFile, 'utf8');
  } catch {
    return '';
  }
  return text.replaceAll('@DISK@', disk);
}
