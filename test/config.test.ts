import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadConfig, parseConfig, parseSetting, parseSize } from '../lib/config.js';
import { HiberkitError } from '../lib/errors.js';

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
