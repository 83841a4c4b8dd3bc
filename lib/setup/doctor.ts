/**
 * `hiberkit doctor`'s look at the installation `hiberkit setup` made: the running kernel's
 * initramfs holds the resume step, the configured area is an active swap area with room for the
 * image, hiberkit-resume in the initramfs is this package's, systemd hibernates through hiberkit,
 * and the kernel points at the area (what logind checks before `systemctl hibernate`). Each check
 * is one line with what to do; a machine never set up gets one warning saying how.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../config.js';
import { HiberkitError } from '../errors.js';
import { decodeDev } from '../ioctls.js';
import { mib, type Finding } from '../preflight.js';
import { hibernationTarget } from '../target.js';
import type { SystemInfo } from '../backend.js';
import { HOST_PATHS, INITRD_PATHS } from './boot-script.js';
import type { CommandRunner, Generator } from './facts.js';
import { readManifest } from './install.js';
import { SYSTEMD_PATHS } from './systemd.js';

export interface InstallationContext {
  root: string;
  system: Pick<SystemInfo, 'swapAreas' | 'resolveBlockDevice' | 'memoryInUseBytes' | 'kernelRelease'>;
  systemd: boolean;
  /** hiberkit-resume as this package has it, or null when it is not built. */
  resumeProgram: string | null;
  run: CommandRunner;
}

/** How to list each generator's image of the running kernel (the paths it holds). */
function listingCommands(generator: Generator, root: string, release: string): string[][] {
  switch (generator) {
    case 'initramfs-tools':
      return [['lsinitramfs', join(root, `/boot/initrd.img-${release}`)]];
    case 'dracut':
      return [['lsinitrd', '-k', release]];
    case 'mkinitcpio': {
      // Named after the kernel package (initramfs-linux.img), not the release; the fallback images are not booted.
      const boot = join(root, '/boot');
      const images = existsSync(boot) ? readdirSync(boot).filter((name) => /^initramfs-.*\.img$/.test(name) && !name.includes('-fallback')) : [];
      return images.map((name) => ['lsinitcpio', join(boot, name)]);
    }
  }
}

const RESUME_STEP = INITRD_PATHS.program.slice(1);

function initramfsFinding(context: InstallationContext, generator: Generator): Finding {
  const release = context.system.kernelRelease();
  const missing = listingCommands(generator, context.root, release).filter((argv) => {
    const { status, output } = context.run(argv);
    return status !== 0 || !output.includes(RESUME_STEP);
  });
  const regenerate = { 'initramfs-tools': 'update-initramfs -u -k all', dracut: 'dracut --regenerate-all --force', mkinitcpio: 'mkinitcpio -P' }[generator];
  return {
    code: 'INITRAMFS_WITHOUT_RESUME',
    ok: missing.length === 0,
    summary: `the initramfs of kernel ${release} (${generator}) ${missing.length === 0 ? 'holds' : 'lacks'} hiberkit's resume step`,
    fix: `run \`${regenerate}\` (or \`hiberkit setup\` again); without it a hibernated session is not resumed at boot`,
  };
}

function areaFinding(context: InstallationContext): Finding {
  const code = 'NOT_ACTIVE_SWAP';
  const config = join(context.root, INITRD_PATHS.config);
  let summary: string;
  try {
    const settings = loadConfig(config, config);
    if (settings.resumeDevice === undefined) {
      return { code: 'NO_RESUME_DEVICE', ok: false, summary: `${INITRD_PATHS.config} names no resume-device`, fix: 'run `hiberkit setup` again' };
    }
    const { swap } = hibernationTarget(context, settings);
    const free = swap.sizeBytes - swap.usedBytes;
    const inUse = context.system.memoryInUseBytes();
    summary = `${INITRD_PATHS.config} names ${settings.resumeDevice}: ${swap.path}, ${mib(free)} free for ${mib(inUse)} of memory in use`;
    const needed = settings.compress === 'none' ? inUse : inUse / 2;
    if (free < needed) {
      return { code: 'NOT_ENOUGH_SWAP', ok: false, summary, fix: 'add swap (or free memory): the image of the memory in use does not fit' };
    }
    return { code, ok: true, summary };
  } catch (err) {
    if (!(err instanceof HiberkitError)) throw err;
    return { code: err.code, ok: false, summary: err.message, fix: 'swapon the area, or run `hiberkit setup` again to pick one' };
  }
}

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

