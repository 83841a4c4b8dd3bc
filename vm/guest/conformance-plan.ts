/**
 * Which conformance cases the VM runs, in which phase. Used on both sides: the guest runner
 * plans its run from the facts it reads off the machine, the host test plans the expected run
 * from the facts it knows about the VM; the same function makes both lists, so they can only
 * differ if the facts do (and the host checks the guest's facts too).
 *
 * Phases, in order:
 *   root         as root, no resume device set (an O_RDONLY open preselects nothing)
 *   nobody       a child process as uid/gid 65534, /dev/snapshot made world-openable
 *   root-resume  as root after /sys/power/resume names the swap partition; only the cases that
 *                this adds (those needing a preselected swap area), the rest ran in `root`
 */
import type { Backend } from '../../lib/backend.js';
import type { KernelBehaviour } from '../../emulator/profile.js';
import { CASES, casesFor, type ConformanceCase, type ConformanceContext, type SwapFacts } from '../../test/conformance/cases.js';

/** What a conformance context says about the machine, apart from who runs and the resume setting. */
export interface MachineFacts {
  swap: SwapFacts | null;
  hibernationAvailable: boolean;
  platformS4: boolean;
  s3: boolean;
  kernel: KernelBehaviour;
}

export type PhaseName = 'root' | 'nobody' | 'root-resume';

export interface Phase {
  name: PhaseName;
  root: boolean;
  resumeSelectsSwap: boolean;
  cases: ConformanceCase[];
}

/** Runs everything the runner needs beyond the facts: the backend, and an O_RDWR open of the node. */
export interface PhaseTools {
  backend: Backend;
  openReadWrite: () => void;
}

export function phaseContext(facts: MachineFacts, phase: Pick<Phase, 'root' | 'resumeSelectsSwap'>, tools: PhaseTools): ConformanceContext {
  return { ...facts, root: phase.root, resumeSelectsSwap: phase.resumeSelectsSwap, ...tools };
}

/** Planning only reads facts; a case run against this backend would be a bug in the plan. */
const PLANNING_ONLY: PhaseTools = {
  backend: new Proxy({} as Backend, {
    get(_target, property) {
      throw new Error(`conformance plan: the planning context has no backend (asked for ${String(property)})`);
    },
  }),
  openReadWrite: () => {
    throw new Error('conformance plan: the planning context cannot open devices');
  },
};

export function conformancePhases(facts: MachineFacts): Phase[] {
  const plan = (name: PhaseName, root: boolean, resumeSelectsSwap: boolean): Phase => ({
    name,
    root,
    resumeSelectsSwap,
    cases: casesFor(CASES, phaseContext(facts, { root, resumeSelectsSwap }, PLANNING_ONLY)),
  });
  const root = plan('root', true, false);
  const nobody = plan('nobody', false, false);
  const resume = plan('root-resume', true, true);
  resume.cases = facts.swap ? resume.cases.filter((c) => !root.cases.includes(c)) : [];
  return [root, nobody, resume];
}
