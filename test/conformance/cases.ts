/**
 * The /dev/snapshot conformance suite: docs/snapshot-device.md §12's vectors and the full hibernate-side sequence,
 * as cases any Backend can run. Assertions use node:assert only, so the same file runs under
 * vitest against the emulator and under plain node inside the QEMU guest against the kernel.
 *
 * Every case leaves the device closed, and so the machine thawed, even when it fails. No case
 * lets a kernel switch the machine off, suspend it, or restore an image: those calls are only
 * made where the machine (per its context) must refuse them.
 */
import assert from 'node:assert/strict';
import type { SnapshotDevice } from '../../lib/backend.js';
import { IOCTLS, PAGE_SIZE, decodeDev, encodeDev, ioc } from '../../lib/ioctls.js';
import { BM_END_OF_MAP, PFNS_PER_METADATA_PAGE, X86_RESTORE_MAGIC, ZERO_PFN_FLAG, decodeImageHeader, encodeImageHeader } from '../../emulator/image-stream.js';
import type { ConformanceCase, ConformanceContext } from './context.js';
import { allZero, captureReference, expectCode, forgeImage, pageOf, withDevice } from './stream.js';

export type { ConformanceCase, ConformanceContext, Need, SwapFacts } from './context.js';
export { applies, casesFor } from './context.js';

const SNAPSHOT_MAGIC = 0x33;
/** TCGETS: a terminal ioctl, type 'T'. */
const TCGETS = 0x5401;
/** The ioctl numbers of 2.6.2x kernels that 3.6+ no longer know (docs/snapshot-device.md §2.4, x86_64 values). */
const LEGACY_REQUESTS = [0x40083303, 0x40083306, 0x80083307, 0x80083308, 0x4004330a, 0x4004330c];
/** Batches of readv: 1024 one-page segments, as UIO_MAXIOV allows. */
const BATCH_PAGES = 1024;

