/**
 * Where the native resume program is: `hiberkit-resume`, the C++ program that resumes an image
 * without Node (native/resume/). `hiberkit setup` copies it into the initramfs; tests run it.
 * Looked up like the addon (node-gyp-build's order): a local build first, then the prebuild for
 * this platform and architecture.
 */
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
