/**
 * The one place that chooses a backend: the real kernel through the native addon, or an
 * emulated machine whose state lives in a directory (`--emulate DIR`).
 */
import type { Backend } from './backend.js';

export interface BackendChoice {
  /**
   * Directory of an emulated machine, made beforehand (`createEmulatedMachine`, `hiberkit machine
   * create`): a directory without one is refused (NO_MACHINE). Absent means this real machine.
   */
  emulate?: string;
}

/** Refuses a directory that holds no emulated machine (NO_MACHINE, BAD_MACHINE), without booting it. */
export async function assertEmulatedMachine(dir: string): Promise<void> {
  const { existingStateDir } = await import('../emulator/index.js');
  existingStateDir(dir);
}

export async function openBackend(choice: BackendChoice = {}): Promise<Backend> {
  if (choice.emulate !== undefined) {
    const { openEmulatedMachine } = await import('../emulator/index.js');
    return openEmulatedMachine(choice.emulate).backend;
  }
  const { createNativeBackend } = await import('./native/backend.js');
  return createNativeBackend();
}
