/**
 * dracut (Fedora, RHEL, openSUSE; Debian too): a module of hiberkit's own, as dracut's 95resume
 * is one for the kernel's resume. Its install() copies hiberkit-resume (inst_binary resolves its
 * libraries), the boot script, the config, the machine id and the private key; at boot the resume
 * step runs as a unit ordered before the root file system is checked and mounted when systemd is
 * the initramfs's init, else from a pre-mount hook (dracut runs those once the devices it waited
 * for are there, before mounting the root file system, which its mount hook checks first).
 */
import { GENERATED_HEADER, HOST_PATHS, INITRD_PATHS, SETTING_READER } from './boot-script.js';
import { buildTimeKeyCopy, type InstalledFile } from './files.js';
import { INITRD_UNIT, renderInitrdUnit } from './systemd.js';

const MODULE_DIRECTORY = '/usr/lib/dracut/modules.d/90hiberkit';

export const DRACUT_PATHS = {
  moduleDirectory: MODULE_DIRECTORY,
  moduleSetup: `${MODULE_DIRECTORY}/module-setup.sh`,
  preMountHook: `${MODULE_DIRECTORY}/hiberkit-pre-mount.sh`,
  unit: `${MODULE_DIRECTORY}/${INITRD_UNIT}`,
} as const;

export function renderDracutModuleSetup(): string {
  const indentedReader = SETTING_READER.replace(/^(?=.)/gm, '\t');
  return `#!/bin/bash
${GENERATED_HEADER}
# dracut module: hiberkit's resume step in the initramfs.

# shellcheck disable=SC2154 # dracut sets moddir, initdir, systemdsystemunitdir and SYSTEMCTL

check() {
	require_binaries ${HOST_PATHS.program} ${HOST_PATHS.bootScript} || return 1
	return 0
}

depends() {
	# The boot script waits for the /dev/disk/by-* links udev makes.
	echo udev-rules
	return 0
}

install() {
${indentedReader}
	inst_binary ${HOST_PATHS.program} ${INITRD_PATHS.program}
	inst_script ${HOST_PATHS.bootScript} ${INITRD_PATHS.bootScript}
	inst_multiple cat readlink sleep
	inst_simple ${INITRD_PATHS.config}
	# hiberkit-resume refuses an image made on another machine: it compares this id.
	inst_simple ${INITRD_PATHS.machineId}
${buildTimeKeyCopy('inst_simple "$key"', 'return 1', '\t')}
	if dracut_module_included systemd; then
		inst_simple "$moddir/${INITRD_UNIT}" "$systemdsystemunitdir/${INITRD_UNIT}"
		$SYSTEMCTL -q --root "$initdir" add-wants initrd.target ${INITRD_UNIT}
	else
		inst_hook pre-mount 10 "$moddir/hiberkit-pre-mount.sh"
	fi
}
`;
}

/** dracut sources its hooks: the resume step runs as a process of its own, so nothing in it can end init. */
export function renderDracutPreMountHook(): string {
  return `#!/bin/sh
${GENERATED_HEADER}
${INITRD_PATHS.bootScript}
`;
}

export function dracutFiles(): InstalledFile[] {
  return [
    { path: DRACUT_PATHS.moduleSetup, content: renderDracutModuleSetup(), mode: 0o755 },
    { path: DRACUT_PATHS.preMountHook, content: renderDracutPreMountHook(), mode: 0o755 },
    { path: DRACUT_PATHS.unit, content: renderInitrdUnit(), mode: 0o644 },
  ];
}
