/**
 * Where hiberkit's configuration and keys live on a machine: under /etc on this one, under
 * DIR/etc on the emulated machine in DIR (`--emulate DIR`), so that an emulated machine never
 * reads or writes the host's.
 */
import { join } from 'node:path';

export interface MachinePaths {
  /** hiberkit.conf: the defaults of every command. */
  configFile: string;
  /** Where `hiberkit keygen` writes the key pair. */
  keyDirectory: string;
  /** The public key hibernate seals images to. */
  publicKey: string;
  /** The private key resume opens them with. */
  secretKey: string;
}

/** The paths of this machine, or of the emulated machine in `emulate`. */
export function machinePaths(emulate?: string): MachinePaths {
  const etc = emulate === undefined ? '/etc' : join(emulate, 'etc');
  const keyDirectory = join(etc, 'hiberkit');
  return { configFile: join(etc, 'hiberkit.conf'), keyDirectory, publicKey: join(keyDirectory, 'key.pub'), secretKey: join(keyDirectory, 'key') };
}
