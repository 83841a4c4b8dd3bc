/**
 * The Backend of this real machine: the kernel's /dev/snapshot, block devices and system calls
 * through the C++ addon.
 */
import type { Backend, BlockDevice, OpenBlockOptions, SnapshotDevice, SnapshotMode } from '../backend.js';
import { HiberkitError } from '../errors.js';
import { PAGE_SIZE } from '../ioctls.js';
import { acquireLock } from '../lock.js';
import { requireNative, type NativeBinding } from './binding.js';
import { NativeBlockDevice } from './block-device.js';
import { createNativeCriticalSection } from './critical-section.js';
import { NativeSnapshotDevice } from './snapshot-device.js';
import { NativeSystemInfo } from './system-info.js';
import { machinePaths } from '../machine-paths.js';

interface NativeBackendOptions {
  /** Path of the snapshot device (default /dev/snapshot). */
  snapshotPath?: string;
  /** The loaded addon (default: load it, failing with NATIVE_UNAVAILABLE if it is not built). */
  native?: NativeBinding;
}

/** Where the one-hibernation-at-a-time lock lives on a real machine. */
const LOCK_PATH = '/run/hiberkit.lock';

/**
 * The addon, the image format and hiberkit's reading of /dev/snapshot's stream all work in
 * 4096-byte pages; a kernel with 16 KiB or 64 KiB pages (some arm64, ppc64 builds) would get
 * images it cannot restore. Refused before anything is opened.
 */
export function assertSupportedPageSize(pageSize: number): void {
  if (pageSize !== PAGE_SIZE) {
    throw new HiberkitError(
      'UNSUPPORTED_PAGE_SIZE',
      `this kernel uses ${pageSize / 1024} KiB pages; hiberkit supports 4 KiB pages only (use the kernel's own hibernation on this machine)`,
    );
  }
}

export function createNativeBackend(options: NativeBackendOptions = {}): Backend {
  const native = options.native ?? requireNative();
  assertSupportedPageSize(native.pageSize());
  const snapshotPath = options.snapshotPath ?? '/dev/snapshot';
  return {
    name: 'native',
    snapshotPath,
    openSnapshot: (mode: SnapshotMode): SnapshotDevice => new NativeSnapshotDevice(native, snapshotPath, mode),
    openBlockDevice: (path: string, openOptions?: OpenBlockOptions): BlockDevice => new NativeBlockDevice(native, path, openOptions),
    system: new NativeSystemInfo(native),
    power: {
      sync: () => native.sync(),
    },
    criticalSection: createNativeCriticalSection(native),
    lockHibernation: (what: string) => acquireLock(LOCK_PATH, what, (fd) => native.flockExclusive(fd)),
    paths: machinePaths(),
  };
}
