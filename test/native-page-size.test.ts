// The native backend works in 4096-byte pages (addon, image format, /dev/snapshot's stream as
// hiberkit reads it): on a kernel with other pages it refuses before anything is opened.
import { describe, expect, test } from 'vitest';
import { assertSupportedPageSize, createNativeBackend } from '../lib/native/backend.js';
import { requireNative, type NativeBinding } from '../lib/native/binding.js';

describe('the page size the native backend accepts', () => {
  test('4 KiB pages are accepted', () => {
    expect(() => assertSupportedPageSize(4096)).not.toThrow();
  });

  test.each([16384, 65536])('%i-byte pages are refused with UNSUPPORTED_PAGE_SIZE', (pageSize) => {
    expect(() => assertSupportedPageSize(pageSize)).toThrow(
      expect.objectContaining({ code: 'UNSUPPORTED_PAGE_SIZE', message: `this kernel uses ${pageSize / 1024} KiB pages; hiberkit supports 4 KiB pages only (use the kernel's own hibernation on this machine)` }),
    );
  });

  test('the addon reports this kernel\'s page size, and createNativeBackend checks it first', () => {
    const native = requireNative();
    expect(native.pageSize()).toBe(4096);
    const sixteenK: NativeBinding = Object.assign(Object.create(native) as NativeBinding, { pageSize: () => 16384 });
    expect(() => createNativeBackend({ native: sixteenK })).toThrow(expect.objectContaining({ code: 'UNSUPPORTED_PAGE_SIZE' }));
    expect(createNativeBackend({ native }).name).toBe('native');
  });
});
