/**
 * The state directory of an emulated machine (`--emulate DIR`), so that separate processes can
 * play the parts of one machine, e.g. the two boots of a hibernation:
 *
 *   machine.json   the machine's configuration (hardware, setup, kernel profile)
 *   kernel.json    power state; while running, the kernel variables of the current boot
 *   ram.bin        RAM of the current (or last) boot: present pages in pfn order
 *   sessions.json  hibernation sessions: suspended, resumed or lost
 *   snapshot.lock  who holds /dev/snapshot open (the kernel allows one open on the machine)
 *   disks/*.img    the block devices
 *   etc/           the machine's own /etc: hiberkit.conf and hiberkit/key, key.pub (`keygen --emulate`)
 *
 * Small JSON files are replaced atomically (write, then rename) so a reader never sees half.
 */
import { existsSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HiberkitError } from '../lib/errors.js';
import { validateConfig, type MachineConfig } from './config.js';
import type { KernelVars } from './kernel.js';

export type PowerRecord = { state: 'running'; vars: KernelVars } | { state: 'off'; bootNumber: number };

export type SessionState = 'suspended' | 'resumed' | 'lost';

export interface SessionRecord {
  state: SessionState;
  /** The boot that made the image. */
  bootNumber: number;
  changedAt: string;
  /** Why a lost session was lost ('its image was discarded', …). */
  reason?: string;
}

/** The file that makes a directory an emulated machine; written last when the machine is created. */
export const MACHINE_FILE = 'machine.json';

interface LockHolder {
  pid: number;
  bootId: string;
}

export class StateDir {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  get disksDir(): string {
    return join(this.dir, 'disks');
  }

  get ramFile(): string {
    return join(this.dir, 'ram.bin');
  }

  /** The machine's own /etc (its hiberkit.conf and keys), so an emulated machine never touches the host's. */
  get etcDir(): string {
    return join(this.dir, 'etc');
  }

  /** Whether a machine lives here already. */
  exists(): boolean {
    return existsSync(this.#path(MACHINE_FILE));
  }

  /** Makes a switched-off machine of `config` (its disks are made first, by the caller); machine.json comes last. */
  initialise(config: MachineConfig): void {
    this.#writeJson('sessions.json', {});
    this.writePower({ state: 'off', bootNumber: 0 });
    this.#writeJson(MACHINE_FILE, config);
  }

  /** The machine's configuration; BAD_MACHINE when machine.json is not one (edited by hand, truncated). */
  readConfig(): MachineConfig {
    const config = this.#readJson<MachineConfig>(MACHINE_FILE);
    try {
      validateConfig(config);
    } catch (err) {
      throw this.#badFile(MACHINE_FILE, err);
    }
    return config;
  }

  readPower(): PowerRecord {
    return this.#readJson<PowerRecord>('kernel.json');
  }

  writePower(record: PowerRecord): void {
    this.#writeJson('kernel.json', record);
  }

  readSessions(): Record<string, SessionRecord> {
    return this.#readJson<Record<string, SessionRecord>>('sessions.json');
  }

  /** Sets the state of one session, creating it. */
  setSession(id: string, state: SessionState, bootNumber: number): void {
    const sessions = this.readSessions();
    sessions[id] = { state, bootNumber: sessions[id]?.bootNumber ?? bootNumber, changedAt: new Date().toISOString() };
    this.#writeJson('sessions.json', sessions);
  }

  /** Every suspended session becomes lost, for `reason`: nothing can resume them any more. */
  loseSuspendedSessions(reason: string): void {
    const sessions = this.readSessions();
    const now = new Date().toISOString();
    for (const record of Object.values(sessions)) {
      if (record.state === 'suspended') Object.assign(record, { state: 'lost', changedAt: now, reason });
    }
    this.#writeJson('sessions.json', sessions);
  }

  /**
   * Takes the machine-wide single-open slot of /dev/snapshot for this process in boot `bootId`.
   * A holder from another boot, or a process that no longer exists, does not count: its file
   * was closed when its machine or process went away.
   */
  acquireSnapshotLock(bootId: string): boolean {
    const lock = this.#path('snapshot.lock');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(lock, JSON.stringify({ pid: process.pid, bootId } satisfies LockHolder), { flag: 'wx' });
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const holder = this.#lockHolder();
        if (holder && holder.bootId === bootId && processExists(holder.pid)) return false;
        unlinkQuietly(lock);
      }
    }
    return false;
  }

  releaseSnapshotLock(bootId: string): void {
    const holder = this.#lockHolder();
    if (holder && holder.pid === process.pid && holder.bootId === bootId) unlinkQuietly(this.#path('snapshot.lock'));
  }

  #lockHolder(): LockHolder | null {
    try {
      return JSON.parse(readFileSync(this.#path('snapshot.lock'), 'utf8')) as LockHolder;
    } catch {
      // Vanished or half-written by a crashed holder: nobody holds it.
      return null;
    }
  }

  #path(name: string): string {
    return join(this.dir, name);
  }

  #readJson<T>(name: string): T {
    try {
      return JSON.parse(readFileSync(this.#path(name), 'utf8')) as T;
    } catch (err) {
      throw this.#badFile(name, err);
    }
  }

  #badFile(name: string, err: unknown): HiberkitError {
    const reason = err instanceof SyntaxError ? `not valid JSON (${err.message})` : (err as Error).message;
    return new HiberkitError(
      'BAD_MACHINE',
      `${this.#path(name)} is unreadable: ${reason}. The emulated machine in ${this.dir} cannot be used; create a new one elsewhere with \`hiberkit machine create DIR\``,
      { cause: err },
    );
  }

  #writeJson(name: string, value: unknown): void {
    const target = this.#path(name);
    const temporary = `${target}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(value, null, 2)}\n`);
    renameSync(temporary, target);
  }
}

/**
 * The state directory of the emulated machine in `dir`, refusing anything that is not one: an
 * empty name, a missing directory, a file, a directory without a machine (NO_MACHINE); a
 * machine whose machine.json cannot be read (BAD_MACHINE). Nothing is created.
 */
export function existingStateDir(dir: string): StateDir {
  const create = `create one with \`hiberkit machine create ${dir || 'DIR'}\``;
  if (dir === '') throw new HiberkitError('NO_MACHINE', `an empty directory name holds no emulated machine: name its directory, or ${create}`);
  let isDirectory: boolean;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new HiberkitError('NO_MACHINE', `${dir} cannot be read (${(err as Error).message}), so it holds no usable emulated machine`, { cause: err });
    throw new HiberkitError('NO_MACHINE', `${dir} does not exist, so it holds no emulated machine: ${create}`);
  }
  if (!isDirectory) throw new HiberkitError('NO_MACHINE', `${dir} is a file, not the directory of an emulated machine: ${create} (in a new directory)`);
  const state = new StateDir(dir);
  if (!state.exists()) throw new HiberkitError('NO_MACHINE', `${dir} holds no emulated machine: ${create}`);
  state.readConfig();
  return state;
}

export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
