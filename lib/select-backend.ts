/**
 * The one place that chooses a backend: the real kernel through the native addon, or an
 * emulated machine whose state lives in a directory (`--emulate DIR`).
 */
import type { Backend } from './backend.js';

export interface BackendChoice {
  /** Directory of an emulated machine; absent means this real machine. */
  emulate?: string;
}

export async function openBackend(choice: BackendChoice = {}): Promise<Backend> {
  if (choice.emulate !== undefined) {
    const { openEmulatedMachine } = await import('../emulator/index.js');
    return openEmulatedMachine(choice.emulate).backend;
  }
  const { createNativeBackend } = await import('./native/backend.js');
  return createNativeBackend();
}
