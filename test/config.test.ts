import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadConfig, parseConfig, parseSetting, parseSize } from '../lib/config.js';
import { HiberkitError } from '../lib/errors.js';
import { updateConfigFile } from '../lib/crypto/keygen.js';

describe('config file', () => {
  test('parses every key, comments and blank lines', () => {
    const text = `
      # hiberkit defaults
      resume-device = UUID=1234-abcd   # trailing comment
      resume-offset = 34816
      image-size = 500M
      compress = none
      power-off = shutdown
    `;
    expect(parseConfig(text)).toEqual({
      resumeDevice: 'UUID=1234-abcd',
      resumeOffset: 34816,
      imageSize: 500 * 1024 * 1024,
      compress: 'none',
      powerOff: 'shutdown',
    });
  });

  test('names the line of a bad value or an unknown key', () => {
    expect(() => parseConfig('compress = zstd', 'f.conf')).toThrow(/f\.conf:1: "zstd" is not one of lz4, none/);
    expect(() => parseConfig('\n\ncompres = lz4', 'f.conf')).toThrow(/f\.conf:3: unknown setting "compres"/);
    expect(() => parseConfig('resume-offset 5')).toThrow(/expected "key = value"/);
    try {
      parseConfig('power-off = hibernate');
    } catch (err) {
      expect(err).toBeInstanceOf(HiberkitError);
      expect((err as HiberkitError).code).toBe('BAD_CONFIG');
    }
  });

  test('a key set twice is refused, naming both lines', () => {
    expect(() => parseConfig('compress = lz4\n# a comment\npower-off = shutdown\ncompress = none\n', 'f.conf')).toThrow(
      expect.objectContaining({ code: 'BAD_CONFIG', message: 'f.conf:4: "compress" is set twice, on lines 1 and 4; keep one' }),
    );
  });

  test('sizes take binary suffixes', () => {
    expect(parseSize('0')).toBe(0);
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize('2G')).toBe(2 * 1024 ** 3);
    expect(parseSize('1.5M')).toBe(1.5 * 1024 ** 2);
    expect(parseSize('64KiB')).toBe(64 * 1024);
    expect(() => parseSize('lots')).toThrow(/is not a size/);
  });

  test('flags use the same parser as the file', () => {
    expect(parseSetting('image-size', '1G')).toEqual({ imageSize: 1024 ** 3 });
    expect(() => parseSetting('resume-offset', '-1')).toThrow(/not a page count/);
  });

  test('a missing default file means no defaults; a missing named file is an error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hk-config-'));
    expect(() => loadConfig(join(dir, 'absent.conf'))).toThrow(/cannot read/);
    const file = join(dir, 'hiberkit.conf');
    writeFileSync(file, 'compress = lz4\n');
    expect(loadConfig(file)).toEqual({ compress: 'lz4' });
  });
});

describe('updateConfigFile (keygen, setup)', () => {
  test('sets, replaces in place and removes settings, keeps everything else, and returns the values before: a round trip', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'hiberkit-config-')), 'hiberkit.conf');
    const original = '# mine\nimage-size = 500M\ncompress = none   # fast disks\n\npower-off = shutdown\n';
    writeFileSync(file, original);
    const before = updateConfigFile(file, { compress: 'lz4', 'resume-device': 'UUID=1234-abcd', 'power-off': null });
    expect(before).toEqual({ compress: 'none', 'resume-device': null, 'power-off': 'shutdown' });
    expect(readFileSync(file, 'utf8')).toBe('# mine\nimage-size = 500M\ncompress = lz4\n\nresume-device = UUID=1234-abcd\n');
    expect(loadConfig(file)).toEqual({ imageSize: 500 << 20, compress: 'lz4', resumeDevice: 'UUID=1234-abcd' });
    updateConfigFile(file, before);
    expect(loadConfig(file)).toEqual(parseConfig(original));
  });

  test('creates the file it is pointed at, and a commented-out line is not a setting', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'hiberkit-config-')), 'hiberkit.conf');
    expect(updateConfigFile(file, { encrypt: 'public-key' })).toEqual({ encrypt: null });
    writeFileSync(file, '# encrypt = none\nencrypt = public-key\n');
    expect(updateConfigFile(file, { encrypt: null })).toEqual({ encrypt: 'public-key' });
    expect(readFileSync(file, 'utf8')).toBe('# encrypt = none\n');
  });
});
