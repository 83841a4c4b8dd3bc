/**
 * initramfs-tools (Debian, Ubuntu): a build-time hook that copies hiberkit-resume (with the
 * libraries copy_exec finds), the boot script, the config, the machine id and the private key into
 * the initramfs, and a local-premount script that waits for the resume device and resumes before
 * the root file system is checked or mounted.
 */
import { GENERATED_HEADER, HOST_PATHS, INITRD_PATHS, SETTING_READER } from './boot-script.js';
import { buildTimeKeyCopy, type InstalledFile } from './files.js';

export const INITRAMFS_TOOLS_PATHS = {
  hook: '/etc/initramfs-tools/hooks/hiberkit',
  premount: '/etc/initramfs-tools/scripts/local-premount/hiberkit',
} as const;

/** The boilerplate every initramfs-tools hook and boot script starts with: answer `prereqs`. */
const PREREQS = `PREREQ=""

prereqs() {
	echo "$PREREQ"
}

case $1 in
prereqs)
	prereqs
	exit 0
	;;
esac
`;

export function renderInitramfsToolsHook(): string {
  return `#!/bin/sh
${GENERATED_HEADER}
# Copies hiberkit's resume step into the initramfs that update-initramfs builds.
${PREREQS}
# shellcheck source=/dev/null # initramfs-tools' own
. /usr/share/initramfs-tools/hook-functions

${SETTING_READER}
# A missing program would make an initramfs that cannot resume the images hiberkit writes.
for file in ${HOST_PATHS.program} ${HOST_PATHS.bootScript}; do
	if [ ! -x "$file" ]; then
		echo "E: hiberkit: $file is missing: run \\\`hiberkit setup\\\` again (or \\\`hiberkit setup --undo\\\`)" >&2
		exit 1
	fi
done
copy_exec ${HOST_PATHS.program} ${INITRD_PATHS.program}
copy_file script ${HOST_PATHS.bootScript} ${INITRD_PATHS.bootScript}
copy_file config ${INITRD_PATHS.config}
# hiberkit-resume refuses an image made on another machine: it compares this id.
copy_file config ${INITRD_PATHS.machineId}
${buildTimeKeyCopy('copy_file key "$key"')}
exit 0
`;
}

/**
 * The local-premount script. initramfs-tools runs the scripts of a phase in the order `tsort`
 * gives their prerequisites, and ones without any by name: this one ("hiberkit") before its own
 * "resume", so that the kernel's resume step never waits for a swap partition whose header a
 * hiberkit image has replaced. It waits as local_device_setup does (udev, the local-block scripts
 * that assemble RAID and LVM, ROOTDELAY) but without get_fstype, which fails on that header.
 */
export function renderInitramfsToolsPremount(): string {
  return `#!/bin/sh
${GENERATED_HEADER}
# Resumes a hiberkit image before the root file system is checked or mounted.
${PREREQS}
target=$(${INITRD_PATHS.bootScript} target)
[ -n "$target" ] || exit 0
set -f
# shellcheck disable=SC2086 # DEVICE OFFSET
set -- $target
set +f

# shellcheck source=/dev/null # initramfs-tools' own
. /scripts/functions
# shellcheck source=/dev/null
. /scripts/local

wait_for_udev 10
if ! DEV=$(resolve_device "$1"); then
	log_begin_msg "Waiting for the hiberkit resume device $1"
	slumber=30
	if [ "\${ROOTDELAY:-0}" -gt $slumber ]; then
		slumber=$ROOTDELAY
	fi
	until DEV=$(resolve_device "$1"); do
		if [ "$(time_elapsed)" -ge "$slumber" ]; then
			log_end_msg 1 || true
			echo "hiberkit: gave up waiting for the resume device $1; the boot continues without resuming"
			exit 0
		fi
		sleep 1
		local_block "$1"
	done
	wait_for_udev 10
	log_end_msg 0
fi
${INITRD_PATHS.bootScript} resume "$DEV" "$2"
exit 0
`;
}

export function initramfsToolsFiles(): InstalledFile[] {
  return [
    { path: INITRAMFS_TOOLS_PATHS.hook, content: renderInitramfsToolsHook(), mode: 0o755 },
    { path: INITRAMFS_TOOLS_PATHS.premount, content: renderInitramfsToolsPremount(), mode: 0o755 },
  ];
}
