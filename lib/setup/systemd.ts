/**
 * systemd: `systemctl hibernate` through hiberkit, and the unit that runs the resume step in an
 * initramfs whose init is systemd (dracut with its systemd module, mkinitcpio's systemd hook).
 *
 * logind decides first (inhibitor locks; on 255+ that /sys/power/resume names an active swap area
 * or the machine booted through EFI; the swap space), then starts systemd-hibernate.service. The
 * drop-in replaces that service's `systemd-sleep hibernate` with `hiberkit hibernate --systemd`,
 * which runs the system-sleep hooks itself as systemd-sleep does. hybrid-sleep and
 * suspend-then-hibernate keep the kernel's own path (their services are left alone).
 */
import { GENERATED_HEADER, INITRD_PATHS } from './boot-script.js';
import type { InstalledFile } from './files.js';

export const SYSTEMD_PATHS = {
  hibernateDropIn: '/etc/systemd/system/systemd-hibernate.service.d/hiberkit.conf',
} as const;

/** The unit name of the resume step in a systemd initramfs. */
export const INITRD_UNIT = 'hiberkit-resume.service';

/** One ExecStart= word as systemd reads it: quoted when needed, with `%` and `$` kept literal. */
export function systemdWord(word: string): string {
  const literal = word.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? literal : `"${literal.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function renderHibernateDropIn(nodePath: string, cliPath: string): string {
  return `${GENERATED_HEADER}
# \`systemctl hibernate\` hibernates through hiberkit: logind has already checked the inhibitor locks
# and that hibernation is possible; hiberkit runs the system-sleep hooks (pre/post hibernate) itself.
[Service]
ExecStart=
ExecStart=${[nodePath, cliPath, 'hibernate', '--systemd'].map(systemdWord).join(' ')}
`;
}

export function systemdFiles(nodePath: string, cliPath: string): InstalledFile[] {
  return [{ path: SYSTEMD_PATHS.hibernateDropIn, content: renderHibernateDropIn(nodePath, cliPath), mode: 0o644 }];
}

/**
 * The resume step as a unit of a systemd initramfs: after udev (which makes the /dev/disk/by-*
 * links the boot script waits for), before the root file system is checked or mounted, and before
 * systemd's own resume step (255+), which would wait for a swap partition's UUID that a hiberkit
 * image hides. The console is its terminal, for the passphrase of an encrypted image.
 */
export function renderInitrdUnit(): string {
  return `${GENERATED_HEADER}
[Unit]
Description=Resume from a hiberkit hibernation image
DefaultDependencies=no
ConditionKernelCommandLine=!noresume
AssertPathExists=/etc/initrd-release
After=systemd-udevd.service systemd-udev-trigger.service
Wants=local-fs-pre.target
Before=local-fs-pre.target systemd-fsck-root.service sysroot.mount initrd-root-fs.target systemd-hibernate-resume.service

[Service]
Type=oneshot
ExecStart=${INITRD_PATHS.bootScript}
StandardInput=tty
StandardOutput=journal+console
StandardError=journal+console
TTYPath=/dev/console
`;
}
