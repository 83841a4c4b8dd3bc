/**
 * Commands run in a chroot of a Debian root tree on the host (root.ts regenerates its initramfs,
 * system.ts installs hiberkit with npm), with what they need of the host mounted for the time of
 * the call, and always unmounted again.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { runOrThrow } from '../provision.js';

const HOST_CERTIFICATES = '/etc/ssl/certs';

export interface ChrootMounts {
  /** Host directories bound read-only at the same path in the chroot. */
  readOnly?: Array<{ host: string; guest: string }>;
  /**
   * The host's DNS settings and trust store (the roots have no ca-certificates), so that npm
   * reaches the registry as the host does, through whatever TLS proxy the host trusts
   * (NODE_EXTRA_CA_CERTS, inherited, points into the trust store).
   */
  network?: boolean;
}

/** Runs `body` with /dev, /proc and /sys (and what `mounts` asks for) mounted in `tree`. */
export function withChroot<T>(tree: string, mounts: ChrootMounts, body: () => T): T {
  const mounted: string[] = [];
  const bind = (source: string, target: string, readOnly: boolean): void => {
    mkdirSync(target, { recursive: true });
    runOrThrow('mount', ['--bind', source, target]);
    mounted.push(target);
    if (readOnly) runOrThrow('mount', ['-o', 'remount,bind,ro', target]);
  };
  try {
    bind('/dev', join(tree, 'dev'), false);
    runOrThrow('mount', ['-t', 'proc', 'proc', join(tree, 'proc')]);
    mounted.push(join(tree, 'proc'));
    runOrThrow('mount', ['-t', 'sysfs', 'sysfs', join(tree, 'sys')]);
    mounted.push(join(tree, 'sys'));
    for (const { host, guest } of mounts.readOnly ?? []) bind(host, join(tree, guest), true);
    if (mounts.network) {
      if (existsSync(HOST_CERTIFICATES)) bind(HOST_CERTIFICATES, join(tree, HOST_CERTIFICATES), true);
      copyFileSync('/etc/resolv.conf', join(tree, 'etc', 'resolv.conf'));
    }
    return body();
  } finally {
    for (const target of mounted.reverse()) runOrThrow('umount', [target]);
    if (mounts.network) rmSync(join(tree, 'etc', 'resolv.conf'), { force: true });
  }
}

/**
 * Throws if anything is still mounted under `dir`: deleting a tree with the host's /dev bound
 * into it would delete the host's device nodes.
 */
export function assertNothingMountedUnder(dir: string): void {
  const prefix = `${realpathSync(dir)}/`;
  const mounted = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith(prefix));
  if (mounted.length > 0) throw new Error(`Debian VM: still mounted under ${dir}: ${mounted.join(', ')}; unmount them and delete ${dir} by hand`);
}
