// An independent reader of Apple BOM files, written for the tests from the format notes (docs/bom.md) and
// Apple's own Bom fixture — it shares no code with installers/mac/bom.ts, so a writer bug cannot hide in both.
export interface BomTreeInfo {
  rootBlock: number;
  blockSize: number;
  entryCount: number;
}

export interface BomPath {
  path: string;
  id: number;
  parent: number;
  name: string;
  type: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  cksum: number;
}

export interface ParsedBom {
  blockCount: number;
  nonNullBlocks: number;
  vars: string[];
  bomInfo: { version: number; numberOfPaths: number; entries: number[][] };
  trees: Record<string, BomTreeInfo>;
  /** Leaf order, as stored. */
  paths: BomPath[];
  leafCount: number;
  /** Depth of the Paths tree (1 = a single leaf). */
  depth: number;
}

export function readBom(buf: Buffer): ParsedBom {
  if (buf.toString('latin1', 0, 8) !== 'BOMStore') throw new Error('not a BOMStore');
  if (buf.readUInt32BE(8) !== 1) throw new Error('BOM version is not 1');
  const nonNullBlocks = buf.readUInt32BE(12);
  const indexOffset = buf.readUInt32BE(16);
  const varsOffset = buf.readUInt32BE(24);
  if (indexOffset + buf.readUInt32BE(20) > buf.length) throw new Error('index runs past the end of the file');

  const count = buf.readUInt32BE(indexOffset);
  const table: Array<{ at: number; len: number }> = [];
  for (let i = 0; i < count; i++) table.push({ at: buf.readUInt32BE(indexOffset + 4 + 8 * i), len: buf.readUInt32BE(indexOffset + 8 + 8 * i) });
  const block = (i: number): Buffer => {
    const b = table[i];
    if (!b || b.len === 0) throw new Error(`block ${i} is null or missing`);
    if (b.at + b.len > buf.length) throw new Error(`block ${i} runs past the end of the file`);
    return buf.subarray(b.at, b.at + b.len);
  };

  const vars: Record<string, number> = {};
  const varNames: string[] = [];
  const nVars = buf.readUInt32BE(varsOffset);
  let at = varsOffset + 4;
  for (let i = 0; i < nVars; i++) {
    const idx = buf.readUInt32BE(at);
    const len = buf[at + 4];
    const name = buf.toString('latin1', at + 5, at + 5 + len);
    vars[name] = idx;
    varNames.push(name);
    at += 5 + len;
  }

  const treeOf = (name: string): BomTreeInfo => {
    const t = block(vars[name]);
    if (t.toString('latin1', 0, 4) !== 'tree') throw new Error(`${name} is not a tree`);
    return { rootBlock: t.readUInt32BE(8), blockSize: t.readUInt32BE(12), entryCount: t.readUInt32BE(16) };
  };
  const trees: Record<string, BomTreeInfo> = {};
  for (const n of ['Paths', 'HLIndex', 'Size64']) if (vars[n] !== undefined) trees[n] = treeOf(n);
  if (vars.VIndex !== undefined) {
    const v = block(vars.VIndex);
    const t = block(v.readUInt32BE(4));
    trees.VIndex = { rootBlock: t.readUInt32BE(8), blockSize: t.readUInt32BE(12), entryCount: t.readUInt32BE(16) };
  }

  const info = block(vars.BomInfo);
  const nEntries = info.readUInt32BE(8);
  const entries: number[][] = [];
  for (let i = 0; i < nEntries; i++) entries.push([0, 1, 2, 3].map((k) => info.readUInt32BE(12 + 16 * i + 4 * k)));

  // Descend the leftmost branch to the first leaf, then walk the leaf chain by its forward links.
  let node = block(trees.Paths.rootBlock);
  let depth = 1;
  while (node.readUInt16BE(0) === 0) {
    node = block(node.readUInt32BE(12));
    depth++;
  }
  const paths: BomPath[] = [];
  let leafCount = 0;
  for (;;) {
    leafCount++;
    const n = node.readUInt16BE(2);
    for (let k = 0; k < n; k++) {
      const info1 = block(node.readUInt32BE(12 + 8 * k));
      const file = block(node.readUInt32BE(16 + 8 * k));
      const info2 = block(info1.readUInt32BE(4));
      const nul = file.indexOf(0, 4);
      paths.push({
        id: info1.readUInt32BE(0),
        parent: file.readUInt32BE(0),
        name: file.toString('utf8', 4, nul < 0 ? file.length : nul),
        type: info2[0],
        mode: info2.readUInt16BE(4),
        uid: info2.readUInt32BE(6),
        gid: info2.readUInt32BE(10),
        mtime: info2.readUInt32BE(14),
        size: info2.readUInt32BE(18),
        cksum: info2.readUInt32BE(23),
        path: '',
      });
    }
    const next = node.readUInt32BE(4);
    if (next === 0) break;
    node = block(next);
  }
  const byId = new Map(paths.map((p) => [p.id, p]));
  for (const p of paths) {
    const parts = [p.name];
    for (let q = byId.get(p.parent); q; q = byId.get(q.parent)) parts.unshift(q.name);
    p.path = parts.join('/');
  }
  return {
    blockCount: count,
    nonNullBlocks,
    vars: varNames,
    bomInfo: { version: info.readUInt32BE(0), numberOfPaths: info.readUInt32BE(4), entries },
    trees,
    paths,
    leafCount,
    depth,
  };
}
