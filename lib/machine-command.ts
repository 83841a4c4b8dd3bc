/**
 * `hiberkit machine create DIR` and `hiberkit machine show DIR`: emulated machines, made on
 * purpose and looked at without booting them.
 */
import { join } from 'node:path';
import { createEmulatedMachine, existingStateDir, type MachineConfig, type SessionRecord } from '../emulator/index.js';
import { machinePaths } from './machine-paths.js';
import { mib } from './preflight.js';

/** Creates the machine and returns what to print: what it is, and the commands to try next. */
export function createMachine(dir: string, sizes: { memoryBytes?: number; swapBytes?: number }): string {
  const config = createEmulatedMachine(dir, sizes);
  return [
    `created an emulated machine in ${dir}, switched off:`,
    ...describeHardware(dir, config),
    '',
    'next:',
    `  hiberkit doctor    --emulate ${dir}`,
    `  hiberkit hibernate --emulate ${dir}     # saves the machine and waits until it is resumed`,
    `  hiberkit resume    --emulate ${dir}     # in another shell: the next boot resumes it`,
    `  hiberkit machine show ${dir}`,
    '',
  ].join('\n');
}

/** What `machine show` prints: the hardware, whether it runs, and the hibernated sessions. */
export function showMachine(dir: string): string {
  const state = existingStateDir(dir);
  const config = state.readConfig();
  const power = state.readPower();
  const running = power.state === 'running';
  const boot = running ? power.vars.bootNumber : power.bootNumber;
  const lines = [
    `emulated machine in ${dir}: ${running ? `running (boot ${boot}${power.vars.phase === 'early' ? ', in its initramfs' : ''})` : boot === 0 ? 'off, never booted' : `off (after boot ${boot})`}`,
    ...describeHardware(dir, config),
    ...describeSessions(Object.values(state.readSessions())),
  ];
  return `${lines.join('\n')}\n`;
}

function describeHardware(dir: string, config: MachineConfig): string[] {
  const paths = machinePaths(dir);
  return [
    `  RAM:       ${mib(config.memoryBytes)}`,
    ...config.disks.map((disk) => `  disk:      ${disk.device}, ${mib(disk.sizeBytes)} (sparse file ${join(dir, 'disks', `${disk.device.slice('/dev/'.length)}.img`)})`),
    ...config.swaps.map((swap) =>
      swap.type === 'file'
        ? `  swap:      swap file ${swap.path}, ${mib(swap.sizeBytes)}, on ${swap.device} at page ${swap.offsetPages} (its resume offset)`
        : `  swap:      swap partition ${swap.device}, ${mib(swap.sizeBytes)}`,
    ),
    `  kernel:    ${config.kernel.release}, command line: ${config.cmdline.join(' ')}`,
    `  its /etc:  ${paths.configFile} (settings), ${paths.keyDirectory}/ (keys of \`hiberkit keygen --emulate ${dir}\`)`,
  ];
}

function describeSessions(sessions: SessionRecord[]): string[] {
  const waiting = sessions.filter((s) => s.state === 'suspended');
  const count = (state: SessionRecord['state']) => sessions.filter((s) => s.state === state).length;
  return [
    waiting.length > 0
      ? `  image:     waiting to be resumed (made in boot ${waiting.map((s) => s.bootNumber).join(', ')}): \`hiberkit resume --emulate\` or \`hiberkit discard --emulate\``
      : '  image:     none waiting',
    `  sessions:  ${count('resumed')} resumed, ${count('lost')} lost`,
  ];
}
