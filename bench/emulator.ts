/**
 * The emulator's own pipeline throughput on the host: an emulated machine hibernated and resumed
 * through the library (hibernate(), then resume() in its next boot), as `hiberkit demo` does,
 * timed. It measures hiberkit's TypeScript path and the emulator, not a kernel: a figure to keep
 * the emulator usable for tests of realistic size, reported next to the VM's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmulatedMachine, openEmulatedMachine } from '../emulator/index.js';
import { hibernate } from '../lib/hibernate.js';
import { inspect } from '../lib/inspect.js';
import { resume } from '../lib/resume.js';

const MIB = 1 << 20;

export interface EmulatorFigures {
  memoryMiB: number;
  streamBytes: number;
  storedBytes: number;
  /** hibernate() called → the emulated machine switched off. */
  hibernateMs: number;
  /** resume() called in the next boot → the first boot's hibernate() returned. */
  resumeMs: number;
  /** Uncompressed stream through both, MiB/s. */
  mibPerSecond: number;
}

class EmulatorRunError extends Error {}

export async function measureEmulator(memoryMiB: number): Promise<EmulatorFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'hiberkit-bench-emulator-'));
  try {
    const memoryBytes = memoryMiB * MIB;
    createEmulatedMachine(dir, { config: { memoryBytes, swaps: [{ type: 'partition', device: '/dev/vda', sizeBytes: memoryBytes }] } });
    const first = openEmulatedMachine(dir);
    const hibernateStarted = performance.now();
    const hibernating = hibernate({ backend: first.backend, compress: 'lz4' });
    await first.switchedOff(hibernating);
    const hibernateMs = performance.now() - hibernateStarted;

    const second = openEmulatedMachine(dir);
    // Outside the timed part: inspect reads and verifies the whole image once more.
    const report = await inspect({ backend: second.backend });
    if (!report.valid) throw new EmulatorRunError(`the emulated image is not valid: ${report.problem?.message}`);
    const resumeStarted = performance.now();
    const resumed = await resume({ backend: second.backend });
    if (resumed.status !== 'restored') throw new EmulatorRunError(`the emulated resume found ${resumed.status}`);
    await hibernating;
    const resumeMs = performance.now() - resumeStarted;

    return {
      memoryMiB,
      streamBytes: report.streamBytes!,
      storedBytes: report.storedBytes!,
      hibernateMs,
      resumeMs,
      mibPerSecond: report.streamBytes! / MIB / ((hibernateMs + resumeMs) / 1000),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
