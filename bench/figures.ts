/**
 * The figures of one hibernate/resume cycle, read from its two boots' consoles.
 *
 * Each method has its own phase boundaries, the lines it prints anyway:
 *  - the kernel: its PM messages ("Compressing and saving image data (N pages)...", "Image saving
 *    done", "Loading and decompressing image data", "Image loading done");
 *  - hiberkit: the CLI's progress lines and the critical section's status lines ("snapshot of N
 *    MiB taken", "image saved (…)"); in boot 2 the resume program's ("image found on …", "loaded
 *    and verified N pages (B bytes stored)") and its restore child's ("restoring the image"), from
 *    hiberkit-resume (the native program) or `hiberkit resume` (Node), whichever resumes.
 * Hibernation runs from the scenario's `trigger` stamp to qemu's exit (the ACPI S4 power-off);
 * resume from its `resume-start` stamp to the `resumed` stamp the boot-1 script prints once its
 * hibernate command has returned in the restored system.
 */
import { repoRelative } from '../vm/paths.js';
import { payloadsOf, type BootResult } from '../vm/vm.js';
import type { Contender, Method, Resumer, Workload } from './contenders.js';
import { BenchParseError, ConsoleTimeline, kernelTimeMs, stampTimeMs, type TimelineEvent } from './timeline.js';

const PAGE = 4096;
const MIB = 1 << 20;

export interface Phase {
  name: string;
  ms: number;
}

/** One interval timed twice: by host arrival times, and by a clock of the guest. */
interface CrossCheck {
  name: string;
  hostMs: number;
  guestMs: number;
}

export interface CycleFigures {
  contender: string;
  cpus: number;
  run: number;
  /** Trigger → power-off, and its phases in order (they add up to it). */
  hibernateMs: number;
  hibernatePhases: Phase[];
  /** The phase that moves the image to disk (compression included). */
  writeMs: number;
  /** Resume start → the hibernated system running again, and its phases. */
  resumeMs: number;
  resumePhases: Phase[];
  /** The phase that reads the image from disk (decompression included). */
  loadMs: number;
  /** The uncompressed snapshot stream (/dev/snapshot's image size; the kernel's own pages + header). */
  streamBytes: number;
  /** What the tool says it stored: hiberkit's image header; null for the kernel, whose log does not say. */
  reportedStoredBytes: number | null;
  /**
   * Bytes allocated in the disk image after boot 1. The disk starts sparse and empty, so this is
   * everything written to it: the image, plus any pages swapped out to make room for it.
   */
  diskBytes: number;
  /** Swap in use after the resume minus before the trigger: what preallocation swapped out. */
  swappedOutBytes: number;
  checks: CrossCheck[];
  /** Anything the figures had to work around (a lost line), for the reader. */
  notes: string[];
  /**
   * The host's 1-minute load average when the cycle ended. The VM needs one host core per vCPU;
   * well above that, other work competed with it and the run is slower than it should be.
   */
  hostLoad: number;
  /** The two boots' console logs, relative to the repository (under .cache/vm/logs/). */
  logs: string[];
}

interface Boundary {
  /** The phase that ends at this line. */
  phase: string;
  pattern: RegExp;
  /**
   * Only for the last boundary: why its line can go missing. Its phase then runs on to the end
   * of the last phase, which lasts 0 ms, and the cycle carries a note saying so.
   */
  mayBeLost?: string;
}

interface HibernatePhases {
  boundaries: Boundary[];
  /** The phase that ends with the power-off. */
  powerOff: string;
  /** The phase that moves the image to disk. */
  write: string;
}

interface ResumePhases {
  boundaries: Boundary[];
  /** The phase that ends at the `resumed` stamp. */
  running: string;
  /** The phase that reads the image from disk. */
  load: string;
}

const HIBERNATE_PHASES: Record<Method, HibernatePhases> = {
  kernel: {
    boundaries: [
      { phase: 'freeze + snapshot', pattern: /PM: (?:Compressing and saving image data|Saving image data pages) \((\d+) pages\)/ },
      { phase: 'write', pattern: /PM: Image saving done/ },
    ],
    powerOff: 'power-off',
    write: 'write',
  },
  hiberkit: {
    boundaries: [
      { phase: 'node start-up', pattern: /hiberkit: swap \S+ on \S+ .*power-off:/ },
      { phase: 'prepare', pattern: /hiberkit: freezing and saving the image/ },
      { phase: 'freeze + snapshot', pattern: /hiberkit: snapshot of (\d+) MiB taken in (\d+) ms/ },
      {
        phase: 'write',
        pattern: /hiberkit: image saved \((\d+) MiB on disk\) in (\d+) ms, (\d+) ms after the freeze/,
        // Printed right before POWER_OFF: the console can still hold it when the machine goes off
        // (seen with 2 vCPUs). The power-off itself takes a few tens of milliseconds.
        mayBeLost: 'its line was still in the console buffer when the machine powered off',
      },
    ],
    powerOff: 'power-off',
    write: 'write',
  },
};