export const CASES: readonly ConformanceCase[] = [
  // ---- open (docs/snapshot-device.md §3.1, vector 1) ---------------------------------------------------------
  {
    id: 'open/read-write-enosys',
    title: 'open(O_RDWR) of a free device fails with ENOSYS',
    needs: ['available', 'open-read-write'],
    run(ctx) {
      expectCode('ENOSYS', () => ctx.openReadWrite!(), 'open(O_RDWR)');
      // The slot was released again: a normal open works.
      ctx.backend.openSnapshot('hibernate').close();
    },
  },
  {
    id: 'open/read-write-busy-first',
    title: 'open(O_RDWR) of a device open elsewhere fails with EBUSY, not ENOSYS',
    needs: ['available', 'open-read-write'],
    run: (ctx) =>
      withDevice(ctx, 'hibernate', () => {
        expectCode('EBUSY', () => ctx.openReadWrite!(), 'open(O_RDWR) while open');
      }),
  },
  {
    id: 'open/single-open',
    title: 'the device opens once: a second open in either mode is EBUSY until the first closes',
    needs: ['available'],
    async run(ctx) {
      await withDevice(ctx, 'hibernate', () => {
        expectCode('EBUSY', () => ctx.backend.openSnapshot('restore'), 'second open (restore)');
        expectCode('EBUSY', () => ctx.backend.openSnapshot('hibernate'), 'second open (hibernate)');
      });
      await withDevice(ctx, 'restore', () => {
        expectCode('EBUSY', () => ctx.backend.openSnapshot('hibernate'), 'open while restore-mode open');
      });
    },
  },
  {
    id: 'open/unavailable-eperm',
    title: 'with hibernation unavailable (lockdown, nohibernate) open fails with EPERM in both modes',
    needs: ['unavailable'],
    run(ctx) {
      expectCode('EPERM', () => ctx.backend.openSnapshot('hibernate'), 'open(O_RDONLY)');
      expectCode('EPERM', () => ctx.backend.openSnapshot('restore'), 'open(O_WRONLY)');
    },
  },

  // ---- ioctl prologue (docs/snapshot-device.md §2.1, vector 2) -----------------------------------------------
  {
    id: 'ioctl/unprivileged',
    title: 'without CAP_SYS_ADMIN: foreign and out-of-range numbers are ENOTTY, every snapshot number (legacy ones too) is EPERM',
    needs: ['available', 'unprivileged'],
    run: (ctx) =>
      withDevice(ctx, 'hibernate', (device) => {
        expectCode('ENOTTY', () => device.ioctl(TCGETS), 'TCGETS');
        expectCode('ENOTTY', () => device.ioctl(ioc(0, SNAPSHOT_MAGIC, 21, 0)), "_IO('3', 21)");
        expectCode('EPERM', () => device.freeze(), 'SNAPSHOT_FREEZE');
        for (const spec of Object.values(IOCTLS)) expectCode('EPERM', () => device.ioctl(spec.request), spec.name);
        for (const request of LEGACY_REQUESTS) expectCode('EPERM', () => device.ioctl(request), `legacy 0x${request.toString(16)}`);
      }),
  },
  {
    id: 'ioctl/root-unknown-numbers',
    title: 'as root: legacy numbers, nr 0, nr > 20 and known numbers with the wrong size or direction are ENOTTY',
    needs: ['available', 'root'],
    run: (ctx) =>
      withDevice(ctx, 'hibernate', (device) => {
        for (const request of LEGACY_REQUESTS) expectCode('ENOTTY', () => device.ioctl(request), `legacy 0x${request.toString(16)}`);
        expectCode('ENOTTY', () => device.ioctl(ioc(0, SNAPSHOT_MAGIC, 0, 0)), "_IO('3', 0)");
        expectCode('ENOTTY', () => device.ioctl(ioc(0, SNAPSHOT_MAGIC, 21, 0)), "_IO('3', 21)");
        expectCode('ENOTTY', () => device.ioctl(ioc(1, SNAPSHOT_MAGIC, 17, 8)), "_IOW('3', 17, long)");
        expectCode('ENOTTY', () => device.ioctl(ioc(2, SNAPSHOT_MAGIC, 17, 4)), "_IOR('3', 17, int)");
        expectCode('ENOTTY', () => device.ioctl(ioc(1, SNAPSHOT_MAGIC, 1, 0)), "_IOW('3', 1, 0)");
        expectCode('ENOTTY', () => device.ioctl(TCGETS), 'TCGETS');
      }),
  },

  // ---- a fresh device (vector 3, docs/snapshot-device.md §3.5) ------------------------------------------------
  {
    id: 'hibernate-mode/fresh',
    title: 'a fresh hibernate-mode device: no image (ENODATA), nothing to create (EPERM), harmless no-ops, no seeking, no writing',
    needs: ['available', 'root'],
    run: (ctx) =>
      withDevice(ctx, 'hibernate', (device) => {
        const page = new Uint8Array(PAGE_SIZE);
        expectCode('ENODATA', () => device.read(page), 'read');
        expectCode('ENODATA', () => device.getImageSize(), 'GET_IMAGE_SIZE');
        expectCode('EPERM', () => device.createImage(), 'CREATE_IMAGE before FREEZE');
        expectCode('EPERM', () => device.atomicRestore(), 'ATOMIC_RESTORE in hibernate mode');
        expectCode('EPERM', () => device.suspendToRam(), 'S2RAM before FREEZE');
        device.unfreeze();
        // Without platform support POWER_OFF does nothing and succeeds.
        device.powerOff();
        device.setPlatformSupport(true);
        device.setPlatformSupport(false);
        device.free();
        expectCode('ESPIPE', () => device.seek(0), 'lseek');
        expectCode('EBADF', () => device.write(page), 'write in hibernate mode');
        expectCode('EINVAL', () => device.readPages(new Uint8Array(100)), 'readv of a partial page');
      }),
  },
  {
    id: 'hibernate-mode/power-off-without-s4',
    title: 'POWER_OFF with platform support on a machine without ACPI S4 fails with ENOSYS',
    needs: ['available', 'root', 'no-platform-s4'],
    run: (ctx) =>
      withDevice(ctx, 'hibernate', (device) => {
        device.setPlatformSupport(true);
        expectCode('ENOSYS', () => device.powerOff(), 'POWER_OFF');
      }),
  },
  {
    id: 'hibernate-mode/s2ram-without-s3',
    title: 'S2RAM while frozen on a machine that cannot suspend to RAM fails with ENOSYS',
    needs: ['available', 'root', 'no-s3'],
    run: (ctx) =>
      withDevice(ctx, 'hibernate', (device) => {
        device.freeze();
        expectCode('ENOSYS', () => device.suspendToRam(), 'S2RAM');
        device.unfreeze();
      }),
  },

  // ---- swap (docs/snapshot-device.md §2.3, vector 4) ------------------------------------------------------------
  {
    id: 'swap/nothing-selected',
    title: 'with no swap preselected: AVAIL is 0, ALLOC and FREE_SWAP_PAGES are ENODEV; SET_SWAP_AREA dev 0 is EINVAL, an unknown area ENODEV',
    needs: ['available', 'root', 'no-resume-swap'],
    run: (ctx) =>
      withDevice(ctx, 'hibernate', (device) => {
        assert.equal(device.availableSwapSize(), 0, 'AVAIL_SWAP_SIZE');
        expectCode('ENODEV', () => device.allocSwapPage(), 'ALLOC_SWAP_PAGE');
        expectCode('ENODEV', () => device.freeSwapPages(), 'FREE_SWAP_PAGES');
        expectCode('EINVAL', () => device.setSwapArea(0, 0), 'SET_SWAP_AREA dev 0');
        expectCode('ENODEV', () => device.setSwapArea(encodeDev(7, 200), 0), 'SET_SWAP_AREA of a device that is no swap');
        if (ctx.swap) {
          expectCode('ENODEV', () => device.setSwapArea(ctx.swap!.dev, ctx.swap!.offsetPages + 1), 'SET_SWAP_AREA one page off');
        }
        // A failed SET_SWAP_AREA leaves nothing selected.
        expectCode('ENODEV', () => device.allocSwapPage(), 'ALLOC_SWAP_PAGE after failed selections');
      }),
  },
  {
    id: 'swap/select-allocate-free',
    title: 'SET_SWAP_AREA selects the area; ALLOC hands out page offsets on its device, never the header; selection is locked until FREE_SWAP_PAGES',
    needs: ['available', 'root', 'swap'],
    run: (ctx) =>
      withDevice(ctx, 'hibernate', (device) => {
        const swap = ctx.swap!;
        device.setSwapArea(swap.dev, swap.offsetPages);
        const available = device.availableSwapSize();
        const listed = ctx.backend.system.swapAreas().find((a) => a.dev === swap.dev && a.offsetPages === swap.offsetPages);
        assert.ok(listed, `${swap.path} is not in /proc/swaps`);
        assert.equal(available, listed.sizeBytes - listed.usedBytes, 'AVAIL_SWAP_SIZE is the free part of the area');
        assert.ok(available > 0 && available % PAGE_SIZE === 0, `AVAIL_SWAP_SIZE ${available}`);
        assert.equal(device.ioctl(IOCTLS.SNAPSHOT_AVAIL_SWAP_SIZE.request), available, 'raw AVAIL_SWAP_SIZE');

        const first = device.allocSwapPage();
        const second = device.allocSwapPage();
        for (const offset of [first, second]) assertSlot(offset, swap);
        assert.notEqual(first, second, 'two allocations, two pages');
        assert.equal(device.availableSwapSize(), available - 2 * PAGE_SIZE, 'AVAIL after two allocations');

        expectCode('EPERM', () => device.setSwapArea(swap.dev, swap.offsetPages), 'SET_SWAP_AREA with pages handed out');
        device.freeSwapPages();
        assert.equal(device.availableSwapSize(), available, 'AVAIL after FREE_SWAP_PAGES');
        device.setSwapArea(swap.dev, swap.offsetPages);
      }),
  },
  {
    id: 'swap/fill-to-enospc',
    title: 'ALLOC_SWAP_PAGE hands out exactly AVAIL_SWAP_SIZE / 4096 distinct pages, then ENOSPC',
    needs: ['available', 'root', 'swap'],
    run: (ctx) =>
      withDevice(ctx, 'hibernate', (device) => {
        const swap = ctx.swap!;
        device.setSwapArea(swap.dev, swap.offsetPages);
        const available = device.availableSwapSize();
        const seen = new Set<number>();
        for (;;) {
          let offset: number;
          try {
            offset = device.allocSwapPage();
          } catch (err) {
            assert.equal((err as { code?: string }).code, 'ENOSPC', `ALLOC_SWAP_PAGE after ${seen.size} pages`);
            break;
          }
          assertSlot(offset, swap);
          assert.ok(!seen.has(offset), `page offset ${offset} handed out twice`);
          seen.add(offset);
        }
        assert.equal(seen.size * PAGE_SIZE, available, 'pages handed out = AVAIL_SWAP_SIZE / 4096');
        assert.equal(device.availableSwapSize(), 0, 'AVAIL when full');
        expectCode('ENOSPC', () => device.allocSwapPage(), 'ALLOC when full, again');
        device.freeSwapPages();
        assert.equal(device.availableSwapSize(), available, 'AVAIL after FREE_SWAP_PAGES');
      }),
  },
  {
    id: 'swap/resume-device-preselected',
    title: 'an O_RDONLY open preselects the resume partition: ALLOC works without SET_SWAP_AREA',
    needs: ['available', 'root', 'resume-swap'],
    run: (ctx) =>
      withDevice(ctx, 'hibernate', (device) => {
        assert.ok(device.availableSwapSize() > 0, 'AVAIL_SWAP_SIZE');
        assertSlot(device.allocSwapPage(), ctx.swap!);
      }),
  },
  {
    id: 'close/releases-everything',
    title: 'close frees the image and the swap pages and thaws: the next open starts clean',
    needs: ['available', 'root', 'swap'],
    async run(ctx) {
      const swap = ctx.swap!;
      let available = 0;
      await withDevice(ctx, 'hibernate', (device) => {
        device.setSwapArea(swap.dev, swap.offsetPages);
        available = device.availableSwapSize();
        device.allocSwapPage();
        device.allocSwapPage();
        device.freeze();
        assert.equal(device.createImage(), 1, 'CREATE_IMAGE');
        device.close();
      });
      await withDevice(ctx, 'hibernate', (device) => {
        expectCode('ENODATA', () => device.read(new Uint8Array(PAGE_SIZE)), 'read after reopening');
        device.setSwapArea(swap.dev, swap.offsetPages);
        assert.equal(device.availableSwapSize(), available, 'the pages came back');
        // The machine was thawed by the close: freezing works from the start again.
        device.freeze();
        device.unfreeze();
      });
    },
  },

  // ---- the hibernate-side sequence (vector 5, docs/snapshot-device.md §5, §8.1) -------------------------------
  {
    id: 'snapshot/full-sequence',
    title: 'FREEZE → CREATE_IMAGE → read the whole image (header, metadata, data) → FREE → UNFREEZE → close',
    needs: ['available', 'root'],
    run: (ctx) =>
      withDevice(ctx, 'hibernate', (device) => {
        device.freeze();
        device.freeze();
        assert.equal(device.createImage(), 1, 'CREATE_IMAGE stores 1');
        expectCode('EPERM', () => device.createImage(), 'CREATE_IMAGE with an image ready');
        // UNFREEZE is a no-op while an image exists: the image is still there afterwards.
        device.unfreeze();
        const size = device.getImageSize();
        assert.equal(device.ioctl(IOCTLS.SNAPSHOT_GET_IMAGE_SIZE.request), size, 'raw GET_IMAGE_SIZE');
        assert.ok(size >= 3 * PAGE_SIZE && size % PAGE_SIZE === 0, `GET_IMAGE_SIZE ${size}`);

        const first = new Uint8Array(2 * PAGE_SIZE);
        assert.equal(device.read(first), PAGE_SIZE, 'a read of 8192 bytes returns one page');
        const header = decodeImageHeader(first);
        assert.equal(header.record.magic, X86_RESTORE_MAGIC, 'x86_64 restore record magic');
        assert.ok(header.record.jumpAddress >= 0xffff_ffff_8000_0000n, 'jump address in the kernel mapping');
        assert.ok(header.record.jumpAddressPhys > 0n && header.record.cr3 > 0n && header.record.cr3 % 4096n === 0n, 'jump address and cr3');
        assert.equal(header.pages * PAGE_SIZE, size, 'header.pages × 4096 = GET_IMAGE_SIZE');
        assert.equal(header.size, size, 'header.size = GET_IMAGE_SIZE');
        assert.ok(header.numPhyspages > 0, 'num_physpages');
        assert.ok(header.imagePages >= 1, 'image_pages');
        const metaPages = header.pages - header.imagePages - 1;
        assert.ok(metaPages >= 1, `metadata pages ${metaPages}`);

        const metadata = readPagesExactly(device, metaPages);
        const { entries, zeroEntries } = checkMetadata(metadata, metaPages, ctx);
        assert.equal(entries - zeroEntries, header.imagePages, 'metadata entries without the zero flag = image_pages');
        assert.equal(metaPages, Math.ceil((entries * 8) / PAGE_SIZE), 'metadata pages = ⌈entries × 8 / 4096⌉');

        let dataPages = 0;
        const batch = new Uint8Array(BATCH_PAGES * PAGE_SIZE);
        for (let got = device.readPages(batch); got > 0; got = device.readPages(batch)) {
          assert.equal(got % PAGE_SIZE, 0, 'readv moves whole pages');
          for (let at = 0; at < got; at += PAGE_SIZE) {
            if (ctx.kernel.zeroPages) assert.ok(!allZero(batch.subarray(at, at + PAGE_SIZE)), `data page ${dataPages} is all zeros, yet zero pages are left out`);
            dataPages++;
          }
        }
        assert.equal(dataPages, header.imagePages, 'data pages read = image_pages');
        assert.equal(device.read(first), 0, 'read at the end');
        assert.equal(device.read(first), 0, 'read at the end, again');

        device.free();
        expectCode('ENODATA', () => device.read(first), 'read after FREE');
        expectCode('ENODATA', () => device.getImageSize(), 'GET_IMAGE_SIZE after FREE');
        device.unfreeze();
      }),
  },
  {
    id: 'snapshot/partial-reads-wedge',
    title: 'reads of 1000 bytes at a page start give 1000, 1000, 96, then 0 for ever',
    needs: ['available', 'root'],
    run: (ctx) =>
      withDevice(ctx, 'hibernate', (device) => {
        device.freeze();
        device.createImage();
        const buf = new Uint8Array(PAGE_SIZE);
        const header = new Uint8Array(2096);
        const counts: number[] = [];
        for (let i = 0; i < 3; i++) {
          const n = device.read(buf, 1000);
          header.set(buf.subarray(0, n), 1000 * i);
          counts.push(n);
        }
        assert.deepEqual(counts, [1000, 1000, 96], 'partial reads');
        assert.equal(new DataView(header.buffer).getBigUint64(24, true), X86_RESTORE_MAGIC, 'the partial reads came from the header');
        assert.equal(device.read(buf, 1000), 0, 'wedged');
        assert.equal(device.read(buf), 0, 'wedged for a whole page too');
        device.free();
        device.unfreeze();
      }),
  },
  {
    id: 'snapshot/zero-length-read-skips',
    title: 'read(0) at a page start returns 0 and consumes a page: the next read starts at the metadata',
    needs: ['available', 'root'],
    run: (ctx) =>
      withDevice(ctx, 'hibernate', (device) => {
        device.freeze();
        device.createImage();
        const total = device.getImageSize() / PAGE_SIZE;
        const buf = new Uint8Array(PAGE_SIZE);
        assert.equal(device.read(buf, 0), 0, 'read(0)');
        let pages = 0;
        const batch = new Uint8Array(BATCH_PAGES * PAGE_SIZE);
        for (let got = device.readPages(batch); got > 0; got = device.readPages(batch)) {
          if (pages === 0) assert.notEqual(new DataView(batch.buffer).getBigUint64(24, true), X86_RESTORE_MAGIC, 'the header was skipped');
          pages += got / PAGE_SIZE;
        }
        assert.equal(pages, total - 1, 'one page fewer than GET_IMAGE_SIZE says');
        device.free();
        device.unfreeze();
      }),
  },
  {
    id: 'snapshot/create-after-free',
    title: 'after FREE, a new CREATE_IMAGE (still frozen) starts a new stream at its header',
    needs: ['available', 'root'],
    run: (ctx) =>
      withDevice(ctx, 'hibernate', (device) => {
        device.freeze();
        assert.equal(device.createImage(), 1);
        const page = new Uint8Array(PAGE_SIZE);
        assert.equal(device.read(page), PAGE_SIZE);
        assert.equal(device.read(page), PAGE_SIZE);
        device.free();
        assert.equal(device.createImage(), 1, 'CREATE_IMAGE after FREE');
        assert.equal(device.read(page), PAGE_SIZE);
        assert.equal(decodeImageHeader(page).record.magic, X86_RESTORE_MAGIC, 'the new stream starts with a header');
        device.free();
        device.unfreeze();
      }),
  },

  // ---- restore mode (vectors 8–11, docs/snapshot-device.md §3.4, §5.5, §5.6) ----------------------------------
  {
    id: 'restore-mode/fresh',
    title: 'a fresh restore-mode device: read is EBADF, lseek ESPIPE, no image to size, nothing to create or restore',
    needs: ['available', 'root'],
    run: (ctx) =>
      withDevice(ctx, 'restore', (device) => {
        expectCode('EBADF', () => device.read(new Uint8Array(PAGE_SIZE)), 'read in restore mode');
        expectCode('ESPIPE', () => device.seek(0), 'lseek');
        expectCode('ENODATA', () => device.getImageSize(), 'GET_IMAGE_SIZE');
        expectCode('EPERM', () => device.createImage(), 'CREATE_IMAGE in restore mode');
        expectCode('EPERM', () => device.atomicRestore(), 'ATOMIC_RESTORE with nothing loaded, not frozen');
        expectCode('EPERM', () => device.suspendToRam(), 'S2RAM before FREEZE');
      }),
  },
  {
    id: 'restore-mode/partial-writes',
    title: 'write(1) then write(4095) fill one page (4094 before the 5.16 fix); no capability needed to write',
    needs: ['available'],
    run: (ctx) =>
      withDevice(ctx, 'restore', (device) => {
        const page = new Uint8Array(PAGE_SIZE);
        assert.equal(device.write(page, 1), 1, 'write(1)');
        assert.equal(device.write(page.subarray(1), 4095), ctx.kernel.partialWriteFix ? 4095 : 4094, 'write(4095) continuing the page');
      }),
  },
  {
    id: 'restore-mode/zero-length-write-shifts',
    title: 'write(0) at a page start returns 0 but consumes a slot: the header then lands in the wrong slot',
    needs: ['available', 'root'],
    async run(ctx) {
      const reference = await captureReference(ctx);
      await withDevice(ctx, 'restore', (device) => {
        assert.equal(device.write(reference.header, 0), 0, 'write(0)');
        // The header slot holds nothing (zeros): the write that starts the next slot checks it.
        expectCode('EPERM', () => device.write(reference.header), 'the real header, one slot late');
      });
    },
  },
  {
    id: 'restore-mode/foreign-header',
    title: 'a header for another memory size, memory map or architecture: EPERM at the write that starts page 1, repeatedly; FREE restarts the stream',
    needs: ['available', 'root'],
    async run(ctx) {
      const reference = await captureReference(ctx);
      const real = decodeImageHeader(reference.header);
      const variants = {
        'memory size': encodeImageHeader({ ...real, numPhyspages: real.numPhyspages + 1 }),
        'e820 map': encodeImageHeader({ ...real, record: { ...real.record, e820Checksum: real.record.e820Checksum ^ 1 } }),
        'x86 magic': encodeImageHeader({ ...real, record: { ...real.record, magic: 0x23456789abcdef01n } }),
      };
      await withDevice(ctx, 'restore', (device) => {
        const metadata = new Uint8Array(PAGE_SIZE);
        for (const [what, header] of Object.entries(variants)) {
          assert.equal(device.write(header), PAGE_SIZE, `header (${what}) is taken`);
          expectCode('EPERM', () => device.write(metadata), `next page after a header of another ${what}`);
          expectCode('EPERM', () => device.write(metadata), `again (${what})`);
          device.free();
        }
        assert.equal(device.write(reference.header), PAGE_SIZE, 'the real header after FREE');
        assert.equal(device.write(metadata), PAGE_SIZE, 'the next page: the real header passed the check');
      });
    },
  },
  {
    id: 'restore-mode/bad-pfn',
    title: 'metadata naming a page frame this machine does not have: EFAULT at the write after that metadata page',
    needs: ['available', 'root'],
    async run(ctx) {
      const reference = await captureReference(ctx);
      const image = forgeImage(reference, [{ pfn: reference.pfns[0]!, zero: false }, { pfn: 2 ** 40, zero: false }]);
      await withDevice(ctx, 'restore', (device) => {
        assert.equal(device.write(pageOf(image, 0)), PAGE_SIZE);
        assert.equal(device.write(pageOf(image, 1)), PAGE_SIZE);
        expectCode('EFAULT', () => device.write(pageOf(image, 2)), 'first data page');
        expectCode('EFAULT', () => device.write(pageOf(image, 2)), 'again');
      });
    },
  },
  {
    id: 'restore-mode/zero-flag-before-6.6',
    title: 'before 6.6 bit 63 is no zero-page flag: such an entry is an invalid PFN (EFAULT)',
    needs: ['available', 'root', 'no-zero-pages'],
    async run(ctx) {
      const reference = await captureReference(ctx);
      const image = forgeImage(reference, [{ pfn: reference.pfns[0]!, zero: false }, { pfn: reference.pfns[1]!, zero: true }]);
      await withDevice(ctx, 'restore', (device) => {
        assert.equal(device.writePages(image.pages.subarray(0, 2 * PAGE_SIZE)), 2 * PAGE_SIZE);
        expectCode('EFAULT', () => device.write(pageOf(image, 2)), 'first data page');
      });
    },
  },
  {
    id: 'restore-mode/more-data-than-metadata',
    title: 'a header promising more data pages than the metadata lists: EFAULT when the extra page arrives',
    needs: ['available', 'root'],
    async run(ctx) {
      const reference = await captureReference(ctx);
      const image = forgeImage(reference, [0, 1].map((i) => ({ pfn: reference.pfns[i]!, zero: false })), 3);
      await withDevice(ctx, 'restore', (device) => {
        assert.equal(device.writePages(image.pages), image.count * PAGE_SIZE, 'header, metadata, two data pages');
        expectCode('EFAULT', () => device.write(pageOf(image, 2)), 'a third data page');
      });
    },
  },
  {
    id: 'restore-mode/complete-image-extra-write',
    title: 'after the last page of a complete image, write returns 0 (image complete), and again',
    needs: ['available', 'root'],
    async run(ctx) {
      const reference = await captureReference(ctx);
      const image = forgeImage(reference, reference.pfns.slice(0, 4).map((pfn) => ({ pfn, zero: false })));
      await withDevice(ctx, 'restore', (device) => {
        assert.equal(device.writePages(image.pages), image.count * PAGE_SIZE, 'writev of the whole image');
        assert.equal(device.write(pageOf(image, 2)), 0, 'the extra write');
        assert.equal(device.writePages(image.pages.subarray(0, PAGE_SIZE)), 0, 'writev after the end');
      });
    },
  },
  {
    id: 'restore-mode/not-frozen',
    title: 'ATOMIC_RESTORE of a complete image without FREEZE fails with EPERM',
    needs: ['available', 'root'],
    async run(ctx) {
      const reference = await captureReference(ctx);
      const image = forgeImage(reference, reference.pfns.slice(0, 3).map((pfn) => ({ pfn, zero: false })));
      await withDevice(ctx, 'restore', (device) => {
        device.writePages(image.pages);
        assert.equal(device.write(pageOf(image, 2)), 0, 'the image is complete');
        expectCode('EPERM', () => device.atomicRestore(), 'ATOMIC_RESTORE, not frozen');
      });
    },
  },
  {
    id: 'restore-mode/truncated-before-data',
    title: 'ATOMIC_RESTORE with only header and metadata loaded: EPERM (ENODATA with 2b27ea5b644d)',
    needs: ['available', 'root'],
    async run(ctx) {
      const reference = await captureReference(ctx);
      const image = forgeImage(reference, reference.pfns.slice(0, 3).map((pfn) => ({ pfn, zero: false })));
      await withDevice(ctx, 'restore', (device) => {
        device.writePages(image.pages.subarray(0, 2 * PAGE_SIZE));
        device.freeze();
        expectCode(ctx.kernel.enodataIfNotLoaded ? 'ENODATA' : 'EPERM', () => device.atomicRestore(), 'ATOMIC_RESTORE');
        device.unfreeze();
      });
    },
  },
  {
    id: 'restore-mode/truncated-in-data',
    title: 'ATOMIC_RESTORE with a data page missing: EPERM (ENODATA once the kernel drains on finalize)',
    needs: ['available', 'root'],
    async run(ctx) {
      const reference = await captureReference(ctx);
      const image = forgeImage(reference, reference.pfns.slice(0, 3).map((pfn) => ({ pfn, zero: false })));
      await withDevice(ctx, 'restore', (device) => {
        device.writePages(image.pages.subarray(0, (image.count - 1) * PAGE_SIZE));
        device.freeze();
        const expected = ctx.kernel.drainOnFinalize || ctx.kernel.enodataIfNotLoaded ? 'ENODATA' : 'EPERM';
        expectCode(expected, () => device.atomicRestore(), 'ATOMIC_RESTORE');
        device.unfreeze();
      });
    },
  },
  {
    id: 'restore-mode/trailing-zero-pages',
    title: 'an image ending in zero pages is incomplete after its last data page (ATOMIC_RESTORE EPERM) until one extra write, which returns 0',
    needs: ['available', 'root', 'zero-pages', 'no-drain-on-finalize'],
    async run(ctx) {
      const reference = await captureReference(ctx);
      const [data, zeroA, zeroB] = reference.pfns;
      const image = forgeImage(reference, [
        { pfn: data!, zero: false },
        { pfn: zeroA!, zero: true },
        { pfn: zeroB!, zero: true },
      ]);
      await withDevice(ctx, 'restore', (device) => {
        assert.equal(device.writePages(image.pages), image.count * PAGE_SIZE, 'header, metadata, the one data page');
        device.freeze();
        expectCode(ctx.kernel.enodataIfNotLoaded ? 'ENODATA' : 'EPERM', () => device.atomicRestore(), 'ATOMIC_RESTORE before the extra write');
        assert.equal(device.write(pageOf(image, 2)), 0, 'the extra write consumes the trailing zero pages');
        // Complete now: ATOMIC_RESTORE would restore this forged image. It is not called.
        device.unfreeze();
      });
    },
  },
];

