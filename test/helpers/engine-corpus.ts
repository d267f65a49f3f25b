// Sample folders for the backup-engine tests, and a tree comparison that checks bytes, modes, mtimes, links.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isUtf8 } from 'node:buffer';

/** A marker placed inside incompressible data: if the store ever held plaintext, it would be there verbatim. */
export function plaintextMarker(): string {
  return `HOLDFAST-PLAINTEXT-MARKER-${randomBytes(8).toString('hex')}`;
}

/** A small tree with text, incompressible data, an empty file and folder, modes, old mtimes and a symlink. */
export function makeCorpus(root: string, marker: string): void {
  mkdirSync(join(root, 'docs', 'deep', 'er'), { recursive: true });
  mkdirSync(join(root, 'media'), { recursive: true });
  mkdirSync(join(root, 'empty-dir'), { recursive: true });
  const text = Array.from({ length: 4000 }, (_, i) => `line ${i}: the quick brown fox backs up the lazy dog\n`).join('');
  writeFileSync(join(root, 'docs', 'notes.txt'), text);
  writeFileSync(join(root, 'docs', 'deep', 'er', 'letter.md'), `# Letter\n${text.slice(0, 5000)}`);
  const secret = Buffer.concat([randomBytes(300_000), Buffer.from(marker), randomBytes(300_000)]);
  writeFileSync(join(root, 'docs', 'secret.bin'), secret);
  writeFileSync(join(root, 'media', 'big.bin'), randomBytes(6 * 1024 * 1024 + 123));
  writeFileSync(join(root, 'media', 'empty'), '');
  writeFileSync(join(root, 'run.sh'), '#!/bin/sh\necho hi\n');
  chmodSync(join(root, 'run.sh'), 0o755);
  chmodSync(join(root, 'docs', 'notes.txt'), 0o640);
  symlinkSync('docs/notes.txt', join(root, 'link-to-notes'));
  const old = new Date('2021-03-04T05:06:07.891Z');
  utimesSync(join(root, 'docs', 'notes.txt'), old, old);
  utimesSync(join(root, 'media'), old, old);
}

export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  /** Whole microseconds (what a restore reproduces exactly); 0 for symlinks (their own times are not restored). */
  mtimeUs: number;
  /** File: SHA-256 of the bytes; symlink: its target's bytes, hex. */
  content?: string;
}

/** A relative path's bytes as a readable key: UTF-8 as it is, any other byte as \xHH. */
function pathKey(bytes: Buffer): string {
  if (isUtf8(bytes)) return bytes.toString('utf8');
  return [...bytes].map((b) => (b < 0x80 ? String.fromCharCode(b) : `\\x${b.toString(16)}`)).join('');
}

/**
 * Everything a restore must reproduce, keyed by relative path: names byte for byte (read as bytes, so names that
 * are not UTF-8 count too), contents, modes, modification times to the microsecond, symlink targets' bytes.
 */
export function snapshotTree(root: string): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {};
  const visit = (dir: Buffer, rel: Buffer | undefined): void => {
    for (const name of readdirSync(dir, { encoding: 'buffer' }).sort(Buffer.compare)) {
      const p = Buffer.concat([dir, Buffer.from('/'), name]);
      const r = rel ? Buffer.concat([rel, Buffer.from('/'), name]) : name;
      const st = lstatSync(p, { bigint: true });
      const base = { mode: Number(st.mode) & 0o7777, mtimeUs: Number(st.mtimeNs / 1000n) };
      const key = pathKey(r);
      if (st.isSymbolicLink()) out[key] = { type: 'symlink', ...base, mtimeUs: 0, content: readlinkSync(p, { encoding: 'buffer' }).toString('hex') };
      else if (st.isDirectory()) {
        out[key] = { type: 'dir', ...base };
        visit(p, r);
      } else out[key] = { type: 'file', ...base, content: createHash('sha256').update(readFileSync(p)).digest('hex') };
    }
  };
  visit(Buffer.from(root), undefined);
  return out;
}

/** All bytes of all files below `dir`, for scanning a store for plaintext. */
export function allFileBytes(dir: string): Buffer[] {
  const out: Buffer[] = [];
  const visit = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) visit(p);
      else if (e.isFile()) out.push(readFileSync(p));
    }
  };
  visit(dir);
  return out;
}

/** Every sealed chunk in a local store (`backup --store`): its id, sealed length and codec flag (0 none, 1 brotli, 2 zstd). */
export function storedChunks(store: string): Array<{ id: string; length: number; flags: number }> {
  const out: Array<{ id: string; length: number; flags: number }> = [];
  const packs = join(store, 'packs');
  for (const name of readdirSync(packs).filter((n) => n.endsWith('.idx'))) {
    const pack = readFileSync(join(packs, name.replace(/\.idx$/, '.pack')));
    for (const [id, offset, length] of JSON.parse(readFileSync(join(packs, name), 'utf8')) as Array<[string, number, number]>) {
      out.push({ id, length, flags: pack[offset + 1] });
    }
  }
  return out;
}
