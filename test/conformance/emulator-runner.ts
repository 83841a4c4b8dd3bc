/**
 * Conformance contexts on emulated machines: one small machine per context, configured to be
 * the kind of machine the context describes, so the context's facts are true by construction.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmulatedMachine } from '../../emulator/create.js';
import { openEmulatedMachine, type EmulatedMachine } from '../../emulator/machine.js';
import { resolveProfile, type KernelProfile, type ProfileName } from '../../emulator/profile.js';
import type { MachineConfigInput } from '../../emulator/config.js';
import type { ConformanceContext } from './context.js';

const MIB = 1 << 20;

export interface EmulatedRunOptions {
  kernel: ProfileName | KernelProfile;
  /** Default true. */
  root?: boolean;
  /** Default 'partition' (/dev/vda, 16 MiB). 'file': a swap file inside /dev/vdb. */
  swap?: 'partition' | 'file' | 'none';
  /** `resume=/dev/vda` on the command line (needs the partition). Default false. */
  resumeSelectsSwap?: boolean;
  /** False: kernel lockdown makes hibernation unavailable. Default true. */
  available?: boolean;
  platformS4?: boolean;
  s3?: boolean;
}

export interface EmulatedRun {
  ctx: ConformanceContext;
  machine: EmulatedMachine;
  /** Switches the machine off and deletes its directory. */
  dispose(): void;
}

export function emulatedRun(options: EmulatedRunOptions): EmulatedRun {
  const swap = options.swap ?? 'partition';
  const resumeSelectsSwap = options.resumeSelectsSwap ?? false;
  if (resumeSelectsSwap && swap !== 'partition') throw new RangeError('resume= preselects only a swap partition');
  const root = options.root ?? true;
  const config: MachineConfigInput = {
    memoryBytes: 32 * MIB,
    kernel: options.kernel,
    swaps:
      swap === 'partition'
        ? [{ type: 'partition', device: '/dev/vda', sizeBytes: 16 * MIB, label: 'swap' }]
        : swap === 'file'
          ? [{ type: 'file', path: '/swapfile', device: '/dev/vdb', offsetPages: 2048, sizeBytes: 8 * MIB }]
          : [],
    disks: swap === 'file' ? [{ device: '/dev/vdb', sizeBytes: 64 * MIB }] : [],
    cmdline: ['console=ttyS0', ...(resumeSelectsSwap ? ['resume=/dev/vda'] : [])],
    lockdown: options.available === false ? 'integrity' : 'none',
    platformS4: options.platformS4 ?? true,
    s3: options.s3 ?? true,
    // As the VM runner does for its unprivileged child: the node is world-accessible.
    snapshotNodeMode: root ? 0o600 : 0o666,
    root,
  };
  const dir = mkdtempSync(join(tmpdir(), 'hiberkit-conformance-'));
  createEmulatedMachine(dir, { config });
  const machine = openEmulatedMachine(dir);
  const area = machine.backend.system.swapAreas()[0];
  const profile = resolveProfile(options.kernel);
  const ctx: ConformanceContext = {
    backend: machine.backend,
    swap: area ? { path: area.path, dev: area.dev, offsetPages: area.offsetPages, sizeBytes: area.sizeBytes } : null,
    root,
    resumeSelectsSwap,
    hibernationAvailable: options.available ?? true,
    platformS4: config.platformS4!,
    s3: config.s3!,
    kernel: {
      partialWriteFix: profile.partialWriteFix,
      zeroPages: profile.zeroPages,
      drainOnFinalize: profile.drainOnFinalize,
      enodataIfNotLoaded: profile.enodataIfNotLoaded,
    },
    openReadWrite: () => machine.openSnapshot('read-write').close(),
  };
  return {
    ctx,
    machine,
    dispose() {
      if (machine.status === 'running') machine.shutdown();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
