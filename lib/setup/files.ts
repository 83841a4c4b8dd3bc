/**
 * What setup writes: files with their content and mode, and the pieces of shell the generators'
 * build-time hooks share.
 */
import { INITRD_PATHS } from './boot-script.js';

export interface InstalledFile {
  /** Absolute path on the installed system. */
  path: string;
  content: string | Buffer;
  mode: number;
}


/**
 * Build-time shell (needs boot-script.ts's SETTING_READER) that copies the private key resume opens public-key
 * images with: the config's secret-key, else the default one when it exists. The signing key is
 * refused: whoever reads the initramfs (it is not encrypted) could sign images with it.
 * `copy` copies "$key" into the initramfs; `fail` ends the build (exit 1, or return 1 in a
 * function that dracut sources).
 */
export function buildTimeKeyCopy(copy: string, fail = 'exit 1', indent = ''): string {
  const lines = [
    '# Public-key images need the private key at boot: the one the config names, else the default one.',
    `key=$(hiberkit_setting secret-key ${INITRD_PATHS.config})`,
    `key=\${key:-${INITRD_PATHS.defaultSecretKey}}`,
    'case $key in',
    '*/sign.key)',
    '\techo "E: hiberkit: secret-key names $key, the key that signs images: it must never be in the initramfs; name the private key (hiberkit keygen writes it as key)" >&2',
    `\t${fail}`,
    '\t;;',
    'esac',
    'if [ -f "$key" ]; then',
    `\t${copy}`,
    'fi',
  ];
  return lines.map((line) => `${indent}${line}`).join('\n');
}
