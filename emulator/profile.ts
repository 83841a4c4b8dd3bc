/**
 * Kernel profiles: the switches for the behaviour of /dev/snapshot that changed between kernel
 * versions (docs/snapshot-device.md §10). The emulator runs one profile per machine; the conformance suite reads
 * the same switches to know what a given kernel should answer.
 */

export interface KernelProfile {
  /** `uname -r` of the emulated kernel. */
  release: string;
  /**
   * 88a5045f176b (5.16, backported to stable): a write that continues a partial page may fill
   * the rest of the page. Without it, only `4096 - 2·offset` bytes are accepted (docs/snapshot-device.md §3.4).
   */
  partialWriteFix: boolean;
  /** 005e8dddd497 (6.6): all-zero pages are left out of the image and flagged with bit 63 in the metadata. */
  zeroPages: boolean;
  /** 734eba62cd32 (7.0): ATOMIC_RESTORE drains trailing zero pages itself; a missing data page is ENODATA. */
  drainOnFinalize: boolean;
  /** 2b27ea5b644d (7.1): ATOMIC_RESTORE on an incompletely loaded image is ENODATA instead of EPERM. */
  enodataIfNotLoaded: boolean;
}

/** The behavioural switches alone, without the release string. */
export type KernelBehaviour = Omit<KernelProfile, 'release'>;

export type ProfileName = '6.1' | '6.17' | '7.0' | '7.1';

export const KERNEL_PROFILES: Readonly<Record<ProfileName, KernelProfile>> = {
  '6.1': { release: '6.1.0-emulated', partialWriteFix: true, zeroPages: false, drainOnFinalize: false, enodataIfNotLoaded: false },
  '6.17': { release: '6.17.0-emulated', partialWriteFix: true, zeroPages: true, drainOnFinalize: false, enodataIfNotLoaded: false },
  '7.0': { release: '7.0.0-emulated', partialWriteFix: true, zeroPages: true, drainOnFinalize: true, enodataIfNotLoaded: false },
  '7.1': { release: '7.1.0-emulated', partialWriteFix: true, zeroPages: true, drainOnFinalize: true, enodataIfNotLoaded: true },
};

/**
 * The behaviour a kernel of this release has, judged by its version number alone: right for
 * mainline and distribution kernels that took no unusual backports (a stable series may carry a
 * fix earlier than its version says, e.g. 734eba62cd32 in 6.19.11).
 */
export function behaviourOfRelease(release: string): KernelBehaviour {
  const match = /^(\d+)\.(\d+)/.exec(release);
  if (!match) throw new RangeError(`not a kernel release: ${JSON.stringify(release)}`);
  const version = Number(match[1]) * 1000 + Number(match[2]);
  return {
    partialWriteFix: version >= 5016,
    zeroPages: version >= 6006,
    drainOnFinalize: version >= 7000,
    enodataIfNotLoaded: version >= 7001,
  };
}

/** A preset by name, or a full profile as given. */
export function resolveProfile(profile: ProfileName | KernelProfile): KernelProfile {
  return typeof profile === 'string' ? KERNEL_PROFILES[profile] : profile;
}