function programFinding(context: InstallationContext): Finding {
  const installed = join(context.root, HOST_PATHS.program);
  const current = existsSync(installed) && context.resumeProgram !== null && sha256(installed) === sha256(context.resumeProgram);
  return {
    code: 'STALE_RESUME_PROGRAM',
    ok: current,
    summary: `${HOST_PATHS.program} (copied into the initramfs) ${current ? 'is' : 'is not'} this hiberkit's hiberkit-resume`,
    fix: 'run `hiberkit setup` again (after an upgrade the initramfs still holds the old resume program)',
  };
}

function systemdFinding(context: InstallationContext): Finding {
  const dropIn = join(context.root, SYSTEMD_PATHS.hibernateDropIn);
  const text = existsSync(dropIn) ? readFileSync(dropIn, 'utf8') : '';
  const command = /^ExecStart=(\S.*)$/m.exec(text)?.[1] ?? '';
  // The node and CLI paths the drop-in names (an `npm install -g` elsewhere, or a node upgrade, moves them).
  const paths = command.split(' ').slice(0, 2).map((word) => word.replace(/^"|"$/g, ''));
  const ok = command !== '' && paths.every((path) => existsSync(join(context.root, path)));
  return {
    code: 'SYSTEMD_NOT_WIRED',
    ok,
    summary: ok ? '`systemctl hibernate` goes through hiberkit' : `${SYSTEMD_PATHS.hibernateDropIn} ${text ? `runs ${command || 'nothing'}, which is not there` : 'is missing'}`,
    fix: 'run `hiberkit setup` again, then `systemctl hibernate` hibernates through hiberkit',
  };
}

function kernelResumeFinding(context: InstallationContext): Finding {
  const read = (name: string) => {
    const path = join(context.root, '/sys/power', name);
    return existsSync(path) ? readFileSync(path, 'utf8').trim() : '';
  };
  const config = join(context.root, INITRD_PATHS.config);
  let expected = '';
  try {
    const { swap, resumePage } = hibernationTarget(context, loadConfig(config, config));
    const { major, minor } = decodeDev(swap.dev);
    expected = `${major}:${minor} offset ${resumePage}`;
  } catch {
    // areaFinding says what is wrong with the area.
  }
  const actual = `${read('resume')} offset ${read('resume_offset') || '0'}`;
  return {
    code: 'KERNEL_RESUME_ELSEWHERE',
    ok: expected !== '' && actual === expected,
    summary: `/sys/power/resume: ${actual}${expected && actual !== expected ? ` (the config's area is ${expected})` : ''}`,
    fix: 'logind refuses `systemctl hibernate` (systemd 255+, without EFI) unless it names the area: reboot (the initramfs sets it), or run `hiberkit setup` again',
  };
}

export function checkInstallation(context: InstallationContext): Finding[] {
  const manifest = readManifest(context.root);
  if (!manifest) {
    return [{ code: 'NOT_SET_UP', ok: false, warning: true, summary: 'hiberkit is not set up on this machine', fix: 'run `hiberkit setup`: it puts the resume step into the initramfs and makes `systemctl hibernate` go through hiberkit' }];
  }
  return [
    initramfsFinding(context, manifest.generator),
    programFinding(context),
    areaFinding(context),
    kernelResumeFinding(context),
    ...(context.systemd ? [systemdFinding(context)] : []),
  ];
}
