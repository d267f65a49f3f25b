// The pkg's building blocks against real readers: cpio odc vs GNU cpio, xar vs bsdtar and 7-Zip, BOM vs an
// independent reader, the npm lsbom parser and Apple's own Bom fixture.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { writeBom, type BomEntry } from '../installers/mac/bom.js';
import { posixCksum } from '../installers/mac/checksums.js';
import { odcArchive, type CpioEntry } from '../installers/mac/cpio.js';
import { sharedPayload, writePayload } from '../installers/mac/payload.js';
import { writeXar } from '../installers/mac/xar.js';
import { readBom } from './helpers/bom-reader.js';
import { repoRoot } from './helpers/paths.js';
import { sevenZip as SEVENZIP, tool } from './helpers/pkg-readers.js';

const require = createRequire(import.meta.url);
const lsbom = require('lsbom') as (b: Buffer) => Array<{ filename: string; mode: number; checksum?: number; size?: number }>;

const work = mkdtempSync(join(tmpdir(), 'hf-pkg-formats-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Every file and directory under root, "./"-relative, parents first. */
function walk(root: string): string[] {
  const out: string[] = [];
  const visit = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const abs = join(dir, name);
      out.push(`./${relative(root, abs)}`);
      if (statSync(abs).isDirectory()) visit(abs);
    }
  };
  visit(root);
  return out;
}

function makeTree(root: string): void {
  mkdirSync(join(root, 'Library/Application Support/Holdfast/bin'), { recursive: true });
  mkdirSync(join(root, 'unicodé dir'), { recursive: true });
  writeFileSync(join(root, 'Library/Application Support/Holdfast/bin/tool'), '#!/bin/sh\necho hi\n');
  chmodSync(join(root, 'Library/Application Support/Holdfast/bin/tool'), 0o755);
  writeFileSync(join(root, 'unicodé dir/ü.txt'), Buffer.from('a'.repeat(70_000)));
  writeFileSync(join(root, 'empty'), '');
  chmodSync(join(root, 'empty'), 0o600);
}

function entriesOf(root: string): CpioEntry[] {
  return [
    { path: '.', kind: 'dir', mode: 0o755, mtime: 1_700_000_000 },
    ...walk(root).map((p): CpioEntry => {
      const st = statSync(join(root, p));
      return st.isDirectory()
        ? { path: p, kind: 'dir', mode: st.mode & 0o7777, mtime: 1_700_000_000 }
        : { path: p, kind: 'file', mode: st.mode & 0o7777, mtime: 1_700_000_000, data: { file: join(root, p) } };
    }),
  ];
}

describe('cpio odc writer', () => {
  it('round-trips a tree through GNU cpio -i -H odc with modes, root ownership and ./ paths', async () => {
    const src = join(work, 'cpio-src');
    makeTree(src);
    const archive = await odcArchive(entriesOf(src));
    expect(archive.subarray(0, 6).toString()).toBe('070707');
    const file = join(work, 'a.cpio');
    writeFileSync(file, archive);
    const out = join(work, 'cpio-out');
    mkdirSync(out);
    execFileSync(tool('cpio'), ['-i', '-d', '-m', '-H', 'odc', '--quiet', '-F', file], { cwd: out });
    execFileSync('diff', ['-r', src, out]);
    for (const p of walk(src)) expect(statSync(join(out, p)).mode & 0o7777, p).toBe(statSync(join(src, p)).mode & 0o7777);
    const listing = execFileSync(tool('cpio'), ['-t', '-v', '-n', '-H', 'odc', '--quiet', '-F', file], { encoding: 'utf8' }).trim().split('\n');
    expect(listing.length).toBe(walk(src).length + 1);
    for (const line of listing) expect(line.split(/\s+/).slice(2, 4)).toEqual(['0', '0']);
    expect(listing.map((l) => l.split(/\s+/).slice(8).join(' '))).toEqual(['.', ...walk(src)]);
    // libarchive agrees on the format.
    expect(execFileSync(tool('bsdtar'), ['-tf', file], { encoding: 'utf8' }).trim().split('\n')).toEqual(['.', ...walk(src)]);
  });

  it('rejects paths that are not ./-relative or climb out', async () => {
    await expect(odcArchive([{ path: '/etc/passwd', kind: 'dir', mode: 0o755, mtime: 0 }])).rejects.toThrow(/must be "\." or start with "\.\/"/);
    await expect(odcArchive([{ path: './a/../../b', kind: 'dir', mode: 0o755, mtime: 0 }])).rejects.toThrow(/\.\./);
  });
});

