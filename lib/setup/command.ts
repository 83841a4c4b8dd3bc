/**
 * `hiberkit setup [--undo]` on this machine: the live facts, the plan shown and confirmed, the
 * changes made and what is left for the user.
 */
import { existsSync, realpathSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { HiberkitError } from '../errors.js';
import { resumeProgramPath } from '../native/resume-program.js';
import { openBackend } from '../select-backend.js';
import type { Settings } from '../config.js';
import { installedGenerators, liveStableName, runCommand, type CommandRunner, type SetupFacts } from './facts.js';
import { applySetup, undoSetup } from './install.js';
import { planSetup, type SetupPlan } from './plan.js';
import { MKINITCPIO_PATHS } from './mkinitcpio.js';
import { INITRD_PATHS } from './boot-script.js';
import { mib, type Finding } from '../preflight.js';
import { checkInstallation, type InstallationContext } from './doctor.js';

export async function liveSetupFacts(): Promise<SetupFacts> {
  const backend = await openBackend();
  const { system } = backend;
  return {
    root: '/',
    isPrivileged: system.isPrivileged(),
    system,
    lockdown: system.hibernationSupport().lockdown,
    stableName: liveStableName,
    generators: installedGenerators(),
    systemd: existsSync('/run/systemd/system'),
    resumeProgram: resumeProgramPath(),
    nodePath: process.execPath,
    cliPath: realpathSync(process.argv[1]!),
  };
}

/** doctor's checks of what setup installed on this machine. */
export function installationFindings(system: InstallationContext['system']): Finding[] {
  let resumeProgram: string | null = null;
  try {
    resumeProgram = resumeProgramPath();
  } catch {
    // Not built for this machine: the check says the installed copy is not this package's.
  }
  return checkInstallation({ root: '/', system, systemd: existsSync('/run/systemd/system'), resumeProgram, run: runCommand });
}

export function describePlan(plan: SetupPlan): string {
  const { target } = plan;
  const settings = Object.entries(plan.config).map(([name, value]) => (value === null ? `no ${name}` : `${name} = ${value}`));
  return [
    'hiberkit setup will:',
    `  - resume from ${target.swapPath} (${mib(target.sizeBytes)}): ${target.name}${target.offsetPages ? ` at page ${target.offsetPages}` : ''}`,
    `  - set ${settings.join(', ')} in ${INITRD_PATHS.config} (other settings stay)`,
    `  - install for ${plan.generator}${plan.files.some((f) => f.path.includes('systemd-hibernate')) ? ' and systemd' : ''}: ${plan.files.map((f) => f.path).join(', ')}`,
    ...(plan.mkinitcpioHook ? [`  - add hiberkit to HOOKS in ${MKINITCPIO_PATHS.config}, before filesystems`] : []),
    `  - run: ${plan.commands.map((argv) => argv.join(' ')).join('; ')}`,
    '',
  ].join('\n');
}

async function confirmed(question: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim());
  } finally {
    prompt.close();
  }
}

export interface SetupRun {
  /** Ask on the terminal first (no --yes). */
  ask: boolean;
  print: (line: string) => void;
  runner: CommandRunner;
}

/** `settings`: /etc/hiberkit.conf with setup's flags over it. */
export async function runSetup({ settings, ask, print, facts, runner }: SetupRun & { settings: Settings; facts: SetupFacts }): Promise<number> {
  const plan = planSetup(facts, settings);
  if (ask) {
    process.stdout.write(describePlan(plan));
    if (!(await confirmed('Go ahead? [y/N] '))) {
      print('nothing was changed');
      return 1;
    }
  }
  const { changes } = applySetup(plan, facts, runner);
  if (changes.length === 0) print('already set up: nothing changed');
  for (const change of changes) print(change);
  for (const note of plan.notes) print(`note: ${note}`);
  return 0;
}

export async function runUndo({ ask, print, root, privileged, runner }: SetupRun & { root: string; privileged: boolean }): Promise<number> {
  if (!privileged) {
    throw new HiberkitError('NOT_ROOT', 'setup --undo changes the initramfs and /etc: run it as root');
  }
  if (ask && !(await confirmed('Remove what hiberkit setup installed and regenerate the initramfs? [y/N] '))) {
    print('nothing was changed');
    return 1;
  }
  const { changes } = undoSetup(root, runner);
  if (changes.length === 0) {
    print('nothing to undo: hiberkit setup has not installed anything here');
    return 0;
  }
  for (const change of changes) print(change);
  print("regenerated the initramfs: hibernation is the kernel's own again");
  return 0;
}