/** A page handed out by ALLOC_SWAP_PAGE: page aligned, inside the area, not its header. */
function assertSlot(offset: number, swap: NonNullable<ConformanceContext['swap']>): void {
  assert.equal(offset % PAGE_SIZE, 0, `offset ${offset} is page aligned`);
  const page = offset / PAGE_SIZE;
  const first = swap.offsetPages + 1;
  const end = swap.offsetPages + 1 + swap.sizeBytes / PAGE_SIZE;
  assert.ok(page >= first && page < end, `page ${page} lies in the area (pages ${first}..${end - 1} of device ${describeDev(swap.dev)})`);
}

function describeDev(dev: number): string {
  const { major, minor } = decodeDev(dev);
  return `${major}:${minor}`;
}

/** Reads exactly `count` pages with readv batches. */
function readPagesExactly(device: SnapshotDevice, count: number): Uint8Array {
  const pages = new Uint8Array(count * PAGE_SIZE);
  let done = 0;
  while (done < pages.length) {
    const got = device.readPages(pages.subarray(done, Math.min(pages.length, done + BATCH_PAGES * PAGE_SIZE)));
    assert.ok(got > 0, `the stream ended after ${done / PAGE_SIZE} of ${count} metadata pages`);
    done += got;
  }
  return pages;
}

