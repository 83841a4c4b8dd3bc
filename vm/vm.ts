/**
 * The API VM tests use: provision once, build (or reuse) the initramfs once, then boot as
 * often as needed. Boots share disk images, so boot 1 can hibernate onto a disk and boot 2
 * resume from it:
 *
 *   const swap = createDisk('cycle-swap', 512);
 *   const first = await bootVm({ scenario: 'cycle', boot: 1, disks: [{ path: swap }] });
 *   const second = await bootVm({ scenario: 'cycle', boot: 2, disks: [{ path: swap }] });
 *
 * Both boots must use the same memory size (the kernel refuses an image made with another).
 */
import { mkdirSync, openSync, closeSync, ftruncateSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { buildInitramfs, type Initramfs } from './initramfs.js';
import { CACHE_DIR } from './paths.js';
import { provisionVm, type KernelFiles } from './provision.js';
import { type BootOptions, type BootResult, runQemu } from './qemu.js';

export { describeBoot, type BootResult, type VmDisk } from './qemu.js';
export { payloadsOf, stampsOf, type CaseReport, type ConsoleLine } from './guest/protocol.js';

export interface PreparedVm {
  kernel: KernelFiles;
  initramfs: Initramfs;
}

let prepared: PreparedVm | undefined;

/**
 * Provisions the host (packages, kernel) and builds the initramfs from the current tree,
 * once per process. Needs `npm run build` to have run. Throws with the reason on failure.
 */
export function prepareVm(): PreparedVm {
  if (!prepared) {
    const kernel = provisionVm();
    prepared = { kernel, initramfs: buildInitramfs(kernel) };
  }
  return prepared;
}

/** Boots the VM with the current tree's kernel and initramfs (preparing them on first use). */
export async function bootVm(options: Omit<BootOptions, 'kernel' | 'initrd'>): Promise<BootResult> {
  const { kernel, initramfs } = prepareVm();
  return runQemu({ ...options, kernel: kernel.vmlinuz, initrd: initramfs.path });
}

/**
 * A zero-filled raw disk image of `sizeMB` (sparse, so cheap), replacing any previous one.
 * A relative `path` is placed under .cache/vm/disks/.
 */
export function createDisk(path: string, sizeMB: number): string {
  const file = isAbsolute(path) ? path : join(CACHE_DIR, 'disks', path);
  mkdirSync(dirname(file), { recursive: true });
  const fd = openSync(file, 'w');
  try {
    ftruncateSync(fd, sizeMB * 1024 * 1024);
  } finally {
    closeSync(fd);
  }
  return file;
}
