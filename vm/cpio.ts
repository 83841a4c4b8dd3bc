/**
 * A writer for the "newc" cpio format (the only one the kernel unpacks as an initramfs).
 *
 * Written here instead of driving `cpio -o` over a staging copy of the tree: the archive is
 * built straight from the host files (no second copy of a 100 MB node binary), and every
 * entry gets fixed owner and time, so the same inputs give the same bytes.
 *
 * Layout of an entry: a 110-byte ASCII header ("070701" + 13 fields of 8 hex digits), the
 * NUL-terminated name padded so header+name is a multiple of 4, then the data padded to 4.
 * The archive ends with an entry named TRAILER!!!.
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { posix } from 'node:path';

export type ArchiveEntry =
  | { type: 'dir'; path: string; mode?: number }
  /** A host file copied in; `mode` defaults to the host file's permission bits. */
  | { type: 'file'; path: string; source: string; mode?: number }
  | { type: 'file'; path: string; content: Buffer; mode: number }
  | { type: 'symlink'; path: string; target: string };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const TRAILER = 'TRAILER!!!';
const COPY_CHUNK = 4 * 1024 * 1024;

/** Archive paths are relative ("usr/bin/node"); a leading slash is accepted and dropped. */
export function archivePath(path: string): string {
  return posix.normalize(path).replace(/^\/+/, '');
}

function header(ino: number, mode: number, nlink: number, fileSize: number, nameSize: number): string {
  const fields = [ino, mode, 0 /* uid */, 0 /* gid */, nlink, 0 /* mtime */, fileSize, 0, 0, 0, 0, nameSize, 0 /* check */];
  return `070701${fields.map((n) => n.toString(16).padStart(8, '0')).join('')}`;
}

function padding(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

class NewcWriter {
  private ino = 1;
  private readonly dirs = new Set<string>();
  private readonly names = new Set<string>();

  constructor(private readonly fd: number) {}

  private record(name: string, mode: number, nlink: number, size: number): void {
    if (this.names.has(name)) throw new Error(`cpio: duplicate entry ${name}`);
    this.names.add(name);
    const head = Buffer.from(`${header(this.ino++, mode, nlink, size, Buffer.byteLength(name) + 1)}${name}\0`, 'latin1');
    writeSync(this.fd, Buffer.concat([head, padding(head.length)]));
  }

  /** Every parent directory must exist before an entry inside it is unpacked. */
  private parents(name: string): void {
    const parent = posix.dirname(name);
    if (parent !== '.' && !this.dirs.has(parent)) this.directory(parent, 0o755);
  }

  directory(name: string, mode: number): void {
    if (this.dirs.has(name)) return;
    this.parents(name);
    this.dirs.add(name);
    this.record(name, S_IFDIR | mode, 2, 0);
  }

  symlink(name: string, target: string): void {
    this.parents(name);
    const data = Buffer.from(target);
    this.record(name, S_IFLNK | 0o777, 1, data.length);
    writeSync(this.fd, Buffer.concat([data, padding(data.length)]));
  }

  content(name: string, mode: number, data: Buffer): void {
    this.parents(name);
    this.record(name, S_IFREG | mode, 1, data.length);
    writeSync(this.fd, Buffer.concat([data, padding(data.length)]));
  }

  hostFile(name: string, source: string, mode: number | undefined): void {
    this.parents(name);
    const input = openSync(source, 'r');
    try {
      const stat = fstatSync(input);
      this.record(name, S_IFREG | (mode ?? stat.mode & 0o7777), 1, stat.size);
      const buffer = Buffer.allocUnsafe(COPY_CHUNK);
      let copied = 0;
      while (copied < stat.size) {
        const n = readSync(input, buffer, 0, COPY_CHUNK, copied);
        if (n === 0) throw new Error(`cpio: ${source} shrank while it was being archived`);
        writeSync(this.fd, buffer, 0, n);
        copied += n;
      }
      writeSync(this.fd, padding(stat.size));
    } finally {
      closeSync(input);
    }
  }

  trailer(): void {
    this.record(TRAILER, 0, 1, 0);
  }
}

/** Writes `entries` (in order, parents created as needed) as a newc archive to `outPath`. */
export function writeNewcArchive(entries: readonly ArchiveEntry[], outPath: string): void {
  const fd = openSync(outPath, 'w');
  try {
    const writer = new NewcWriter(fd);
    for (const entry of entries) {
      const name = archivePath(entry.path);
      if (entry.type === 'dir') writer.directory(name, entry.mode ?? 0o755);
      else if (entry.type === 'symlink') writer.symlink(name, entry.target);
      else if ('content' in entry) writer.content(name, entry.mode, entry.content);
      else writer.hostFile(name, entry.source, entry.mode);
    }
    writer.trailer();
  } finally {
    closeSync(fd);
  }
}