/**
 * Checks the metadata pages: ascending PFNs, the zero flag only where the kernel has zero pages,
 * BM_END_OF_MAP right after the last entry when the page has room, zeros after it.
 */
function checkMetadata(pages: Uint8Array, count: number, ctx: ConformanceContext): { entries: number; zeroEntries: number } {
  const view = new DataView(pages.buffer, pages.byteOffset, pages.byteLength);
  let entries = 0;
  let zeroEntries = 0;
  let previous = -1n;
  let ended = false;
  for (let i = 0; i < count * PFNS_PER_METADATA_PAGE; i++) {
    const word = view.getBigUint64(8 * i, true);
    if (ended) {
      assert.equal(word, 0n, `metadata word ${i} after the end marker is zero`);
      continue;
    }
    if (word === BM_END_OF_MAP) {
      assert.ok(i >= (count - 1) * PFNS_PER_METADATA_PAGE, `end marker at entry ${i}, before the last metadata page`);
      ended = true;
      continue;
    }
    const zero = (word & ZERO_PFN_FLAG) !== 0n;
    if (zero) assert.ok(ctx.kernel.zeroPages, `entry ${i} has the zero flag on a kernel without zero pages`);
    const pfn = word & ~ZERO_PFN_FLAG;
    assert.ok(pfn > previous, `entry ${i}: PFN 0x${pfn.toString(16)} after 0x${previous.toString(16)} is not ascending`);
    previous = pfn;
    entries++;
    if (zero) zeroEntries++;
  }
  return { entries, zeroEntries };
}
