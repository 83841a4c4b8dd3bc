/**
 * The benchmark's VM: the test VM (vm/), booted from a private name of its initramfs.
 *
 * A benchmark runs for half an hour. Meanwhile any VM test started from a changed tree builds a
 * new initramfs and deletes the older archives, which would pull the file out from under every
 * later boot of the benchmark. A hard link keeps this run's archive alive (and identical for
 * all its boots) until the run ends.
 */
import { linkSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_DIR } from '../vm/paths.js';
import { runQemu, type BootOptions, type BootResult } from '../vm/qemu.js';
import { prepareVm } from '../vm/vm.js';

export interface BenchVm {
  kernelRelease: string;
  initramfsBytes: number;
  /** Whether the initramfs was reused from the cache rather than built now. */
  reused: boolean;
  boot(options: Omit<BootOptions, 'kernel' | 'initrd'>): Promise<BootResult>;
  /** Drops the private initramfs name. */
  release(): void;
}

export function prepareBenchVm(): BenchVm {
  const { kernel, initramfs } = prepareVm();
  const dir = join(CACHE_DIR, 'bench');
  mkdirSync(dir, { recursive: true });
  const initrd = join(dir, `initramfs-${process.pid}.cpio`);
  rmSync(initrd, { force: true });
  linkSync(initramfs.path, initrd);
  return {
    kernelRelease: kernel.release,
    initramfsBytes: initramfs.bytes,
    reused: initramfs.reused,
    boot: (options) => runQemu({ ...options, kernel: kernel.vmlinuz, initrd }),
    release: () => rmSync(initrd, { force: true }),
  };
}
