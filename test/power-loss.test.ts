// Power loss during hibernation, after every single block write the image writer makes: the next
// boot finds either the complete image (and restores the RAM of the snapshot exactly) or none at
// all (it boots normally and the swap area is usable) — never half an image. Once with a disk
// that keeps what it was sent before the power went, once with one whose volatile write cache
// loses everything not flushed yet.
import { describe, expect, test } from 'vitest';
import { hibernate } from '../lib/hibernate.js';
import { inspect } from '../lib/inspect.js';
import { resume } from '../lib/resume.js';
import { SMALL, diskPage, signatureOf, useMachines } from './flows-support.js';

const machines = useMachines('power-loss');

/** How many block writes a whole hibernation of a SMALL machine makes (the machines are deterministic). */
let writesOfAHibernation: Promise<number> | undefined;
const blockWritesOfAHibernation = () => (writesOfAHibernation ??= countBlockWrites());

async function countBlockWrites(): Promise<number> {
  const machine = machines.machine();
  const pending = hibernate({ backend: machine.backend });
  await machine.switchedOff(pending);
  const writes = machine.faults.blockWrites;
  await resume({ backend: machines.boot(machine.dir).backend });
  await pending;
  return writes;
}

describe.each([
  { cache: 'keeps every write it got', dropsUnflushed: false },
  { cache: 'loses the writes not flushed yet', dropsUnflushed: true },
])('the disk $cache', ({ dropsUnflushed }) => {
  test('power lost after each block write: the next boot restores a complete image or boots without one', async () => {
    const writes = await blockWritesOfAHibernation();
    // Chunk data, extent map, header and marker at the least.
    expect(writes).toBeGreaterThanOrEqual(4);

    for (let n = 1; n <= writes; n++) {
      const where = `power lost after block write ${n} of ${writes}`;
      const first = machines.machine(SMALL, { faults: { powerLossAfterBlockWrite: n, powerLossDropsUnflushed: dropsUnflushed } });
      const original = diskPage(first);
      // The process dies with its machine: the call never comes back with an answer of its own.
      await expect(hibernate({ backend: first.backend }), where).rejects.toMatchObject({ name: 'BootEnded', exit: 'power-loss' });
      expect(first.status, where).toBe('off');
      const snapshotRam = first.ram.fingerprint();

      const second = machines.boot(first.dir);
      expect(second.phase, where).toBe('early');
      const result = await resume({ backend: second.backend });
      // Only the marker, written last, makes an image; only a flush makes a write survive a lost cache.
      const complete = n === writes && !dropsUnflushed;
      if (complete) {
        expect(result, where).toEqual({ status: 'restored', blockDevice: '/dev/vda' });
        const restored = machines.boot(first.dir);
        expect(restored.bootNumber, where).toBe(1);
        expect(restored.ram.fingerprint(), where).toBe(snapshotRam);
        expect(Object.values(restored.sessions()), where).toEqual([expect.objectContaining({ state: 'resumed' })]);
        expect(diskPage(restored).equals(original), where).toBe(true);
      } else {
        expect(result, where).toEqual({ status: 'no-image', blockDevice: '/dev/vda' });
        expect(await inspect({ backend: second.backend }), where).toMatchObject({ present: false });
        expect(signatureOf(diskPage(second)), where).toBe('SWAPSPACE2');
        second.finishBoot();
        expect(second.bootLog, where).toEqual([]);
        expect(second.backend.system.swapAreas(), where).toEqual([expect.objectContaining({ path: '/dev/vda', usedBytes: 0 })]);
        expect(Object.values(second.sessions()), where).toEqual([expect.objectContaining({ state: 'lost' })]);
      }
    }
  });
});
