/**
 * The resume step every initramfs runs, whatever generator built it: `hiberkit-boot`, a POSIX sh
 * script that finds the resume area (the kernel command line's `resume=` / `resume_offset=` first,
 * then /etc/hiberkit.conf, as hiberkit-resume ranks them), waits for its device, runs
 * hiberkit-resume, and then points the kernel at the area through /sys/power/resume_offset and
 * /sys/power/resume. It never fails the boot.
 *
 * Why the last step: systemd-logind (255 and later) allows `systemctl hibernate` on a machine not
 * booted through EFI only when /sys/power/resume names an active swap area (and
 * /sys/power/resume_offset its swap file's first page); systemd 252 checks the same area's free
 * space when it is set. Writing /sys/power/resume makes the kernel look for its own image there
 * at once (resume_store → software_resume): after hiberkit-resume returned, the area holds either
 * a plain swap signature, a hiberkit image it kept, or another tool's image, and the kernel
 * restores only its own ("S1SUSPEND"), which is what the kernel's own resume step would do too.
 *
 * Only builtins, `cat`, `readlink -f` and `sleep` are used: initramfs-tools' initramfs may have
 * klibc's tools and no busybox (no sed, no grep).
 */

/** The first comment of every file setup writes, so that whoever finds one knows where it came from. */
export const GENERATED_HEADER = '# Written by `hiberkit setup`; `hiberkit setup --undo` removes it.';

/** Where hiberkit's files are inside every initramfs. */
export const INITRD_PATHS = {
  program: '/usr/sbin/hiberkit-resume',
  bootScript: '/usr/lib/hiberkit/hiberkit-boot',
  config: '/etc/hiberkit.conf',
  machineId: '/etc/machine-id',
  /** The private key resume opens public-key images with, unless the config names another. */
  defaultSecretKey: '/etc/hiberkit/key',
} as const;

/** Where setup keeps, on the installed system, the files the generators copy into the initramfs. */
export const HOST_PATHS = {
  directory: '/usr/local/lib/hiberkit',
  program: '/usr/local/lib/hiberkit/hiberkit-resume',
  bootScript: '/usr/local/lib/hiberkit/hiberkit-boot',
} as const;

/** How long the boot waits for the resume device to appear, as initramfs-tools waits for it. */
export const WAIT_SECONDS = 30;

/**
 * Shell functions reading one setting of hiberkit.conf (`key = value`, `#` comments; the config
 * parser in lib/config.ts refuses anything else, and setup validates the file before it is copied).
 * Used at boot and by the generators' build-time hooks (which key file to copy).
 */
export const SETTING_READER = `# The words of $1 joined by one space: the blanks around a key or a value dropped.
hiberkit_words() {
	set -f
	# shellcheck disable=SC2086 # the splitting is the point
	set -- $1
	set +f
	printf '%s' "$*"
}

# The value of setting $1 in the config file $2 (nothing when absent).
hiberkit_setting() {
	hiberkit_found=
	if [ -r "$2" ]; then
		while IFS= read -r hiberkit_line || [ -n "$hiberkit_line" ]; do
			hiberkit_line=\${hiberkit_line%%#*}
			[ "\${hiberkit_line#*=}" != "$hiberkit_line" ] || continue
			[ "$(hiberkit_words "\${hiberkit_line%%=*}")" = "$1" ] || continue
			hiberkit_found=$(hiberkit_words "\${hiberkit_line#*=}")
		done < "$2"
	fi
	printf '%s\\n' "$hiberkit_found"
}
`;

