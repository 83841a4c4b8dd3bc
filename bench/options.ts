/** The command line of `npm run bench` (bench/run.ts). */
import { parseArgs } from 'node:util';
import { CONTENDERS, DEFAULT_CONTENDERS, FULL_WORKLOAD, SHORT_WORKLOAD, contenderById, type Contender, type Workload } from './contenders.js';

export const USAGE = `usage: npm run bench -- [options]

  --runs N            cycles per contender (default 3; 1 with --short)
  --cpus N[,M...]     vCPU counts: all contenders run with the first, the compressing ones again
                      with each further count (default 1,2; 1 with --short)
  --contenders a,b    which to run (default ${DEFAULT_CONTENDERS.map((c) => c.id).join(', ')});
                      also: ${CONTENDERS.filter((c) => c.optional).map((c) => c.id).join(', ')}
  --vms a,b           which VMs: busybox (the test VM, every contender above), debian (a real
                      Debian 13 system: systemctl hibernate, the kernel's own against hiberkit's)
                      (default busybox,debian; busybox with --short)
  --short             the CI size: a lighter memory load, a small emulated machine, busybox only
  -h, --help
`;

export type BenchVmName = 'busybox' | 'debian';
const VM_NAMES: readonly BenchVmName[] = ['busybox', 'debian'];

export interface BenchOptions {
  vms: BenchVmName[];
  runs: number;
  /** The first is the main pass; the others repeat the compressing contenders. */
  cpus: number[];
  contenders: readonly Contender[];
  workload: Workload;
  short: boolean;
  /** RAM of the emulated machine whose pipeline throughput is measured on the host. */
  emulatorMemoryMiB: number;
}

export class UsageError extends Error {}

function positiveInteger(flag: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new UsageError(`--${flag} takes positive whole numbers, got "${text}"`);
  return value;
}

/** Options from argv; null when help was asked for. Throws UsageError on bad input. */
export function parseBenchOptions(argv: string[]): BenchOptions | null {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        runs: { type: 'string' },
        cpus: { type: 'string' },
        contenders: { type: 'string' },
        vms: { type: 'string' },
        short: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return null;
  const short = values.short ?? false;
  let contenders: readonly Contender[] = DEFAULT_CONTENDERS;
  if (values.contenders !== undefined) {
    try {
      contenders = values.contenders.split(',').map((id) => contenderById(id.trim()));
    } catch (err) {
      throw new UsageError(`--contenders: ${(err as Error).message}`);
    }
  }
  const vms = (values.vms ?? (short ? 'busybox' : VM_NAMES.join(','))).split(',').map((name) => {
    const vm = VM_NAMES.find((known) => known === name.trim());
    if (!vm) throw new UsageError(`--vms: no VM "${name.trim()}" (known: ${VM_NAMES.join(', ')})`);
    return vm;
  });
  // The Debian cycle takes minutes per boot: never part of the CI-size run.
  if (short && vms.includes('debian')) throw new UsageError('--short runs the busybox VM only');
  return {
    vms: [...new Set(vms)],
    runs: values.runs === undefined ? (short ? 1 : 3) : positiveInteger('runs', values.runs),
    cpus: (values.cpus ?? (short ? '1' : '1,2')).split(',').map((n) => positiveInteger('cpus', n.trim())),
    contenders,
    workload: short ? SHORT_WORKLOAD : FULL_WORKLOAD,
    short,
    emulatorMemoryMiB: short ? 128 : 1024,
  };
}
