// The deterministic benchmark corpus: planned from a seed, generated once into bench-out/ and reused.
// A run mutates it (append + add files) and the next run reverts that before it starts.
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { binaryContent, textContent } from './content.js';
import { Prng } from './prng.js';
import { mapLimit } from './pool.js';

/** Bump when the plan or content functions change, so caches from older versions are not reused. */
export const CORPUS_FORMAT = 1;

export interface CorpusParams {
  seed: string;
  files: number;
  /** Approximate total size; the log-normal location is solved so the clipped sizes sum to this. */
  totalBytes: number;
  minSize: number;
  maxSize: number;
  /** Log-normal shape (standard deviation of ln size). */
  sigma: number;
  duplicateFraction: number;
  /** Share of non-duplicate files that are text (the rest are incompressible). */
  textFraction: number;
  filesPerDir: number;
}

export const FULL_CORPUS: CorpusParams = {
  seed: 'holdfast-bench-1',
  files: 20_000,
  totalBytes: 1.5 * 1024 ** 3,
  minSize: 1024,
  maxSize: 5 * 1024 ** 2,
  sigma: 1.5,
  duplicateFraction: 0.05,
  textFraction: 0.5,
  filesPerDir: 25,
};

export const QUICK_CORPUS: CorpusParams = { ...FULL_CORPUS, files: 1_000, totalBytes: 60 * 1024 ** 2 };

export type FileKind = 'text' | 'binary' | 'duplicate';

export interface PlannedFile {
  path: string;
  size: number;
  kind: FileKind;
  /** For duplicates: index of the file whose content this one repeats. */
  source?: number;
}

export interface ManifestEntry {
  path: string;
  size: number;
  sha256: string;
}

export interface Manifest {
  format: number;
  params: CorpusParams;
  files: ManifestEntry[];
  totalBytes: number;
}

export function corpusKey(params: CorpusParams): string {
  const h = createHash('sha256')
    .update(JSON.stringify({ CORPUS_FORMAT, ...params }))
    .digest('hex');
  return `${params.files}f-${h.slice(0, 12)}`;
}

function clip(x: number, lo: number, hi: number): number {
  return x < lo ? lo : Math.min(x, hi);
}

/** The files of the corpus (paths, sizes, kinds), with no I/O. Same params -> same plan. */
export function planCorpus(params: CorpusParams): PlannedFile[] {
  const rng = new Prng(`${params.seed}:plan`);
  const dirCount = Math.max(1, Math.round(params.files / params.filesPerDir));
  const dirs: string[] = [];
  const depth: number[] = [];
  for (let i = 0; i < dirCount; i++) {
    const name = `d${String(i).padStart(4, '0')}`;
    // The first few are top-level; later ones nest under a random earlier one, at most 6 deep.
    const parent = i < 8 ? -1 : rng.int(i);
    if (parent < 0 || depth[parent] >= 6) {
      dirs.push(name);
      depth.push(1);
    } else {
      dirs.push(`${dirs[parent]}/${name}`);
      depth.push(depth[parent] + 1);
    }
  }
  const z: number[] = [];
  const kinds: FileKind[] = [];
  const sources: number[] = [];
  const paths: string[] = [];
  for (let i = 0; i < params.files; i++) {
    z.push(rng.normal());
    const dir = dirs[rng.int(dirCount)];
    let kind: FileKind;
    if (i >= 10 && rng.next() < params.duplicateFraction) {
      kind = 'duplicate';
      let src = rng.int(i);
      while (kinds[src] === 'duplicate') src = rng.int(i);
      sources.push(src);
    } else {
      kind = rng.next() < params.textFraction ? 'text' : 'binary';
      sources.push(-1);
    }
    kinds.push(kind);
    const ext = kind === 'text' ? '.log' : kind === 'binary' ? '.bin' : '.copy';
    paths.push(`${dir}/f${String(i).padStart(6, '0')}${ext}`);
  }
  const sizesFor = (mu: number): number[] => {
    const sizes = z.map((v) => Math.round(clip(Math.exp(mu + params.sigma * v), params.minSize, params.maxSize)));
    for (let i = 0; i < sizes.length; i++) if (sources[i] >= 0) sizes[i] = sizes[sources[i]];
    return sizes;
  };
  // Bisection on the log-normal location so the clipped total lands on the requested size.
  let lo = Math.log(params.minSize);
  let hi = Math.log(params.maxSize);
  for (let iter = 0; iter < 60; iter++) {
    const mid = (lo + hi) / 2;
    const total = sizesFor(mid).reduce((a, b) => a + b, 0);
    if (total < params.totalBytes) lo = mid;
    else hi = mid;
  }
  const sizes = sizesFor((lo + hi) / 2);
  return paths.map((path, i) => ({
    path,
    size: sizes[i],
    kind: kinds[i],
    ...(sources[i] >= 0 && { source: sources[i] }),
  }));
}

