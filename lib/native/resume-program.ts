/**
 * Where the native resume program is: `hiberkit-resume`, the C++ program that resumes an image
 * without Node (native/resume/). `hiberkit setup` copies it into the initramfs; tests run it.
 * Looked up like the addon (node-gyp-build's order): a local build first, then the prebuild for
 * this platform and architecture.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HiberkitError } from '../errors.js';
import { packageRoot } from '../package-info.js';

export const RESUME_PROGRAM_NAME = 'hiberkit-resume';

/** The candidates, best first: what `npm run build:native` made, then the shipped prebuild. */
export function resumeProgramCandidates(root = packageRoot()): string[] {
  return [
    join(root, 'build', 'Release', RESUME_PROGRAM_NAME),
    join(root, 'prebuilds', `${process.platform}-${process.arch}`, RESUME_PROGRAM_NAME),
  ];
}

/** The path of hiberkit-resume, or NO_RESUME_PROGRAM saying how to get one. */
export function resumeProgramPath(root = packageRoot()): string {
  const candidates = resumeProgramCandidates(root);
  const found = candidates.find((path) => existsSync(path));
  if (found) return found;
  throw new HiberkitError(
    'NO_RESUME_PROGRAM',
    `${RESUME_PROGRAM_NAME} is not built for ${process.platform}-${process.arch} (looked for ${candidates.join(' and ')}): run \`npm run build:native\` in ${root} (needs g++, make, python3 and libssl-dev)`,
  );
}

/**
 * hiberkit-resume at `path`, once it has shown that it runs here: a prebuild needs a glibc at
 * least as new as the one it was built against (2.36), and the copy setup puts into the initramfs
 * must not be one that fails only at the next boot. Throws RESUME_PROGRAM_BROKEN with how to
 * build it from source.
 */
export function runnableResumeProgram(path: string): string {
  const run = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (run.status === 0) return path;
  const said = (run.error?.message ?? run.stderr ?? '').trim().split('\n')[0] || `exit ${run.status ?? run.signal}`;
  throw new HiberkitError(
    'RESUME_PROGRAM_BROKEN',
    `${path} does not run on this system (${said}): build it from source with \`npm rebuild -g hiberkit --build-from-source\` (needs g++, make, python3 and libssl-dev), then run this again`,
  );
}
