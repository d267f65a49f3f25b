// Apple BOM ("bill of materials") writer for a component package's Bom. Big-endian "BOMStore": a 512-byte
// header, data blocks, the named-variable table and the block index (see docs/bom.md). Variables written as
// productbuild does: BomInfo, Paths, HLIndex, VIndex, Size64. Paths is a B+ tree keyed by (parent id, name)
// whose leaves hold (PathInfo1 -> PathInfo2, BOMFile) pairs; ids are assigned depth-first, names sorted.
import { S_IFDIR, S_IFREG } from './cpio.js';

export interface BomEntry {
  /** "." or "./a/b", exactly as in the Payload. */
  path: string;
  kind: 'dir' | 'file';
  /** Permission bits (0o755). */
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  /** File size in bytes (0 for directories). */
  size: number;
  /** POSIX cksum CRC of the file (0 for directories). */
  cksum: number;
}

export const BOM_LEAF_ENTRIES = 256;
const PATHS_BLOCK_SIZE = 4096;

interface Node {
  entry: BomEntry;
  name: string;
  id: number;
  parentId: number;
  children: Node[];
}

const nameOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

class Blocks {
  readonly list: Buffer[] = [Buffer.alloc(0)];
  add(b: Buffer): number {
    this.list.push(b);
    return this.list.length - 1;
  }
  set(i: number, b: Buffer): void {
    this.list[i] = b;
  }
}

function u32(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => {
    b.writeUInt32BE(v >>> 0, i * 4);
  });
  return b;
}

function tree(child: number, blockSize: number, count: number): Buffer {
  return Buffer.concat([Buffer.from('tree'), u32(1, child, blockSize, count), Buffer.alloc(1)]);
}

function pathsNode(isLeaf: boolean, pairs: Array<[number, number]>, forward: number, backward: number, size: number): Buffer {
  const b = Buffer.alloc(Math.max(size, 12 + pairs.length * 8));
  b.writeUInt16BE(isLeaf ? 1 : 0, 0);
  b.writeUInt16BE(pairs.length, 2);
  b.writeUInt32BE(forward, 4);
  b.writeUInt32BE(backward, 8);
  pairs.forEach(([k, v], i) => {
    b.writeUInt32BE(k, 12 + i * 8);
    b.writeUInt32BE(v, 16 + i * 8);
  });
  return b;
}

function pathInfo2(e: BomEntry): Buffer {
  const isFile = e.kind === 'file';
  const b = Buffer.alloc(isFile ? 35 : 31);
  b.writeUInt8(isFile ? 1 : 2, 0);
  b.writeUInt8(1, 1);
  b.writeUInt16BE(0x000f, 2);
  b.writeUInt16BE((isFile ? S_IFREG : S_IFDIR) | (e.mode & 0o7777), 4);
  b.writeUInt32BE(e.uid, 6);
  b.writeUInt32BE(e.gid, 10);
  b.writeUInt32BE(e.mtime >>> 0, 14);
  b.writeUInt32BE(isFile ? Math.min(e.size, 0xffffffff) : 0, 18);
  b.writeUInt8(1, 22);
  b.writeUInt32BE(isFile ? e.cksum : 0, 23);
  b.writeUInt32BE(0, 27); // link name length
  return b;
}

function buildTree(entries: BomEntry[]): Node[] {
  const byPath = new Map<string, Node>();
  const root = entries.find((e) => e.path === '.');
  if (!root || root.kind !== 'dir') throw new Error('BOM: the payload must start with the "." directory');
  for (const e of entries) {
    if (byPath.has(e.path)) throw new Error(`BOM: duplicate path ${e.path}`);
    byPath.set(e.path, { entry: e, name: e.path === '.' ? '.' : e.path.slice(e.path.lastIndexOf('/') + 1), id: 0, parentId: 0, children: [] });
  }
  for (const [path, node] of byPath) {
    if (path === '.') continue;
    const parent = byPath.get(path.slice(0, path.lastIndexOf('/')));
    if (!parent || parent.entry.kind !== 'dir') throw new Error(`BOM: ${path} has no parent directory in the payload`);
    parent.children.push(node);
  }
  const ordered: Node[] = [];
  const visit = (n: Node, parentId: number) => {
    n.id = ordered.length + 1;
    n.parentId = parentId;
    ordered.push(n);
    n.children.sort((a, b) => nameOrder(a.name, b.name));
    for (const c of n.children) visit(c, n.id);
  };
  visit(byPath.get('.')!, 0);
  return ordered;
}