/** Content of file `index` of the plan; a duplicate returns its source's bytes. */
export function fileContent(params: CorpusParams, plan: PlannedFile[], index: number): Buffer {
  const f = plan[index];
  if (f.kind === 'duplicate') return fileContent(params, plan, f.source!);
  return f.kind === 'text' ? textContent(params.seed, `file:${index}`, f.size) : binaryContent(params.seed, `file:${index}`, f.size);
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface Corpus {
  dir: string;
  /** Where the manifest and mutation marker live (beside the data, not inside it). */
  metaDir: string;
  params: CorpusParams;
  manifest: Manifest;
  generated: boolean;
  generateSeconds: number;
}

const MANIFEST = 'manifest.json';
const MUTATION = 'mutation.json';
/**
 * The files a mutation added wait here between runs and rounds instead of being deleted. On ext4 without a
 * journal, every inode deleted in the last minutes is checked (and skipped) on each file created in its block
 * group: deleting these 50 files made the next round's restores of both tools take 3-5 times the system time.
 */
const HELD = 'added-held';

/**
 * The corpus for `params` under `root` (bench-out/corpus): reused when its manifest is present and every
 * file has the planned size, otherwise generated afresh. A mutation left by an earlier run is reverted.
 */
export async function ensureCorpus(root: string, params: CorpusParams, progress: (msg: string) => void = () => {}): Promise<Corpus> {
  const metaDir = join(root, corpusKey(params));
  const dir = join(metaDir, 'data');
  await revertMutation(dir, metaDir);
  const existing = await readManifest(metaDir);
  if (existing && (await sizesMatch(dir, existing.files))) {
    return { dir, metaDir, params, manifest: existing, generated: false, generateSeconds: 0 };
  }
  const started = performance.now();
  await rm(metaDir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const plan = planCorpus(params);
  const dirs = new Set(plan.map((f) => dirname(f.path)));
  for (const d of dirs) await mkdir(join(dir, d), { recursive: true });
  const entries: ManifestEntry[] = new Array(plan.length);
  let done = 0;
  let bytes = 0;
  let lastReport = 0;
  await mapLimit(plan, 4, async (f, i) => {
    const data = fileContent(params, plan, i);
    entries[i] = { path: f.path, size: f.size, sha256: sha256(data) };
    await writeFile(join(dir, f.path), data);
    done++;
    bytes += f.size;
    if (performance.now() - lastReport > 2000) {
      lastReport = performance.now();
      progress(`corpus: ${done}/${plan.length} files, ${(bytes / 1024 ** 2).toFixed(0)} MiB`);
    }
  });
  const manifest: Manifest = {
    format: CORPUS_FORMAT,
    params,
    files: entries,
    totalBytes: entries.reduce((a, e) => a + e.size, 0),
  };
  await writeFile(join(metaDir, MANIFEST), JSON.stringify(manifest));
  return { dir, metaDir, params, manifest, generated: true, generateSeconds: (performance.now() - started) / 1000 };
}

async function readManifest(metaDir: string): Promise<Manifest | undefined> {
  try {
    const m = JSON.parse(await readFile(join(metaDir, MANIFEST), 'utf8')) as Manifest;
    return m.format === CORPUS_FORMAT ? m : undefined;
  } catch {
    return undefined;
  }
}

async function sizesMatch(dir: string, files: ManifestEntry[]): Promise<boolean> {
  let ok = true;
  await mapLimit(files, 16, async (f) => {
    if (!ok) return;
    try {
      if ((await stat(join(dir, f.path))).size !== f.size) ok = false;
    } catch {
      ok = false;
    }
  });
  return ok;
}

// ---- the "+1%" change: append 4 KiB to 1% of the files and add 50 new ones ----

export interface MutationPlan {
  appended: Array<{ index: number; path: string; originalSize: number; bytes: number }>;
  added: Array<{ path: string; size: number; kind: 'text' | 'binary' }>;
}

export function planMutation(params: CorpusParams, files: ManifestEntry[], appendShare = 0.01, addCount = 50): MutationPlan {
  const rng = new Prng(`${params.seed}:mutate`);
  const want = Math.max(1, Math.round(files.length * appendShare));
  const chosen = new Set<number>();
  while (chosen.size < Math.min(want, files.length)) chosen.add(rng.int(files.length));
  const appended = [...chosen].sort((a, b) => a - b).map((index) => ({ index, path: files[index].path, originalSize: files[index].size, bytes: 4096 }));
  const dirs = [...new Set(files.map((f) => dirname(f.path)))].sort();
  const mu = Math.log(Math.max(params.minSize, params.totalBytes / Math.max(1, params.files))) - params.sigma ** 2 / 2;
  const added: MutationPlan['added'] = [];
  for (let i = 0; i < addCount; i++) {
    const kind = rng.next() < params.textFraction ? 'text' : 'binary';
    const size = Math.round(clip(Math.exp(mu + params.sigma * rng.normal()), params.minSize, params.maxSize));
    const dir = dirs[rng.int(dirs.length)];
    added.push({ path: `${dir}/new-${String(i).padStart(3, '0')}${kind === 'text' ? '.log' : '.bin'}`, size, kind });
  }
  return { appended, added };
}

/** Apply the mutation and return the manifest the tree now matches (for restore verification). */
export async function mutateCorpus(corpus: Corpus): Promise<{ plan: MutationPlan; manifest: ManifestEntry[] }> {
  const { params, dir, metaDir } = corpus;
  const plan = planMutation(params, corpus.manifest.files);
  // The marker goes first, so an interrupted run is still reverted by the next one.
  await writeFile(join(metaDir, MUTATION), JSON.stringify(plan));
  const files = corpus.manifest.files.map((f) => ({ ...f }));
  for (const a of plan.appended) {
    const extra = textContent(params.seed, `append:${a.index}`, a.bytes);
    const fh = await open(join(dir, a.path), 'a');
    try {
      await fh.write(extra);
    } finally {
      await fh.close();
    }
    const full = await readFile(join(dir, a.path));
    files[a.index] = { path: a.path, size: full.length, sha256: sha256(full) };
  }
  for (const [i, f] of plan.added.entries()) {
    const data = f.kind === 'text' ? textContent(params.seed, `added:${i}`, f.size) : binaryContent(params.seed, `added:${i}`, f.size);
    // The file kept from an earlier round comes back (same inode), and its content is written anew.
    await rename(join(metaDir, HELD, String(i)), join(dir, f.path)).catch(() => undefined);
    await writeFile(join(dir, f.path), data);
    files.push({ path: f.path, size: f.size, sha256: sha256(data) });
  }
  return { plan, manifest: files };
}

/** Undo a mutation recorded by an earlier run (idempotent: safe after a partial mutation). */
export async function revertMutation(dir: string, metaDir: string): Promise<boolean> {
  let plan: MutationPlan;
  try {
    plan = JSON.parse(await readFile(join(metaDir, MUTATION), 'utf8')) as MutationPlan;
  } catch {
    return false;
  }
  for (const a of plan.appended) {
    try {
      if ((await stat(join(dir, a.path))).size !== a.originalSize) await truncate(join(dir, a.path), a.originalSize);
    } catch {
      /* a missing file fails the size check and the corpus is regenerated */
    }
  }
  await mkdir(join(metaDir, HELD), { recursive: true });
  for (const [i, f] of plan.added.entries()) await rename(join(dir, f.path), join(metaDir, HELD, String(i))).catch(() => undefined);
  // Emptied, not deleted (see HELD): an empty marker means nothing to revert.
  await writeFile(join(metaDir, MUTATION), '');
  return true;
}
