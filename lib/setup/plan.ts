/**
 * What `hiberkit setup` will do on this system, decided before anything is touched: the resume
 * area (as `hibernate` picks it, or the one given, checked), the settings for /etc/hiberkit.conf,
 * the initramfs generator and its files, the systemd drop-in, the commands to run, and what the
 * user should know.
 */
import { HiberkitError } from '../errors.js';
import { decodeDev } from '../ioctls.js';
import { mib } from '../preflight.js';
import { hibernationTarget } from '../target.js';
import type { Settings } from '../config.js';
import { HOST_PATHS, renderBootScript } from './boot-script.js';
import { dracutFiles } from './dracut.js';
import type { InstalledFile } from './files.js';
import { GENERATOR_COMMANDS, type Generator, type SetupFacts } from './facts.js';
import { initramfsToolsFiles } from './initramfs-tools.js';
import { mkinitcpioFiles } from './mkinitcpio.js';
import { systemdFiles } from './systemd.js';
import { readFileSync } from 'node:fs';

export interface SetupPlan {
  /** The resume area: its stable name and page, and what it is. */
  target: { name: string; offsetPages: number; blockDevice: string; swapPath: string; sizeBytes: number };
  /** Settings for /etc/hiberkit.conf (null: remove the line). */
  config: Record<string, string | null>;
  generator: Generator;
  files: InstalledFile[];
  /** mkinitcpio only: `hiberkit` goes into HOOKS of /etc/mkinitcpio.conf. */
  mkinitcpioHook: boolean;
  /** Tells the running kernel where the resume area is, as the initramfs will at every boot. */
  kernelResume: { device: string; offsetPages: number };
  /** Regenerates the initramfs of every installed kernel; then systemd's reload, if systemd runs. */
  commands: string[][];
  /** What the user should know, and what is left for them to do. */
  notes: string[];
}

/** How each generator rebuilds the initramfs of every installed kernel. */
export const REGENERATE: Record<Generator, string[]> = {
  'initramfs-tools': ['update-initramfs', '-u', '-k', 'all'],
  dracut: ['dracut', '--regenerate-all', '--force'],
  mkinitcpio: ['mkinitcpio', '-P'],
};

export const DAEMON_RELOAD = ['systemctl', 'daemon-reload'];

/** `settings`: /etc/hiberkit.conf with setup's flags over it, as `hibernate` would see them. */
export function planSetup(facts: SetupFacts, settings: Settings): SetupPlan {
  if (!facts.isPrivileged) throw new HiberkitError('NOT_ROOT', 'setup changes the initramfs and /etc: run it as root');
  const generator = facts.generators[0];
  if (generator === undefined) {
    throw new HiberkitError(
      'NO_INITRAMFS_GENERATOR',
      `no initramfs generator found (looked for ${Object.values(GENERATOR_COMMANDS).join(', ')}): hiberkit resumes from the initramfs, so install the one your distribution uses`,
    );
  }
  const area = hibernationTarget(facts, settings);
  const { swap } = area;
  const name = facts.stableName(area.blockDevice, swap.type);
  const { major, minor } = decodeDev(swap.dev);
  const config: Record<string, string | null> = {
    'resume-device': name,
    // A swap partition's header is its page 0: an offset left from an earlier swap file would be refused.
    'resume-offset': swap.type === 'file' ? String(area.resumePage) : null,
  };
  if (settings.compress !== undefined) config.compress = settings.compress;
  if (settings.encrypt !== undefined) config.encrypt = settings.encrypt;

  const files: InstalledFile[] = [
    { path: HOST_PATHS.program, content: readFileSync(facts.resumeProgram), mode: 0o755 },
    { path: HOST_PATHS.bootScript, content: renderBootScript(), mode: 0o755 },
    ...generatorFiles(generator),
    ...(facts.systemd ? systemdFiles(facts.nodePath, facts.cliPath) : []),
  ];
  const commands = [REGENERATE[generator], ...(facts.systemd ? [DAEMON_RELOAD] : [])];
  return {
    target: { name, offsetPages: area.resumePage, blockDevice: area.blockDevice, swapPath: swap.path, sizeBytes: swap.sizeBytes },
    config,
    generator,
    files,
    mkinitcpioHook: generator === 'mkinitcpio',
    kernelResume: { device: `${major}:${minor}`, offsetPages: area.resumePage },
    commands,
    notes: notesFor(facts, swap.sizeBytes, swap.path, generator, settings),
  };
}

function generatorFiles(generator: Generator): InstalledFile[] {
  switch (generator) {
    case 'initramfs-tools':
      return initramfsToolsFiles();
    case 'dracut':
      return dracutFiles();
    case 'mkinitcpio':
      return mkinitcpioFiles();
  }
}

function notesFor(facts: SetupFacts, swapBytes: number, swapPath: string, generator: Generator, settings: Settings): string[] {
  const notes: string[] = [];
  const memory = facts.system.memoryBytes();
  if (swapBytes < memory) {
    notes.push(
      `${swapPath} (${mib(swapBytes)}) is smaller than this machine's RAM (${mib(memory)}): hibernation works while the image fits (compressed, and at most the kernel's image_size), and refuses before anything is frozen when it cannot; more swap makes it certain`,
    );
  }
  if (facts.lockdown !== 'none') {
    notes.push(`kernel lockdown (${facts.lockdown}, usually Secure Boot) forbids hibernation: nothing hibernates until Secure Boot or lockdown is turned off`);
  }
  const others = facts.generators.filter((other) => other !== generator);
  if (others.length > 0) notes.push(`${generator} is used for the initramfs (${others.join(', ')} also installed: run setup again after switching)`);
  if (facts.systemd) {
    notes.push('`systemctl hibernate` now goes through hiberkit; hybrid-sleep and suspend-then-hibernate keep the kernel\'s own hibernation');
  } else {
    notes.push('systemd is not running: hibernate with `hiberkit hibernate`');
  }
  if (settings.encrypt === 'public-key' || settings.encrypt === 'passphrase') {
    notes.push(
      settings.encrypt === 'public-key'
        ? 'images are sealed to the public key: the initramfs carries the private key (`hiberkit keygen` makes the pair; run setup again after it so the initramfs gets it)'
        : 'images are sealed with a passphrase, asked at hibernate and on the console at resume',
    );
  }
  notes.push('after upgrading hiberkit, run `hiberkit setup` again: the initramfs holds a copy of hiberkit-resume');
  return notes;
}