/**
 * hiberkit's two resume programs print the same progress lines, each under its own name
 * ("hiberkit-resume: image found on …" from the native program, "hiberkit: …" from Node); the
 * restore child they share prints "hiberkit: restoring the image" once user space is frozen.
 */
function hiberkitResumePhases(startUp: string, name: string): ResumePhases {
  return {
    boundaries: [
      { phase: startUp, pattern: new RegExp(`${name}: image found on`) },
      { phase: 'load', pattern: new RegExp(`${name}: loaded and verified (\\d+) pages \\((\\d+) bytes stored\\) in (\\d+) ms`) },
      { phase: 'freeze', pattern: /hiberkit: restoring the image/ },
    ],
    running: 'restore + thaw',
    load: 'load',
  };
}

const RESUME_PHASES: Record<Resumer, ResumePhases> = {
  kernel: {
    boundaries: [
      { phase: 'check + freeze', pattern: /PM: (?:Loading and decompressing image data|Loading image data pages) \((\d+) pages\)/ },
      { phase: 'load', pattern: /PM: Image loading done/ },
    ],
    running: 'restore + thaw',
    load: 'load',
  },
  // The program's start-up and its search for the image (settings, command line, device, marker).
  native: hiberkitResumePhases('start-up', 'hiberkit-resume'),
  node: hiberkitResumePhases('node start-up', 'hiberkit'),
};

/** The phase names of a contender, hibernation's then resume's, for charts and tables. */
export function phaseNames(contender: Pick<Contender, 'method' | 'resumer'>): { hibernate: string[]; resume: string[] } {
  const hibernate = HIBERNATE_PHASES[contender.method];
  const resume = RESUME_PHASES[contender.resumer];
  return {
    hibernate: [...hibernate.boundaries.map((b) => b.phase), hibernate.powerOff],
    resume: [...resume.boundaries.map((b) => b.phase), resume.running],
  };
}

interface Walk {
  phases: Phase[];
  /** The line that ended each phase (none for a phase that ends at the power-off, or whose line was lost). */
  ends: Map<string, TimelineEvent>;
  notes: string[];
}

/** Follows the boundaries in order from `start`; the last phase ends at `last.atMs`. */
function walk(timeline: ConsoleTimeline, start: TimelineEvent, boundaries: Boundary[], last: { phase: string; atMs: number; event?: TimelineEvent }): Walk {
  const phases: Phase[] = [];
  const ends = new Map<string, TimelineEvent>();
  const notes: string[] = [];
  let previous = start;
  for (const [i, boundary] of boundaries.entries()) {
    const event = timeline.find(boundary.pattern, previous.index + 1);
    if (!event && boundary.mayBeLost && i === boundaries.length - 1) {
      phases.push({ name: boundary.phase, ms: last.atMs - previous.atMs }, { name: last.phase, ms: 0 });
      notes.push(`"${boundary.phase}" is counted up to the end of "${last.phase}": ${boundary.mayBeLost}`);
      return { phases, ends, notes };
    }
    const found = event ?? timeline.expect(boundary.pattern, `end of phase "${boundary.phase}"`, previous.index + 1);
    phases.push({ name: boundary.phase, ms: found.atMs - previous.atMs });
    ends.set(boundary.phase, found);
    previous = found;
  }
  phases.push({ name: last.phase, ms: last.atMs - previous.atMs });
  if (last.event) ends.set(last.phase, last.event);
  return { phases, ends, notes };
}

function phaseMs(phases: Phase[], name: string): number {
  return phases.find((p) => p.name === name)!.ms;
}

function number(event: TimelineEvent, group: number): number {
  return Number(event.match[group]);
}

interface SwapReport {
  phase: 'before' | 'after';
  swapUsedKiB: number;
  textBytes?: number;
  randomBytes?: number;
}

interface CycleContext {
  contender: Contender;
  workload: Workload;
  cpus: number;
  run: number;
  diskBytes: number;
  hostLoad: number;
}