/** Lays out a B+ tree of (key, value) block pairs: leaves of up to `perLeaf` entries, meta nodes above. */
function writePathsTree(blocks: Blocks, pairs: Array<[number, number]>, perLeaf: number): number {
  let level: Array<{ block: number; lastValue: number }> = [];
  const leafCount = Math.max(1, Math.ceil(pairs.length / perLeaf));
  const leafIds = Array.from({ length: leafCount }, () => blocks.add(Buffer.alloc(0)));
  for (let i = 0; i < leafCount; i++) {
    const chunk = pairs.slice(i * perLeaf, (i + 1) * perLeaf);
    blocks.set(leafIds[i], pathsNode(true, chunk, leafIds[i + 1] ?? 0, leafIds[i - 1] ?? 0, PATHS_BLOCK_SIZE));
    level.push({ block: leafIds[i], lastValue: chunk.at(-1)?.[1] ?? 0 });
  }
  while (level.length > 1) {
    const next: typeof level = [];
    const metaCount = Math.ceil(level.length / perLeaf);
    const metaIds = Array.from({ length: metaCount }, () => blocks.add(Buffer.alloc(0)));
    for (let i = 0; i < metaCount; i++) {
      const chunk = level.slice(i * perLeaf, (i + 1) * perLeaf);
      blocks.set(
        metaIds[i],
        pathsNode(
          false,
          chunk.map((c) => [c.block, c.lastValue]),
          metaIds[i + 1] ?? 0,
          metaIds[i - 1] ?? 0,
          PATHS_BLOCK_SIZE,
        ),
      );
      next.push({ block: metaIds[i], lastValue: chunk.at(-1)!.lastValue });
    }
    level = next;
  }
  return level[0].block;
}

/** Serialises the BOM for exactly these payload entries. */
export function writeBom(entries: BomEntry[], opts: { perLeaf?: number } = {}): Buffer {
  const perLeaf = opts.perLeaf ?? BOM_LEAF_ENTRIES;
  const nodes = buildTree(entries);
  const blocks = new Blocks();

  const totalSize = entries.reduce((s, e) => s + (e.kind === 'file' ? e.size : 0), 0);
  const bomInfo = blocks.add(u32(1, nodes.length + 1, 1, 0, 0, Math.min(totalSize, 0xffffffff), 0));
  const pathsTreeIdx = blocks.add(Buffer.alloc(0));

  const sorted = [...nodes].sort((a, b) => a.parentId - b.parentId || nameOrder(a.name, b.name));
  const pairs: Array<[number, number]> = sorted.map((n) => {
    const info2 = blocks.add(pathInfo2(n.entry));
    const info1 = blocks.add(u32(n.id, info2));
    const file = blocks.add(Buffer.concat([u32(n.parentId), Buffer.from(`${n.name}\0`, 'utf8')]));
    return [info1, file];
  });
  const pathsRoot = writePathsTree(blocks, pairs, perLeaf);
  blocks.set(pathsTreeIdx, tree(pathsRoot, PATHS_BLOCK_SIZE, nodes.length));

  const emptyTree = (blockSize: number) => {
    const t = blocks.add(Buffer.alloc(0));
    blocks.set(t, tree(blocks.add(pathsNode(true, [], 0, 0, blockSize)), blockSize, 0));
    return t;
  };
  const hlIndex = emptyTree(PATHS_BLOCK_SIZE);
  const vIndex = blocks.add(Buffer.alloc(0));
  blocks.set(vIndex, Buffer.concat([u32(1, emptyTree(128), 0), Buffer.alloc(1)]));
  const size64 = emptyTree(PATHS_BLOCK_SIZE);

  const vars: Array<[string, number]> = [
    ['BomInfo', bomInfo],
    ['Paths', pathsTreeIdx],
    ['HLIndex', hlIndex],
    ['VIndex', vIndex],
    ['Size64', size64],
  ];

  // Layout: header, blocks, vars, index.
  const body: Buffer[] = [];
  let offset = 512;
  const pointers: Array<[number, number]> = [[0, 0]];
  for (const b of blocks.list.slice(1)) {
    pointers.push([offset, b.length]);
    body.push(b);
    offset += b.length;
  }
  const varsBuf = Buffer.concat([
    u32(vars.length),
    ...vars.map(([name, idx]) => Buffer.concat([u32(idx), Buffer.from([name.length]), Buffer.from(name, 'ascii')])),
  ]);
  const varsOffset = offset;
  offset += varsBuf.length;
  // Block table, then an empty free list (count 0) and two spare zero pointers, as mkbom writes it.
  const index = Buffer.concat([u32(pointers.length), ...pointers.map(([a, l]) => u32(a, l)), u32(0), Buffer.alloc(16)]);
  const header = Buffer.alloc(512);
  header.write('BOMStore', 0, 'ascii');
  header.writeUInt32BE(1, 8);
  header.writeUInt32BE(pointers.length - 1, 12);
  header.writeUInt32BE(offset, 16);
  header.writeUInt32BE(index.length, 20);
  header.writeUInt32BE(varsOffset, 24);
  header.writeUInt32BE(varsBuf.length, 28);
  return Buffer.concat([header, ...body, varsBuf, index]);
}
