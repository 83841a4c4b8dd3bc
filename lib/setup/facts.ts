/**
 * What setup needs to know about the system and the two ways it acts on it, behind one interface
 * so that tests give fake facts, a temporary directory as the root and a recording command runner:
 * they never touch /etc or run update-initramfs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { SystemInfo } from '../backend.js';

export type Generator = 'initramfs-tools' | 'dracut' | 'mkinitcpio';

/** Each generator's command, in the order setup prefers them when several are installed. */
export const GENERATOR_COMMANDS: Record<Generator, string> = {
  'initramfs-tools': 'update-initramfs',
  dracut: 'dracut',
  mkinitcpio: 'mkinitcpio',
};

export interface SetupFacts {
  /** Every path setup reads or writes is under this directory: '/' on the live system. */
  root: string;
  isPrivileged: boolean;
  system: Pick<SystemInfo, 'swapAreas' | 'resolveBlockDevice' | 'memoryBytes'>;
  /** Kernel lockdown mode ('none', 'integrity', 'confidentiality'). */
  lockdown: string;
  /**
   * A name of `blockDevice` that stays valid across boots and while an image is on it: for a swap
   * partition its PARTUUID (a hiberkit image replaces the swap signature, and with it the UUID blkid
   * and udev see), for a swap file's file system its UUID; the node itself when there is none.
   */
  stableName(blockDevice: string, type: 'partition' | 'file'): string;
  /** The initramfs generators whose command is installed, in GENERATOR_COMMANDS order. */
  generators: Generator[];
  /** systemd is the running init. */
  systemd: boolean;
  /** hiberkit-resume as this package has it (resumeProgramPath()). */
  resumeProgram: string;
  /** The node binary and the CLI script as installed, for the systemd drop-in. */
  nodePath: string;
  cliPath: string;
}

export interface CommandResult {
  status: number;
  /** stdout and stderr together, for a failure's message. */
  output: string;
}

export type CommandRunner = (argv: readonly string[]) => CommandResult;

/** Runs a command and waits for it, its output captured. */
export const runCommand: CommandRunner = (argv) => {
  const result = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.error) return { status: 127, output: result.error.message };
  return { status: result.status ?? 1, output: `${result.stdout}${result.stderr}` };
};

/** Whether `command` is an executable in $PATH or the sbin directories (root's PATH has them; sudo's may not). */
export function commandExists(command: string, path = process.env.PATH ?? ''): boolean {
  const dirs = [...path.split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  return dirs.some((dir) => dir !== '' && existsSync(join(dir, command)));
}

/** The first link in `dir` that points at `node` (its name), or null. */
function linkTo(node: string, dir: string): string | null {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return null;
  }
  const target = realpathSync(node);
  return (
    names.find((name) => {
      try {
        return realpathSync(join(dir, name)) === target;
      } catch {
        return false;
      }
    }) ?? null
  );
}

/**
 * The live system's stable device names, from udev's links: a swap partition by PARTUUID, else a
 * device-mapper volume (LVM, dm-crypt) by its /dev/mapper name; a swap file's file system by UUID,
 * else PARTUUID; the kernel's node name when there is nothing better.
 */
export function liveStableName(blockDevice: string, type: 'partition' | 'file', dev = '/dev'): string {
  const named = (prefix: string, dir: string) => () => {
    const name = linkTo(blockDevice, dir);
    return name === null ? null : `${prefix}${name}`;
  };
  const candidates =
    type === 'partition'
      ? [named('PARTUUID=', join(dev, 'disk/by-partuuid')), named('/dev/mapper/', join(dev, 'mapper'))]
      : [named('UUID=', join(dev, 'disk/by-uuid')), named('PARTUUID=', join(dev, 'disk/by-partuuid'))];
  for (const candidate of candidates) {
    const name = candidate();
    if (name !== null) return name;
  }
  return blockDevice;
}

export function installedGenerators(exists = commandExists): Generator[] {
  return (Object.keys(GENERATOR_COMMANDS) as Generator[]).filter((generator) => exists(GENERATOR_COMMANDS[generator]));
}
