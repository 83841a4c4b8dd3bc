/**
 * Can this machine hibernate? Every check that can be made before anything is frozen, each
 * with a stable code and a sentence saying what to fix. `hibernate` stops at the first failed
 * check; `hiberkit doctor` prints them all.
 */
import { HiberkitError, type HiberkitErrorCode } from './errors.js';
import type { Backend } from './backend.js';

export interface Finding {
  code: HiberkitErrorCode;
  ok: boolean;
  /** What was checked, with the figures seen. */
  summary: string;
  /** What to do when it is not ok. */
  fix?: string;
  /** Not ok, but hibernation works: a weaker protection to know about, not a failure. */
  warning?: true;
}

export function checkHibernation(backend: Backend): Finding[] {
  const { system } = backend;
  const support = system.hibernationSupport();
  const swaps = system.swapAreas();
  const freeSwap = swaps.reduce((sum, a) => sum + a.sizeBytes - a.usedBytes, 0);
  const memory = system.memoryBytes();
  return [
    {
      code: 'NOT_ROOT',
      ok: system.isPrivileged(),
      summary: 'running as root',
      fix: 'run hiberkit as root (the /dev/snapshot calls need CAP_SYS_ADMIN)',
    },
    {
      code: 'NO_SNAPSHOT_DEVICE',
      ok: support.snapshotDevice,
      summary: `${backend.snapshotPath} present`,
      fix: 'the kernel needs CONFIG_HIBERNATION and CONFIG_HIBERNATION_SNAPSHOT_DEV',
    },
    {
      code: 'LOCKDOWN',
      ok: support.lockdown === 'none',
      summary: `kernel lockdown: ${support.lockdown}`,
      fix: 'kernel lockdown forbids hibernation (usually Secure Boot); disable lockdown or Secure Boot to hibernate',
    },
    {
      code: 'NOHIBERNATE',
      ok: !support.disabledOnCommandLine,
      summary: 'hibernation not disabled on the kernel command line',
      fix: 'remove "nohibernate" / "hibernate=no" from the kernel command line',
    },
    {
      code: 'HIBERNATION_DISABLED',
      ok: support.enabled && support.diskState,
      summary: `kernel offers hibernation (/sys/power/state ${support.diskState ? 'has' : 'lacks'} "disk", /sys/power/disk ${support.enabled ? 'enabled' : 'disabled'})`,
      fix: 'the kernel has hibernation disabled (lockdown, nohibernate, or secret memory in use)',
    },
    {
      code: 'NO_SWAP',
      ok: swaps.length > 0,
      summary: `${swaps.length} active swap area(s), ${mib(freeSwap)} free, ${mib(memory)} of RAM`,
      fix: 'create and enable swap (mkswap + swapon); hibernation writes its image there',
    },
    swapEncryptionFinding(backend),
  ];
}

/**
 * Swap that is not encrypted below the file system (dm-crypt) receives, in clear, the memory the
 * kernel pushes out to make the image fit: an encrypted image then protects less than all of RAM.
 */
export function swapEncryptionFinding(backend: Backend): Finding {
  const plain = plainSwapAreas(backend);
  return {
    code: 'SWAP_NOT_ENCRYPTED',
    ok: plain.length === 0,
    warning: true,
    summary: plain.length === 0 ? 'swap is encrypted (dm-crypt)' : `swap not encrypted: ${plain.join(', ')}`,
    fix:
      'memory the kernel pushes out to make room for the image is written to that swap in clear, whatever `encrypt` says; ' +
      'put swap on dm-crypt (LUKS, or a crypttab entry with a random key for swap that is not the resume area)',
  };
}

/** The active swap areas whose device (a swap file's: its file system's) is not on dm-crypt. */
function plainSwapAreas(backend: Backend): string[] {
  const { system } = backend;
  return system
    .swapAreas()
    .filter((area) => {
      try {
        return !system.isEncryptedBlockDevice(area.type === 'file' ? system.swapFileOffset(area.path).blockDevice : area.path);
      } catch {
        return true;
      }
    })
    .map((area) => area.path);
}

/** Throws the first failed check as a HiberkitError with its code. */
export function assertCanHibernate(backend: Backend): void {
  const failed = checkHibernation(backend).find((f) => !f.ok && !f.warning);
  if (failed) throw new HiberkitError(failed.code, `cannot hibernate: ${failed.fix} (${failed.summary})`);
}

export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(bytes < 10 * 1048576 ? 1 : 0)} MiB`;
}
