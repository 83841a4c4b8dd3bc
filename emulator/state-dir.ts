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
 *
 * Small JSON files are replaced atomically (write, then rename) so a reader never sees half.
 */
import { existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HiberkitError } from '../lib/errors.js';
import type { MachineConfig } from './config.js';
import type { KernelVars } from './kernel.js';

export type PowerRecord = { state: 'running'; vars: KernelVars } | { state: 'off'; bootNumber: number };

export type SessionState = 'suspended' | 'resumed' | 'lost';

export interface SessionRecord {
  state: SessionState;
  /** The boot that made the image. */
  bootNumber: number;
  changedAt: string;
}

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

  /** Whether a machine lives here already. */
  exists(): boolean {
    return existsSync(this.#path('machine.json'));
  }

  /** Makes a switched-off machine of `config` (its disks are made first, by the caller); machine.json comes last. */
  initialise(config: MachineConfig): void {
    this.#writeJson('sessions.json', {});
    this.writePower({ state: 'off', bootNumber: 0 });
    this.#writeJson('machine.json', config);
  }

  readConfig(): MachineConfig {
    return this.#readJson<MachineConfig>('machine.json');
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

  /** Every suspended session becomes lost: the machine booted past the point where it could resume them. */
  loseSuspendedSessions(): void {
    const sessions = this.readSessions();
    const now = new Date().toISOString();
    for (const record of Object.values(sessions)) {
      if (record.state === 'suspended') Object.assign(record, { state: 'lost', changedAt: now });
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
    const file = this.#path(name);
    const text = readFileSync(file, 'utf8');
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new HiberkitError('EMULATOR_STATE', `${file} is damaged (${(err as Error).message}): this is not a usable emulated machine`);
    }
  }

  #writeJson(name: string, value: unknown): void {
    const target = this.#path(name);
    const temporary = `${target}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(value, null, 2)}\n`);
    renameSync(temporary, target);
  }
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