export function cycleFigures(context: CycleContext, first: BootResult, second: BootResult): CycleFigures {
  const { contender, workload } = context;
  const hibernatePhases = HIBERNATE_PHASES[contender.method];
  const resumePhases = RESUME_PHASES[contender.resumer];
  const boot1 = new ConsoleTimeline(first);
  const boot2 = new ConsoleTimeline(second);

  const trigger = boot1.stamp('trigger');
  const hibernate = walk(boot1, trigger, hibernatePhases.boundaries, { phase: hibernatePhases.powerOff, atMs: boot1.endMs });
  const resumeStart = boot2.stamp('resume-start');
  const resumed = boot2.stamp('resumed', resumeStart.index + 1);
  const resume = walk(boot2, resumeStart, resumePhases.boundaries, { phase: resumePhases.running, atMs: resumed.atMs, event: resumed });

  const before = payloadsOf<SwapReport>(first.lines, 'RESULT').find((r) => r.phase === 'before');
  const after = payloadsOf<SwapReport>(second.lines, 'RESULT').find((r) => r.phase === 'after');
  if (!before || !after) throw new BenchParseError(`the swap use before and after is missing (${first.logPath}, ${second.logPath})`);
  if (after.textBytes !== workload.textMiB * MIB || after.randomBytes !== workload.randomMiB * MIB) {
    throw new BenchParseError(`the memory load did not survive the cycle (text ${after.textBytes} bytes, random ${after.randomBytes}): ${second.logPath}`);
  }

  // Both methods freeze user space first; its kernel message is a point both clocks see.
  const freeze = boot1.expect(/Freezing user space processes/, 'the freeze', trigger.index + 1);
  const checks: CrossCheck[] = [
    { name: 'trigger → freeze, guest clock', hostMs: freeze.atMs - trigger.atMs, guestMs: kernelTimeMs(freeze) - stampTimeMs(trigger) },
  ];
  const specific = contender.method === 'kernel' ? kernelSpecifics(boot1, boot2, hibernate, resume, resumeStart) : hiberkitSpecifics(boot2, hibernate, resume, resumeStart);
  checks.push(...specific.checks);

  return {
    contender: contender.id,
    cpus: context.cpus,
    run: context.run,
    hibernateMs: boot1.endMs - trigger.atMs,
    hibernatePhases: hibernate.phases,
    writeMs: phaseMs(hibernate.phases, hibernatePhases.write),
    resumeMs: resumed.atMs - resumeStart.atMs,
    resumePhases: resume.phases,
    loadMs: phaseMs(resume.phases, resumePhases.load),
    streamBytes: specific.streamBytes,
    reportedStoredBytes: specific.reportedStoredBytes,
    diskBytes: context.diskBytes,
    swappedOutBytes: Math.max(0, after.swapUsedKiB - before.swapUsedKiB) * 1024,
    checks,
    notes: [...hibernate.notes, ...resume.notes],
    hostLoad: context.hostLoad,
    logs: [repoRelative(first.logPath), repoRelative(second.logPath)],
  };
}

interface Specifics {
  streamBytes: number;
  reportedStoredBytes: number | null;
  checks: CrossCheck[];
}

/** The kernel's page counts, and its own clock and speed lines for the write and load phases. */
function kernelSpecifics(boot1: ConsoleTimeline, boot2: ConsoleTimeline, hibernate: Walk, resume: Walk, resumeStart: TimelineEvent): Specifics {
  const writeStart = hibernate.ends.get('freeze + snapshot')!;
  const writeEnd = hibernate.ends.get('write')!;
  const loadStart = resume.ends.get('check + freeze')!;
  const loadEnd = resume.ends.get('load')!;
  const wrote = boot1.expect(/PM: hibernation: Wrote (\d+) kbytes in (\d+\.\d+) seconds/, "the kernel's write speed", writeEnd.index);
  const read = boot2.expect(/PM: hibernation: Read (\d+) kbytes in (\d+\.\d+) seconds/, "the kernel's read speed", loadEnd.index);
  return {
    // The count excludes the header page, which the kernel writes separately.
    streamBytes: (number(writeStart, 1) + 1) * PAGE,
    reportedStoredBytes: null,
    checks: [
      { name: 'write, kernel clock', hostMs: writeEnd.atMs - writeStart.atMs, guestMs: kernelTimeMs(writeEnd) - kernelTimeMs(writeStart) },
      { name: 'write, "Wrote … in S seconds"', hostMs: writeEnd.atMs - writeStart.atMs, guestMs: number(wrote, 2) * 1000 },
      { name: 'load, kernel clock', hostMs: loadEnd.atMs - loadStart.atMs, guestMs: kernelTimeMs(loadEnd) - kernelTimeMs(loadStart) },
      { name: 'load, "Read … in S seconds"', hostMs: loadEnd.atMs - loadStart.atMs, guestMs: number(read, 2) * 1000 },
      { name: 'resume start → load done, guest clock', hostMs: loadEnd.atMs - resumeStart.atMs, guestMs: kernelTimeMs(loadEnd) - stampTimeMs(resumeStart) },
    ],
  };
}

/** hiberkit's image header figures, and its critical section's own clock. */
function hiberkitSpecifics(boot2: ConsoleTimeline, hibernate: Walk, resume: Walk, resumeStart: TimelineEvent): Specifics {
  const snapshot = hibernate.ends.get('freeze + snapshot')!;
  const saved = hibernate.ends.get('write');
  const verified = resume.ends.get('load')!;
  // The restore child freezes user space right before it prints "restoring the image".
  const restoreFreeze = boot2.expect(/Freezing user space processes/, 'the restore freeze', verified.index + 1);
  // The line that starts the load: the resume program has found the image.
  const found = resume.ends.get(resume.phases[0]!.name)!;
  const checks: CrossCheck[] = [
    { name: 'load, resume clock', hostMs: verified.atMs - found.atMs, guestMs: number(verified, 3) },
    { name: 'resume start → restore freeze, guest clock', hostMs: restoreFreeze.atMs - resumeStart.atMs, guestMs: kernelTimeMs(restoreFreeze) - stampTimeMs(resumeStart) },
  ];
  if (saved) checks.unshift({ name: 'write, critical section clock', hostMs: saved.atMs - snapshot.atMs, guestMs: number(saved, 2) });
  return { streamBytes: number(verified, 1) * PAGE, reportedStoredBytes: number(verified, 2), checks };
}
