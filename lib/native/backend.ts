/**
 * The Backend of this real machine: the kernel's /dev/snapshot, block devices and system calls
 * through the C++ addon.
 */
import type { Backend, BlockDevice, OpenBlockOptions, SnapshotDevice, SnapshotMode } from '../backend.js';
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

export function createNativeBackend(options: NativeBackendOptions = {}): Backend {
  const native = options.native ?? requireNative();
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
    runDirectory: '/run',
    paths: machinePaths(),
  };
}
