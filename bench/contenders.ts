/**
 * What `npm run bench` compares: the kernel's own hibernation and hiberkit, each with and without
 * compression, on the same VM and the same memory load (vm/guest/scenarios/bench-cycle.sh).
 */

export type Method = 'kernel' | 'hiberkit';

/**
 * Who resumes in boot 2: the kernel (/sys/power/resume), `hiberkit-resume` (the native program
 * an installed system runs in its initramfs), or `hiberkit resume` in Node (the library's path,
 * what the busybox VM measured before the native program existed).
 */
export type Resumer = 'kernel' | 'native' | 'node';

export interface Contender {
  id: string;
  label: string;
  method: Method;
  resumer: Resumer;
  /**
   * Kernel command-line words of both boots: hk.* words configure the guest script, the others
   * the kernel itself (hibernate=nocompress).
   */
  cmdline: string[];
  /** Compresses the image: these are measured again with more vCPUs. */
  compresses: boolean;
  /** Run only when --contenders names it: a comparison, not a production path. */
  optional?: boolean;
}

export const CONTENDERS: readonly Contender[] = [
  { id: 'kernel-lzo', label: 'kernel, LZO (default)', method: 'kernel', resumer: 'kernel', cmdline: ['hk.method=kernel'], compresses: true },
  {
    id: 'kernel-nocompress',
    label: 'kernel, nocompress',
    method: 'kernel',
    resumer: 'kernel',
    cmdline: ['hk.method=kernel', 'hibernate=nocompress'],
    compresses: false,
  },
  { id: 'hiberkit-lz4', label: 'hiberkit --compress lz4', method: 'hiberkit', resumer: 'native', cmdline: ['hk.method=hiberkit', 'hk.compress=lz4', 'hk.resumer=native'], compresses: true },
  { id: 'hiberkit-none', label: 'hiberkit --compress none', method: 'hiberkit', resumer: 'native', cmdline: ['hk.method=hiberkit', 'hk.compress=none', 'hk.resumer=native'], compresses: false },
  {
    id: 'hiberkit-lz4-node',
    label: 'hiberkit lz4, Node resume',
    method: 'hiberkit',
    resumer: 'node',
    cmdline: ['hk.method=hiberkit', 'hk.compress=lz4', 'hk.resumer=node'],
    compresses: true,
    optional: true,
  },
];

/** What a run without --contenders compares. */
export const DEFAULT_CONTENDERS: readonly Contender[] = CONTENDERS.filter((c) => !c.optional);

/** Every ratio in the report is to this contender, at the same vCPU count. */
export const BASELINE_ID = 'kernel-lzo';

export function contenderById(id: string): Contender {
  const found = CONTENDERS.find((c) => c.id === id);
  if (!found) throw new RangeError(`no contender "${id}" (known: ${CONTENDERS.map((c) => c.id).join(', ')})`);
  return found;
}

/** The VM and the memory load every run uses. */
export interface Workload {
  memMB: number;
  swapMB: number;
  /** Text-like data in the guest's tmpfs (LZ4 about 2.3x), and incompressible data next to it. */
  textMiB: number;
  randomMiB: number;
}

export const FULL_WORKLOAD: Workload = { memMB: 1024, swapMB: 1024, textMiB: 200, randomMiB: 30 };
/** The CI run's: the same VM, a lighter load, so four cycles fit in a few minutes. */
export const SHORT_WORKLOAD: Workload = { memMB: 1024, swapMB: 1024, textMiB: 40, randomMiB: 8 };
