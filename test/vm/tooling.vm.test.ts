/**
 * The VM tooling's own tests: the archive writer, module ordering and console parsing on the
 * host, then real boots (a trivial scenario, two boots sharing a disk, a timeout, a missing
 * scenario). Boot timings are printed so the README's figures can be re-measured.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { writeNewcArchive } from '../../vm/cpio.js';
import { parseLine, payloadsOf, stampsOf } from '../../vm/guest/protocol.js';
import { moduleLoadOrder } from '../../vm/kernel-modules.js';
import { bootVm, createDisk, describeBoot, prepareVm, type PreparedVm } from '../../vm/vm.js';

describe('newc archive writer', () => {
  test('cpio(1) unpacks what it wrote: directories, files, modes, symlinks', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hk-cpio-'));
    try {
      const archive = join(dir, 'test.cpio');
      writeNewcArchive(
        [
          { type: 'file', path: '/a/b/script.sh', content: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o755 },
          { type: 'file', path: 'a/copy.json', source: join(process.cwd(), 'package.json') },
          { type: 'dir', path: 'tmp', mode: 0o1777 },
          { type: 'symlink', path: 'a/link', target: '/a/b/script.sh' },
          // 3 bytes: exercises the data padding.
          { type: 'file', path: 'odd', content: Buffer.from('abc'), mode: 0o600 },
        ],
        archive,
      );
      const out = join(dir, 'out');
      const result = spawnSync('sh', ['-c', `mkdir ${out} && cd ${out} && cpio -id --quiet < ${archive}`], { encoding: 'utf8' });
      expect(result.status, result.stderr).toBe(0);
      expect(readFileSync(join(out, 'a/b/script.sh'), 'utf8')).toBe('#!/bin/sh\necho hi\n');
      expect(statSync(join(out, 'a/b/script.sh')).mode & 0o777).toBe(0o755);
      expect(readFileSync(join(out, 'a/copy.json'))).toEqual(readFileSync('package.json'));
      expect(statSync(join(out, 'tmp')).mode & 0o7777).toBe(0o1777);
      expect(readlinkSync(join(out, 'a/link'))).toBe('/a/b/script.sh');
      expect(readFileSync(join(out, 'odd'), 'utf8')).toBe('abc');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('refuses two entries with the same path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hk-cpio-'));
    try {
      const entry = { type: 'file', path: 'x', content: Buffer.from('1'), mode: 0o644 } as const;
      expect(() => writeNewcArchive([entry, entry], join(dir, 'dup.cpio'))).toThrow(/duplicate entry x/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('console protocol', () => {
  test('finds a protocol line behind kernel output on the same line, and flags garbled JSON', () => {
    expect(parseLine('[    3.1] PM: done HK:CASE {"id":"a","ok":true}\r', 7)).toEqual({ kind: 'CASE', payload: '{"id":"a","ok":true}', json: { id: 'a', ok: true }, lineNo: 7 });
    const garbled = parseLine('HK:CASE {"id":"a",[    3.2] Freezing user space"ok":true}', 8);
    expect(garbled?.kind).toBe('CASE');
    expect(garbled?.json).toBeUndefined();
    expect(parseLine('plain kernel line', 9)).toBeUndefined();
  });

  test('stamps and payloads', () => {
    const lines = ['HK:STAMP init 2.20', 'HK:RESULT {"x":1}', 'HK:STAMP end 3.50', 'HK:RESULT {bad'].map((l, i) => parseLine(l, i + 1)!);
    expect([...stampsOf(lines)]).toEqual([['init', 2.2], ['end', 3.5]]);
    expect(payloadsOf(lines, 'RESULT')).toEqual([{ x: 1 }]);
  });
});

describe('the VM', () => {
  let vm: PreparedVm;
  beforeAll(() => {
    vm = prepareVm();
    console.log(`initramfs ${vm.initramfs.path}: ${(vm.initramfs.bytes / 1e6).toFixed(1)} MB, ${vm.initramfs.reused ? 'reused' : 'built'} in ${vm.initramfs.buildMs} ms`);
  });

  test('loads every module after the modules it depends on (the virtio stack in dependency order)', () => {
    const order = moduleLoadOrder(vm.kernel.modulesDir, ['virtio_pci', 'virtio_blk']).map((m) => m.name);
    expect(new Set(order)).toEqual(new Set(['virtio_ring', 'virtio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'virtio_blk']));
    expect(order.indexOf('virtio_ring')).toBeLessThan(order.indexOf('virtio'));
    expect(order.indexOf('virtio')).toBeLessThan(order.indexOf('virtio_pci'));
    expect(order.indexOf('virtio_pci_modern_dev')).toBeLessThan(order.indexOf('virtio_pci'));
    expect(order.at(-1)).toBe('virtio_blk');
  });

  test('boots the trivial scenario: disk, /dev/snapshot and node are there', async () => {
    const disk = createDisk('hello.img', 64);
    const result = await bootVm({ scenario: 'hello', disks: [{ path: disk }], timeoutMs: 120_000 });
    expect(result.scenarioExit, describeBoot(result)).toBe(0);
    expect(result.exitCode).toBe(0);
    expect(existsSync(result.logPath)).toBe(true);
    const [facts, node] = payloadsOf<Record<string, unknown>>(result.lines, 'RESULT');
    expect(facts).toMatchObject({ boot: 1, snapshot: '10:231', vda: '254:0', release: vm.kernel.release });
    expect(String(facts!.diskModes)).toContain('platform');
    expect(node).toEqual({ package: 'hiberkit', node: process.version });
    const stamps = stampsOf(result.lines);
    const phases = ['init', 'modules', 'scenario', 'node', 'done', 'end'].map((name) => stamps.get(name));
    expect(phases.every((t) => t !== undefined)).toBe(true);
    console.log(`hello boot: ${result.elapsedMs} ms on the host; guest uptime at ${['init', 'modules', 'scenario', 'node', 'done', 'end'].map((n, i) => `${n} ${phases[i]}`).join(', ')}`);
  });

  test('two boots share a disk; an inline script sees its boot number', async () => {
    const disk = createDisk('two-boots.img', 16);
    const script = [
      '. /hk/lib.sh',
      'if [ "$HK_BOOT" = 1 ]; then',
      '  echo "marker-$HK_TOKEN" | dd of=/dev/vda bs=512 count=1 conv=sync 2>/dev/null',
      'else',
      '  hk_result "{\\"boot\\":$HK_BOOT,\\"read\\":\\"$(head -c 512 /dev/vda | tr -d \'\\000\\n\')\\"}"',
      'fi',
    ].join('\n');
    const options = { scenario: 'two-boots', script, disks: [{ path: disk }], cmdline: ['hk.token=42'], timeoutMs: 120_000 };
    const first = await bootVm({ ...options, boot: 1 });
    expect(first.scenarioExit, describeBoot(first)).toBe(0);
    const second = await bootVm({ ...options, boot: 2 });
    expect(second.scenarioExit, describeBoot(second)).toBe(0);
    expect(payloadsOf(second.lines, 'RESULT')).toEqual([{ boot: 2, read: 'marker-42' }]);
  });

  test("the kernel's own hibernation cycle: boot 1 hibernates, boot 2 resumes it", async () => {
    // What cycle tests build on: a second boot on the same disk continues the first boot's
    // scenario where it hibernated, and prints on the second boot's console.
    const swap = createDisk('kernel-cycle-swap.img', 512);
    const script = [
      '. /hk/lib.sh',
      'if [ "$HK_BOOT" = 1 ]; then',
      '  hk_swap_on /dev/vda',
      '  head -c 20000000 /dev/urandom > /tmp/data',
      '  hk_result "{\\"phase\\":\\"before\\",\\"md5\\":\\"$(md5sum < /tmp/data | cut -d" " -f1)\\"}"',
      '  hk_stamp hibernate',
      '  echo disk > /sys/power/state || { hk_error "hibernation failed"; exit 1; }',
      '  hk_stamp resumed',
      '  hk_result "{\\"phase\\":\\"after\\",\\"md5\\":\\"$(md5sum < /tmp/data | cut -d" " -f1)\\"}"',
      'else',
      '  echo 254:0 > /sys/power/resume',
      '  hk_error "no image was resumed from /dev/vda"',
      '  exit 1',
      'fi',
    ].join('\n');
    const options = { scenario: 'kernel-cycle', script, disks: [{ path: swap }], timeoutMs: 180_000 };
    const first = await bootVm({ ...options, boot: 1 });
    expect(first.timedOut || first.panicked, describeBoot(first)).toBe(false);
    expect(first.scenarioExit, `boot 1 must power off while hibernating; ${describeBoot(first)}`).toBeNull();
    const second = await bootVm({ ...options, boot: 2 });
    expect(second.scenarioExit, describeBoot(second)).toBe(0);
    const [before] = payloadsOf<{ md5: string }>(first.lines, 'RESULT');
    const [after] = payloadsOf<{ md5: string }>(second.lines, 'RESULT');
    expect(after?.md5).toBe(before?.md5);
    const firstStamps = stampsOf(first.lines);
    const secondStamps = stampsOf(second.lines);
    console.log(
      `kernel cycle: boot 1 ${first.elapsedMs} ms (hibernate at uptime ${firstStamps.get('hibernate')}), ` +
        `boot 2 ${second.elapsedMs} ms (its init at ${secondStamps.get('init')}, resumed scenario ended at ${secondStamps.get('end')} on boot 1's clock)`,
    );
  });

  test('a scenario that never ends is killed at the timeout, and its log is kept', async () => {
    const result = await bootVm({ scenario: 'hang', script: '. /hk/lib.sh\nhk_stamp hanging\nsleep 100000\n', timeoutMs: 20_000 });
    expect(result.timedOut).toBe(true);
    expect(result.exitCode).toBeNull();
    expect(result.scenarioExit).toBeNull();
    expect(stampsOf(result.lines).has('hanging')).toBe(true);
    expect(readFileSync(result.logPath, 'utf8')).toContain('HK:STAMP hanging');
  });

  test('an unknown scenario is reported, not hung on', async () => {
    const result = await bootVm({ scenario: 'no-such-scenario', timeoutMs: 120_000 });
    expect(result.scenarioExit).toBe(127);
    expect(result.lines.find((l) => l.kind === 'ERROR')?.payload).toMatch(/no scenario named 'no-such-scenario'/);
  });
});