/** The script installed at INITRD_PATHS.bootScript. */
export function renderBootScript(): string {
  return `#!/bin/sh
${GENERATED_HEADER}
# hiberkit's resume step in the initramfs. It never fails the boot: every path ends in exit 0.
#
#   hiberkit-boot                  find the resume area, wait for its device, resume
#   hiberkit-boot target           print "DEVICE OFFSET" of the resume area (nothing: none, or noresume)
#   hiberkit-boot resume DEV PAGES resume from the device node DEV at page PAGES
#
# The resume area: resume= and resume_offset= on the kernel command line, else resume-device and
# resume-offset in ${INITRD_PATHS.config}; noresume (or hibernate=noresume) means none.

CONFIG=${INITRD_PATHS.config}
PROGRAM=${INITRD_PATHS.program}
CMDLINE=/proc/cmdline
POWER=/sys/power
BLOCK=/sys/class/block
WAIT_SECONDS=${WAIT_SECONDS}

${SETTING_READER}
# Prints "DEVICE OFFSET" for the resume area, or nothing.
hiberkit_target() {
	cmdline_device=
	cmdline_offset=
	set -f
	# shellcheck disable=SC2013 # the command line is words, not lines
	for word in $(cat "$CMDLINE"); do
		case $word in
		--) break ;; # the rest is init's, not the kernel's
		noresume | hibernate=noresume*) set +f; return 0 ;;
		resume=*) cmdline_device=\${word#resume=} ;;
		resume_offset=*) cmdline_offset=\${word#resume_offset=} ;;
		esac
	done
	set +f
	if [ -n "$cmdline_device" ]; then
		device=$cmdline_device
		offset=\${cmdline_offset:-0}
	else
		device=$(hiberkit_setting resume-device "$CONFIG")
		offset=$(hiberkit_setting resume-offset "$CONFIG")
		offset=\${offset:-0}
	fi
	case $device in
	'') return 0 ;;
	[0-9]*:[0-9]*) device=/dev/block/$device ;;
	esac
	printf '%s %s\\n' "$device" "$offset"
}

# The /dev path udev makes for a device name as resume= takes it.
hiberkit_device_path() {
	case $1 in
	UUID=*) echo "/dev/disk/by-uuid/\${1#UUID=}" ;;
	PARTUUID=*) echo "/dev/disk/by-partuuid/\${1#PARTUUID=}" ;;
	LABEL=*) echo "/dev/disk/by-label/\${1#LABEL=}" ;;
	PARTLABEL=*) echo "/dev/disk/by-partlabel/\${1#PARTLABEL=}" ;;
	*) echo "$1" ;;
	esac
}

# Waits until the device $1 is there (at most WAIT_SECONDS) and prints its node.
hiberkit_wait() {
	path=$(hiberkit_device_path "$1")
	waited=0
	while [ ! -e "$path" ]; do
		if [ "$waited" -ge "$WAIT_SECONDS" ]; then
			echo "hiberkit: gave up waiting for the resume device $1; the boot continues without resuming" >&2
			return 1
		fi
		sleep 1
		waited=$((waited + 1))
	done
	readlink -f "$path"
}

# Resumes from the node $1 at page $2 if an image is there (a restored image never returns), then
# points the kernel at that area (see the header of lib/setup/boot-script.ts in hiberkit).
hiberkit_resume() {
	if [ -x "$PROGRAM" ]; then
		# A refusal has been said on the console in one line by hiberkit-resume itself.
		"$PROGRAM" --resume-device "$1" --resume-offset "$2" || true
	fi
	node=$(readlink -f "$1") || return 0
	majmin=$(cat "$BLOCK/\${node##*/}/dev" 2>/dev/null) || return 0
	[ -w "$POWER/resume" ] || return 0
	# The offset first: writing resume makes the kernel look for its own image there at once.
	echo "$2" > "$POWER/resume_offset" 2>/dev/null
	echo "$majmin" > "$POWER/resume" 2>/dev/null
	return 0
}

case \${1:-} in
target)
	hiberkit_target
	;;
resume)
	hiberkit_resume "$2" "$3"
	;;
'')
	target=$(hiberkit_target)
	if [ -n "$target" ]; then
		set -f
		# shellcheck disable=SC2086 # DEVICE OFFSET
		set -- $target
		set +f
		if node=$(hiberkit_wait "$1"); then
			hiberkit_resume "$node" "$2"
		fi
	fi
	;;
*)
	echo "hiberkit-boot: unknown action \\"$1\\" (expected target or resume)" >&2
	;;
esac
exit 0
`;
}
