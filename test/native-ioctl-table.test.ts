/**
 * The ioctl numbers compiled into the addon (from <linux/suspend_ioctls.h>), lib/ioctls.ts and
 * the literal values of docs/snapshot-device.md §2.2 must be one and the same table.
 */
import { describe, expect, it } from 'vitest';

import { IOCTLS, type SnapshotIoctl } from '../lib/ioctls.js';
import { loadTestBinding } from './native-test-binding.js';

const SPEC_VALUES: Record<SnapshotIoctl, number> = {
  SNAPSHOT_FREEZE: 0x00003301,
  SNAPSHOT_UNFREEZE: 0x00003302,
  SNAPSHOT_ATOMIC_RESTORE: 0x00003304,
  SNAPSHOT_FREE: 0x00003305,
  SNAPSHOT_FREE_SWAP_PAGES: 0x00003309,
  SNAPSHOT_S2RAM: 0x0000330b,
  SNAPSHOT_SET_SWAP_AREA: 0x400c330d,
  SNAPSHOT_GET_IMAGE_SIZE: 0x8008330e,
  SNAPSHOT_PLATFORM_SUPPORT: 0x0000330f,
  SNAPSHOT_POWER_OFF: 0x00003310,
  SNAPSHOT_CREATE_IMAGE: 0x40043311,
  SNAPSHOT_PREF_IMAGE_SIZE: 0x00003312,
  SNAPSHOT_AVAIL_SWAP_SIZE: 0x80083313,
  SNAPSHOT_ALLOC_SWAP_PAGE: 0x80083314,
};

describe('ioctl table', () => {
  const native = loadTestBinding();
  const names = Object.keys(SPEC_VALUES).sort();

  it('names the same fourteen requests in the addon, lib/ioctls.ts and docs/snapshot-device.md', () => {
    expect(names).toHaveLength(14);
    expect(Object.keys(native.ioctlNumbers).sort()).toEqual(names);
    expect(Object.keys(IOCTLS).sort()).toEqual(names);
  });

  it.each(Object.entries(SPEC_VALUES))('%s has the same value everywhere', (name, value) => {
    const key = name as SnapshotIoctl;
    expect(native.ioctlNumbers[key]).toBe(value);
    expect(IOCTLS[key].request).toBe(value);
  });

  it.each(Object.keys(SPEC_VALUES))('%s takes the same kind of argument in the addon and in lib/ioctls.ts', (name) => {
    const key = name as SnapshotIoctl;
    expect(native.ioctlArgs[key]).toBe(IOCTLS[key].arg);
  });
});
