/**
 * Which kernel module files the guest must insmod, in which order.
 *
 * The extracted kernel package has no modules.dep (depmod runs at install time, and we do not
 * install), and busybox insmod does not resolve dependencies, so the order is computed here
 * from each module's own `depends=` field in its .modinfo section. For the cloud kernel and
 * virtio_blk + virtio_pci this yields virtio_ring, virtio, the virtio_pci helpers, virtio_pci,
 * virtio_blk.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Module names use `_` and `-` interchangeably; the kernel compares them as equal. */
function normalizeName(name: string): string {
  return name.replace(/-/g, '_');
}

function indexModules(modulesDir: string): Map<string, string> {
  const index = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ko')) index.set(normalizeName(entry.name.slice(0, -3)), path);
    }
  };
  walk(join(modulesDir, 'kernel'));
  return index;
}

/** The `depends=` list of a module file (module names, possibly empty). */
function moduleDependencies(moduleFile: string): string[] {
  const bytes = readFileSync(moduleFile);
  // .modinfo is a sequence of NUL-terminated key=value strings; depends= appears exactly once.
  const key = Buffer.from('\0depends=');
  const at = bytes.indexOf(key);
  if (at < 0) return [];
  const start = at + key.length;
  const text = bytes.subarray(start, bytes.indexOf(0, start)).toString('latin1');
  return text.split(',').filter(Boolean).map(normalizeName);
}

interface ModuleFile {
  name: string;
  /** Absolute path on the host. */
  path: string;
  /** Path relative to the modules directory (kernel/drivers/...), as in lib/modules/<release>/. */
  relativePath: string;
}

/** The wanted modules and everything they depend on, dependencies first. */
export function moduleLoadOrder(modulesDir: string, wanted: readonly string[]): ModuleFile[] {
  const index = indexModules(modulesDir);
  const order: ModuleFile[] = [];
  const placed = new Set<string>();
  const visiting = new Set<string>();
  const visit = (rawName: string): void => {
    const name = normalizeName(rawName);
    if (placed.has(name)) return;
    if (visiting.has(name)) throw new Error(`kernel modules: dependency cycle through ${name}`);
    const path = index.get(name);
    if (!path) throw new Error(`kernel modules: ${name}.ko not found under ${modulesDir}`);
    visiting.add(name);
    for (const dependency of moduleDependencies(path)) visit(dependency);
    visiting.delete(name);
    placed.add(name);
    order.push({ name, path, relativePath: relative(modulesDir, path) });
  };
  for (const name of wanted) visit(name);
  return order;
}
