/**
 * mkinitcpio (Arch): an install hook (build() copies the files into the image, help() describes
 * it) and a runtime hook (run_hook, run by the busybox init before the root file system is
 * mounted), plus the unit for images whose init is systemd (the `systemd` hook, which runs no
 * run_hook). `hiberkit` goes into HOOKS of /etc/mkinitcpio.conf just before `filesystems`: after
 * the hooks that make block devices appear (udev, encrypt, lvm2, mdadm), before the root is mounted.
 */
import { HiberkitError } from '../errors.js';
import { GENERATED_HEADER, HOST_PATHS, INITRD_PATHS, SETTING_READER } from './boot-script.js';
import { buildTimeKeyCopy, type InstalledFile } from './files.js';
import { INITRD_UNIT, renderInitrdUnit } from './systemd.js';

export const MKINITCPIO_PATHS = {
  install: '/etc/initcpio/install/hiberkit',
  hook: '/etc/initcpio/hooks/hiberkit',
  unit: `${HOST_PATHS.directory}/${INITRD_UNIT}`,
  config: '/etc/mkinitcpio.conf',
} as const;

export const HOOK_NAME = 'hiberkit';

const UNIT_DIRECTORY = '/usr/lib/systemd/system';

export function renderMkinitcpioInstall(): string {
  const indentedReader = SETTING_READER.replace(/^(?=.)/gm, '\t');
  return `#!/bin/bash
${GENERATED_HEADER}

build() {
${indentedReader}
	add_binary ${HOST_PATHS.program} ${INITRD_PATHS.program}
	add_file ${HOST_PATHS.bootScript} ${INITRD_PATHS.bootScript} 755
	add_file ${INITRD_PATHS.config}
	# hiberkit-resume refuses an image made on another machine: it compares this id.
	add_file ${INITRD_PATHS.machineId}
${buildTimeKeyCopy('add_file "$key"', 'return 1', '\t')}
	# The busybox init runs run_hook; an image built with the systemd hook starts the unit instead.
	add_runscript
	add_file ${MKINITCPIO_PATHS.unit} ${UNIT_DIRECTORY}/${INITRD_UNIT} 644
	add_symlink ${UNIT_DIRECTORY}/initrd.target.wants/${INITRD_UNIT} ${UNIT_DIRECTORY}/${INITRD_UNIT}
}

help() {
	cat <<HELPEOF
Resumes a hiberkit hibernation image before the root file system is mounted, with
hiberkit-resume (no Node). Put it after the hooks that make the resume device appear
(udev or systemd, encrypt or sd-encrypt, lvm2, mdadm_udev) and before filesystems.
\\\`hiberkit setup\\\` adds it; \\\`hiberkit setup --undo\\\` removes it.
HELPEOF
}
`;
}

/** run_hook is sourced by init: the resume step runs as a process of its own, so nothing in it can end init. */
export function renderMkinitcpioHook(): string {
  return `#!/usr/bin/ash
${GENERATED_HEADER}

run_hook() {
	${INITRD_PATHS.bootScript}
}
`;
}

export function mkinitcpioFiles(): InstalledFile[] {
  return [
    { path: MKINITCPIO_PATHS.install, content: renderMkinitcpioInstall(), mode: 0o644 },
    { path: MKINITCPIO_PATHS.hook, content: renderMkinitcpioHook(), mode: 0o644 },
    { path: MKINITCPIO_PATHS.unit, content: renderInitrdUnit(), mode: 0o644 },
  ];
}

/** The last `HOOKS=(…)` line of mkinitcpio.conf (bash takes the last assignment), or -1. */
function hooksLine(lines: string[]): number {
  const matches = lines.map((line) => /^\s*HOOKS=\(.*\)\s*(#.*)?$/.test(line));
  return matches.lastIndexOf(true);
}

function hooksOf(line: string): { before: string; hooks: string[]; after: string } {
  const match = /^(\s*HOOKS=\()(.*)(\).*)$/.exec(line)!;
  return { before: match[1]!, hooks: match[2]!.split(/\s+/).filter((hook) => hook !== ''), after: match[3]! };
}

/** mkinitcpio.conf with `hiberkit` in HOOKS before `filesystems` (or last), unchanged when it is there. */
export function addHook(text: string, path = MKINITCPIO_PATHS.config): string {
  const lines = text.split('\n');
  const at = hooksLine(lines);
  if (at < 0) {
    throw new HiberkitError('BAD_CONFIG', `${path} has no HOOKS=(…) line on one line: add ${HOOK_NAME} to HOOKS before filesystems yourself, then run setup again`);
  }
  const { before, hooks, after } = hooksOf(lines[at]!);
  if (hooks.includes(HOOK_NAME)) return text;
  const filesystems = hooks.indexOf('filesystems');
  hooks.splice(filesystems < 0 ? hooks.length : filesystems, 0, HOOK_NAME);
  lines[at] = `${before}${hooks.join(' ')}${after}`;
  return lines.join('\n');
}

/** mkinitcpio.conf without `hiberkit` in HOOKS. */
export function removeHook(text: string): string {
  const lines = text.split('\n');
  const at = hooksLine(lines);
  if (at < 0) return text;
  const { before, hooks, after } = hooksOf(lines[at]!);
  if (!hooks.includes(HOOK_NAME)) return text;
  lines[at] = `${before}${hooks.filter((hook) => hook !== HOOK_NAME).join(' ')}${after}`;
  return lines.join('\n');
}