describe('xar writer', () => {
  const members = () => {
    const big = Buffer.alloc(300_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
    writeFileSync(join(work, 'big.bin'), big);
    return [
      { path: 'comp.pkg/Bom', data: Buffer.from('x'.repeat(5000)), compress: true },
      { path: 'comp.pkg/Payload', data: { file: join(work, 'big.bin') } },
      { path: 'comp.pkg/PackageInfo', data: Buffer.from('<pkg-info/>\n'), compress: true },
      { path: 'Distribution', data: Buffer.from('<installer-gui-script/>\n'), mode: 0o600 },
    ];
  };

  it('is listed, tested and extracted by bsdtar and 7-Zip in productbuild order', async () => {
    const xar = join(work, 't.pkg');
    await writeXar(xar, members());
    const head = readFileSync(xar).subarray(0, 28);
    expect(head.subarray(0, 4).toString()).toBe('xar!');
    expect(head.readUInt16BE(4)).toBe(28);
    expect(head.readUInt32BE(24)).toBe(1);
    const list = execFileSync(tool('bsdtar'), ['-tf', xar], { encoding: 'utf8' }).trim().split('\n');
    expect(list).toEqual(['comp.pkg', 'comp.pkg/Bom', 'comp.pkg/Payload', 'comp.pkg/PackageInfo', 'Distribution']);
    const bsd = join(work, 'xar-bsd');
    mkdirSync(bsd);
    execFileSync(tool('bsdtar'), ['-xpf', xar, '-C', bsd]);
    expect(readFileSync(join(bsd, 'comp.pkg/Payload')).equals(readFileSync(join(work, 'big.bin')))).toBe(true);
    expect(readFileSync(join(bsd, 'comp.pkg/Bom'), 'utf8')).toBe('x'.repeat(5000));
    expect(statSync(join(bsd, 'Distribution')).mode & 0o777).toBe(0o600);
    const t = execFileSync(SEVENZIP(), ['t', xar], { encoding: 'utf8' });
    expect(t).toContain('Everything is Ok');
    const sz = join(work, 'xar-7z');
    execFileSync(SEVENZIP(), ['x', '-y', `-o${sz}`, xar], { encoding: 'utf8' });
    // 7-Zip also extracts the table of contents as [TOC].xml: well-formed, and otherwise the same tree.
    execFileSync(tool('xmllint'), ['--noout', join(sz, '[TOC].xml')]);
    rmSync(join(sz, '[TOC].xml'));
    execFileSync('diff', ['-r', bsd, sz]);
  });

  it('a flipped byte in a member or in the TOC is caught by bsdtar and 7-Zip', async () => {
    const xar = join(work, 'flip.pkg');
    await writeXar(xar, members());
    const good = readFileSync(xar);
    const tocLen = Number(good.readBigUInt64BE(8));
    const heap = 28 + tocLen;
    for (const [what, at] of [
      ['Payload data', heap + 20 + 200 + 150_000],
      ['compressed Bom data', heap + 20 + 5],
      ['TOC', 28 + Math.floor(tocLen / 2)],
    ] as const) {
      const bad = Buffer.from(good);
      bad[at] ^= 0x01;
      const file = join(work, `bad-${what.replace(/ /g, '-')}.pkg`);
      writeFileSync(file, bad);
      const dest = join(work, `bad-out-${what.replace(/ /g, '-')}`);
      mkdirSync(dest);
      const b = spawnSync(tool('bsdtar'), ['-xf', file, '-C', dest], { encoding: 'utf8' });
      expect(b.status, `bsdtar on flipped ${what}`).not.toBe(0);
      const s = spawnSync(SEVENZIP(), ['t', file], { encoding: 'utf8' });
      expect(`${s.status} ${s.stdout}${s.stderr}`, `7z on flipped ${what}`).not.toMatch(/^0 [\s\S]*Everything is Ok/);
    }
  });
});

function bomEntriesOf(root: string, includeRoot = true): BomEntry[] {
  const list: BomEntry[] = includeRoot ? [{ path: '.', kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1, size: 0, cksum: 0 }] : [];
  for (const p of walk(root)) {
    const st = statSync(join(root, p));
    list.push(
      st.isDirectory()
        ? { path: p, kind: 'dir', mode: st.mode & 0o7777, uid: 0, gid: 0, mtime: 1, size: 0, cksum: 0 }
        : { path: p, kind: 'file', mode: st.mode & 0o7777, uid: 0, gid: 0, mtime: 1, size: st.size, cksum: posixCksum(readFileSync(join(root, p))) },
    );
  }
  return list;
}

const sortedByParentThenName = (paths: Array<{ parent: number; name: string }>) =>
  paths.every(
    (p, i) =>
      i === 0 ||
      paths[i - 1].parent < p.parent ||
      (paths[i - 1].parent === p.parent && Buffer.compare(Buffer.from(paths[i - 1].name), Buffer.from(p.name)) < 0),
  );

describe('BOM writer', () => {
  it('POSIX cksum matches the cksum command', () => {
    const file = join(work, 'ck.bin');
    writeFileSync(file, Buffer.from('The quick brown fox jumps over the lazy dog\n'.repeat(999)));
    const [crc] = execFileSync('cksum', [file], { encoding: 'utf8' }).split(' ');
    expect(posixCksum(readFileSync(file))).toBe(Number(crc));
    expect(posixCksum(Buffer.alloc(0))).toBe(4294967295);
  });

  it('writes multi-leaf trees past 256 entries that the independent reader walks completely and in order', () => {
    const entries: BomEntry[] = [{ path: '.', kind: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1, size: 0, cksum: 0 }];
    for (let d = 0; d < 6; d++) {
      entries.push({ path: `./d${d}`, kind: 'dir', mode: 0o755, uid: 0, gid: 80, mtime: 2, size: 0, cksum: 0 });
      for (let f = 0; f < 100; f++)
        entries.push({
          path: `./d${d}/f${String(f).padStart(3, '0')}`,
          kind: 'file',
          mode: 0o644,
          uid: 0,
          gid: 0,
          mtime: 3,
          size: f * 10,
          cksum: d * 1000 + f,
        });
    }
    const parsed = readBom(writeBom(entries));
    expect(parsed.paths.length).toBe(entries.length);
    expect(parsed.leafCount).toBe(Math.ceil(entries.length / 256));
    expect(parsed.depth).toBe(2);
    expect(parsed.trees.Paths.entryCount).toBe(entries.length);
    expect(sortedByParentThenName(parsed.paths)).toBe(true);
    const byPath = new Map(parsed.paths.map((p) => [p.path, p]));
    for (const e of entries) {
      const p = byPath.get(e.path)!;
      expect(p, e.path).toBeDefined();
      expect([p.mode & 0o7777, p.gid, p.size, p.cksum, p.type]).toEqual([e.mode, e.gid, e.size, e.cksum, e.kind === 'dir' ? 2 : 1]);
    }
    // Three levels when leaves are tiny: meta nodes above meta nodes.
    const deep = readBom(writeBom(entries.slice(0, 120), { perLeaf: 4 }));
    expect(deep.depth).toBe(4);
    expect(deep.paths.map((p) => p.path).sort()).toEqual(
      entries
        .slice(0, 120)
        .map((e) => e.path)
        .sort(),
    );
  });

  it('is parsed by the npm lsbom reader with the same paths, modes and checksums', () => {
    const src = join(work, 'bom-src');
    makeTree(src);
    const entries = bomEntriesOf(src);
    const files = lsbom(writeBom(entries));
    expect(files.map((f) => f.filename).sort()).toEqual(entries.map((e) => e.path).sort());
    for (const e of entries.filter((x) => x.kind === 'file')) {
      const f = files.find((x) => x.filename === e.path)!;
      expect([f.mode & 0o7777, f.size, f.checksum]).toEqual([e.mode, e.size, e.cksum]);
    }
  });

  it('matches the structure of the Apple-made Bom shipped with lsbom for the same tree', () => {
    const apple = readBom(readFileSync(join(repoRoot, 'node_modules/lsbom/Bom')));
    const testdir = join(repoRoot, 'node_modules/lsbom/testdir');
    const ours = readBom(writeBom(bomEntriesOf(testdir)));
    expect(ours.vars).toEqual(apple.vars);
    expect(ours.vars).toEqual(['BomInfo', 'Paths', 'HLIndex', 'VIndex', 'Size64']);
    for (const t of ['Paths', 'HLIndex', 'VIndex', 'Size64']) expect(ours.trees[t].blockSize, t).toBe(apple.trees[t].blockSize);
    expect(apple.bomInfo.numberOfPaths).toBe(apple.paths.length + 1);
    expect(ours.bomInfo.numberOfPaths).toBe(ours.paths.length + 1);
    expect(ours.bomInfo.entries.length).toBe(apple.bomInfo.entries.length);
    const appleFileBytes = apple.paths.filter((p) => p.type === 1 || p.type === 3).reduce((s, p) => s + p.size, 0);
    expect(apple.bomInfo.entries[0][2]).toBe(appleFileBytes);
    expect(ours.bomInfo.entries[0][2]).toBe(ours.paths.filter((p) => p.type === 1).reduce((s, p) => s + p.size, 0));
    expect(sortedByParentThenName(apple.paths)).toBe(true);
    expect(sortedByParentThenName(ours.paths)).toBe(true);
    // npm drops the fixture's symlink (link.txt); every other path matches Apple's: order, ids, sizes, CRCs.
    const appleNoLink = apple.paths.filter((p) => p.type !== 3);
    expect(ours.paths.map((p) => p.path)).toEqual(appleNoLink.map((p) => p.path));
    const appleFiles = appleNoLink.filter((p) => p.type === 1);
    const ourFiles = ours.paths.filter((p) => p.type === 1);
    expect(ourFiles.map((p) => [p.path, p.size, p.cksum, p.mode])).toEqual(appleFiles.map((p) => [p.path, p.size, p.cksum, p.mode]));
  });
});

describe('Payload stitching (cached deflate head + per-fleet tail)', () => {
  it('is one valid gzip member whose cpio holds head and tail, built once per content', async () => {
    const src = join(work, 'stitch-src');
    makeTree(src);
    const cacheDir = join(work, 'stitch-cache');
    const head = entriesOf(src);
    const messages: string[] = [];
    const first = await sharedPayload(cacheDir, head, 6, (m) => messages.push(m));
    const again = await sharedPayload(cacheDir, head, 6, (m) => messages.push(m));
    expect([first.cached, again.cached, messages.length]).toEqual([false, true, 1]);
    const tail: CpioEntry[] = [
      { path: './tail', kind: 'dir', mode: 0o755, mtime: 5 },
      { path: './tail/fleet.plist', kind: 'file', mode: 0o644, mtime: 5, data: Buffer.from('<plist/>\n') },
    ];
    const out = join(work, 'Payload');
    const bom = await writePayload(out, again, tail);
    execFileSync('gzip', ['-t', out]);
    const cpio = gunzipSync(readFileSync(out));
    const cpioFile = join(work, 'stitched.cpio');
    writeFileSync(cpioFile, cpio);
    const names = execFileSync(tool('cpio'), ['-t', '-H', 'odc', '--quiet', '-F', cpioFile], { encoding: 'utf8' }).trim().split('\n');
    expect(names).toEqual([...head.map((e) => e.path), './tail', './tail/fleet.plist']);
    expect(bom.map((e) => e.path)).toEqual(names);
    expect(bom.find((e) => e.path === './tail/fleet.plist')!.cksum).toBe(posixCksum(Buffer.from('<plist/>\n')));
    // A wrong CRC-32 continuation would be caught.
    const bad = readFileSync(out);
    bad[bad.length - 8] ^= 0xff;
    writeFileSync(join(work, 'bad-Payload'), bad);
    expect(spawnSync('gzip', ['-t', join(work, 'bad-Payload')]).status).not.toBe(0);
    // A different level is a different cache entry.
    expect((await sharedPayload(cacheDir, head, 1, () => {})).cached).toBe(false);
  });
});
