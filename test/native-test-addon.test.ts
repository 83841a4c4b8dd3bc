/**
 * The test addon (test/native/) holds the entries only tests use; the production addon, which
 * the package ships and prebuilds, must hold none of them.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadTestBinding } from './native-test-binding.js';

const require = createRequire(import.meta.url);
const productionAddon = fileURLToPath(new URL('../build/Release/hiberkit.node', import.meta.url));

describe('the test addon', () => {
  it('exports its test entries, none of which is in the production addon', () => {
    const testEntries = Object.keys(loadTestBinding()).filter((name) => name !== 'setErrorClass');
    expect(testEntries).toEqual(expect.arrayContaining(['writeImageFromBuffer', 'crc32cTable', 'ioctlNumbers', 'errnoName']));
    const production = Object.keys(require(productionAddon) as object);
    expect(production).toContain('snapshotOpen');
    expect(testEntries.filter((name) => production.includes(name))).toEqual([]);
  });
});
