// The benchmark harness's own logic (not timings): the corpus is deterministic and shaped as the issue
// asks, a run's change is reverted exactly, the verification walk catches damage, and the ratio,
// table and JSON rows are computed right.
import { appendFile, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  corpusKey,
  ensureCorpus,
  fileContent,
  FULL_CORPUS,
  mutateCorpus,
  planCorpus,
  planMutation,
  QUICK_CORPUS,
  revertMutation,
  sha256,
  type CorpusParams,
  type Manifest,
} from '../bench/corpus.js';
import { acquireLock, CorpusBusyError } from '../bench/lock.js';
import { resolveAgentNode } from '../bench/agent-node.js';
import { topSelfTime } from '../bench/profile.js';
import { latencyStats, percentile } from '../bench/server-load.js';
import { upgradeCodeFor, writeBenchFleets } from '../bench/deploy.js';
import { loadFleet } from '../fleet/load.js';
import { parseGnuTime } from '../bench/measure.js';
import { Prng } from '../bench/prng.js';
import { combineRounds, formatComparison, formatTable, ratio, toRow, verdicts, type OperationResult } from '../bench/report.js';
import { listFiles, verifyTree } from '../bench/tree.js';
import { runSideBySide, VerificationError } from '../bench/side-by-side.js';
import type { BenchTool, ToolName } from '../bench/tools/tool.js';
import type { ProcessMeasure } from '../bench/measure.js';
import { gzipSync } from 'node:zlib';

const TINY: CorpusParams = { ...QUICK_CORPUS, seed: 'test-seed', files: 120, totalBytes: 2 * 1024 ** 2, maxSize: 256 * 1024 };
const dirs: string[] = [];
const tempDir = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'hf-bench-test-'));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('corpus plan', () => {
  it('is the same for the same seed and differs for another seed', () => {
    expect(planCorpus(TINY)).toEqual(planCorpus(TINY));
    expect(planCorpus({ ...TINY, seed: 'other' })).not.toEqual(planCorpus(TINY));
    const a = new Prng('x');
    const b = new Prng('x');
    expect(Array.from({ length: 5 }, () => a.nextUint32())).toEqual(Array.from({ length: 5 }, () => b.nextUint32()));
  });

  it('matches the issue for the full corpus: 20,000 files, ~1.5 GB, 1 KB-5 MB, ~5% duplicates, nested', () => {
    const plan = planCorpus(FULL_CORPUS);
    expect(plan).toHaveLength(20_000);
    const total = plan.reduce((a, f) => a + f.size, 0);
    expect(Math.abs(total - 1.5 * 1024 ** 3) / (1.5 * 1024 ** 3)).toBeLessThan(0.01);
    expect(Math.min(...plan.map((f) => f.size))).toBeGreaterThanOrEqual(1024);
    expect(Math.max(...plan.map((f) => f.size))).toBeLessThanOrEqual(5 * 1024 ** 2);
    const dups = plan.filter((f) => f.kind === 'duplicate');
    expect(dups.length / plan.length).toBeGreaterThan(0.04);
    expect(dups.length / plan.length).toBeLessThan(0.06);
    for (const d of dups) expect(plan[d.source!].kind).not.toBe('duplicate');
    const text = plan.filter((f) => f.kind === 'text').length;
    expect(text / plan.length).toBeGreaterThan(0.4);
    expect(text / plan.length).toBeLessThan(0.6);
    expect(Math.max(...plan.map((f) => f.path.split('/').length))).toBeGreaterThanOrEqual(4);
    expect(new Set(plan.map((f) => f.path)).size).toBe(plan.length);
    // Log-normal: the median is far below the mean.
    const sorted = plan.map((f) => f.size).sort((a, b) => a - b);
    expect(sorted[sorted.length >> 1]).toBeLessThan(total / plan.length / 2);
  });

  it('gives compressible text, incompressible binary and byte-identical duplicates', () => {
    const plan = planCorpus(TINY);
    const t = plan.findIndex((f) => f.kind === 'text' && f.size > 20_000);
    const b = plan.findIndex((f) => f.kind === 'binary' && f.size > 20_000);
    const d = plan.findIndex((f) => f.kind === 'duplicate');
    const text = fileContent(TINY, plan, t);
    expect(text.length).toBe(plan[t].size);
    expect(gzipSync(text).length).toBeLessThan(text.length / 2);
    const bin = fileContent(TINY, plan, b);
    expect(gzipSync(bin).length).toBeGreaterThan(bin.length * 0.99);
    expect(fileContent(TINY, plan, d).equals(fileContent(TINY, plan, plan[d].source!))).toBe(true);
    expect(fileContent(TINY, plan, t).equals(text)).toBe(true);
  });
});

describe('corpus on disk', () => {
  it("generates once, is reused, and a run's change is reverted exactly", async () => {
    const root = await tempDir();
    const first = await ensureCorpus(root, TINY);
    expect(first.generated).toBe(true);
    const files = await listFiles(first.dir);
    expect(files).toEqual(first.manifest.files.map((f) => f.path).sort());
    const sample = first.manifest.files[7];
    expect(sha256(await readFile(join(first.dir, sample.path)))).toBe(sample.sha256);

    const again = await ensureCorpus(root, TINY);
    expect(again.generated).toBe(false);
    expect(again.manifest).toEqual(first.manifest);

    const { plan, manifest } = await mutateCorpus(again);
    expect(plan.appended.length).toBe(Math.round(TINY.files * 0.01));
    expect(plan.added).toHaveLength(50);
    expect(plan).toEqual(planMutation(TINY, first.manifest.files));
    expect((await verifyTree(again.dir, manifest)).ok).toBe(true);
    expect((await verifyTree(again.dir, first.manifest.files)).ok).toBe(false);

    // The next run (ensureCorpus) reverts the change before it starts.
    const third = await ensureCorpus(root, TINY);
    expect(third.generated).toBe(false);
    expect((await verifyTree(third.dir, first.manifest.files)).ok).toBe(true);
    expect(await revertMutation(third.dir, third.metaDir)).toBe(false);

    // Reverting deletes no file (freshly freed inodes slow file creation on ext4 without a journal): the
    // added files are held beside the corpus, the marker emptied, and both come back with the next change.
    const held = join(third.metaDir, 'added-held');
    expect(await readdir(held)).toHaveLength(50);
    expect((await stat(join(third.metaDir, 'mutation.json'))).size).toBe(0);
    const again2 = await mutateCorpus(third);
    expect(await readdir(held)).toHaveLength(0);
    expect((await verifyTree(third.dir, again2.manifest)).ok).toBe(true);
    await revertMutation(third.dir, third.metaDir);
    expect(await readdir(held)).toHaveLength(50);
    expect((await verifyTree(third.dir, first.manifest.files)).ok).toBe(true);
  });

  it('verification names missing, extra and damaged files', async () => {
    const root = await tempDir();
    const c = await ensureCorpus(root, { ...TINY, files: 30, totalBytes: 300_000 });
    const [a, b] = c.manifest.files;
    await appendFile(join(c.dir, a.path), 'x');
    await rm(join(c.dir, b.path));
    await writeFile(join(c.dir, 'stray.txt'), 'stray');
    const v = await verifyTree(c.dir, c.manifest.files);
    expect(v.ok).toBe(false);
    expect(v.different).toEqual([a.path]);
    expect(v.missing).toEqual([b.path]);
    expect(v.extra).toEqual(['stray.txt']);
  });
});

describe('server-load and deploy helpers', () => {
  it('computes nearest-rank percentiles', () => {
    const ms = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
    expect(latencyStats(ms)).toEqual({ count: 100, p50_ms: 50, p99_ms: 99, max_ms: 100 });
    expect(percentile([], 50)).toBe(0);
    expect(percentile([7], 99)).toBe(7);
  });

  it('derives valid, distinct fleet files from the demo fleet', async () => {
    const dir = await tempDir();
    const files = await writeBenchFleets(dir, 3);
    const fleets = await Promise.all(files.map((f) => loadFleet(f)));
    expect(fleets.map((f) => f.fleet.fleet)).toEqual(['bench-01', 'bench-02', 'bench-03']);
    expect(new Set(fleets.map((f) => f.fleet.branding.upgradeCode)).size).toBe(3);
    expect(upgradeCodeFor(2)).toBe(fleets[1].fleet.branding.upgradeCode);
  });
});

describe('CPU profile summary', () => {
  it('adds self time per function and sorts it', () => {
    const frame = (functionName: string, line: number) => ({ functionName, url: 'file:///x/holdfast-agent.mjs', lineNumber: line });
    const profile = {
      nodes: [
        { id: 1, callFrame: frame('seal', 9) },
        { id: 2, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
      ],
      samples: [1, 2, 1, 1],
      timeDeltas: [1000, 4000, 2000, 3000],
    };
    const { totalMs, lines } = topSelfTime(profile, 5);
    expect(totalMs).toBe(10);
    expect(lines).toEqual([
      { name: 'seal holdfast-agent.mjs:10', ms: 6, share: 0.6 },
      { name: '(idle)', ms: 4, share: 0.4 },
    ]);
  });
});

describe('agent runtime', () => {
  it("'this' is the bench's own Node; a path that does not exist is refused with the allowed values", async () => {
    const own = await resolveAgentNode('this');
    expect(own).toEqual({ path: process.execPath, version: process.version, label: "the bench's own Node" });
    await expect(resolveAgentNode('/no/such/node')).rejects.toThrow(
      /--agent-node: \/no\/such\/node does not exist \(allowed: endpoint, this, or a path to a node binary\)/,
    );
  });

  it("'endpoint' is the Node 22 release the installers ship", async () => {
    const endpoint = await resolveAgentNode('endpoint');
    expect(endpoint.version).toBe('v22.23.3');
    expect(endpoint.label).toBe("the installers' runtime");
  });
});

describe('corpus lock', () => {
  it('lets one run at a time use a corpus and takes over a lock left by a dead process', async () => {
    const lock = join(await tempDir(), 'c.lock');
    const release = await acquireLock(lock);
    await expect(acquireLock(lock)).rejects.toThrow(CorpusBusyError);
    await release();
    await (await acquireLock(lock))();
    await writeFile(lock, String(2 ** 22 + 12345)); // above Linux's pid_max: no such process
    const again = await acquireLock(lock);
    expect(await readFile(lock, 'utf8')).toBe(String(process.pid));
    await again();
  });
});

describe('report', () => {
  const m = (wallS: number, cpuS = 1, peakRssMiB = 50) => ({ wallS, userS: cpuS, sysS: 0, cpuS, peakRssMiB });
  const results: OperationResult[] = [
    {
      operation: 'initial',
      holdfast: { ...m(10), repoBytes: 100 * 1024 ** 2, sidecar: { cpuS: 2, peakRssMiB: 80 } },
      restic: { ...m(25), repoBytes: 120 * 1024 ** 2 },
    },
    { operation: 'no-change', holdfast: m(1), restic: m(2) },
    { operation: 'plus-1pct', holdfast: m(1, 1, 250), restic: m(4) },
    { operation: 'restore', holdfast: m(3), restic: m(0) },
  ];

  it('computes Holdfast/restic ratios and checks each against its target', () => {
    expect(ratio(10, 25)).toBe(0.4);
    expect(ratio(1, 3)).toBe(0.333);
    expect(ratio(1, 0)).toBeNull();
    const rows = results.map(toRow);
    expect(rows.map((r) => r.ratio)).toEqual([0.4, 0.5, 0.25, null]);
    expect(rows.map((r) => r.met)).toEqual([true, false, true, false]);
    const v = verdicts(rows);
    expect(v.at(-1)).toMatchObject({ name: 'agent peak RSS', met: false, value: '250.0 MiB' });
  });

  it('writes JSON rows with the fields the issue names', () => {
    const row = JSON.parse(JSON.stringify(toRow(results[0])));
    expect(row).toMatchObject({
      operation: 'initial',
      holdfast_s: 10,
      restic_s: 25,
      ratio: 0.4,
      cpu_ratio: 1,
      holdfast_rss_mib: 50,
      server_cpu_s: 2,
      server_rss_mib: 80,
      holdfast_repo_mib: 100,
      restic_repo_mib: 120,
    });
    expect(toRow(results[1]).server_cpu_s).toBeNull();
  });

  it('prints an aligned table', () => {
    const t = formatTable(
      ['name', 'n'],
      [
        ['a', 1.5],
        ['long name', null],
      ],
    ).split('\n');
    expect(t).toEqual(['name         n', '---------  ---', 'a          1.5', 'long name    -']);
    const table = formatComparison(results.map(toRow));
    expect(table).toContain('initial backup');
    expect(table.split('\n')[2]).toMatch(/^initial backup\s+10\.00\s+25\.00\s+0\.40\s+<= 0\.5\s+yes/);
  });

  it('combines rounds: median times and sizes, worst peak RSS', () => {
    const other = results.map((r) => ({ ...r, holdfast: { ...r.holdfast, wallS: r.holdfast.wallS * 3, peakRssMiB: 10 } }));
    const third = results.map((r) => ({ ...r, holdfast: { ...r.holdfast, wallS: r.holdfast.wallS * 2, peakRssMiB: 70 } }));
    const c = combineRounds([results, other, third]);
    expect(c.map((r) => r.holdfast.wallS)).toEqual([20, 2, 2, 6]);
    expect(c.map((r) => r.holdfast.peakRssMiB)).toEqual([70, 70, 250, 70]);
    expect(c[0].holdfast.repoBytes).toBe(100 * 1024 ** 2);
    expect(combineRounds([results])).toBe(results);
  });

  it('parses GNU time output', () => {
    expect(parseGnuTime('Command exited with non-zero status 1\n1.50 0.70 0.20 204800\n')).toEqual({
      userS: 0.7,
      sysS: 0.2,
      cpuS: 0.7 + 0.2,
      peakRssMiB: 200,
    });
    expect(() => parseGnuTime('garbage')).toThrow(/unexpected GNU time output/);
  });
});

/**
 * Stand-in for a measured backup tool (not Holdfast, not restic): a "backup" copies the corpus into its
 * repository folder, a "restore" copies the latest copy back. What the harness does around the tools —
 * order, verification, clean-up — is what these tests check; the real tools run in `npm run bench`.
 */
class CopyTool implements BenchTool {
  readonly build = 'copy-tool';
  closed = false;
  private copies = 0;
  constructor(
    readonly name: ToolName,
    private readonly source: string,
    private readonly repo: string,
    private readonly calls: string[],
    private readonly behaviour: { restore?: 'throws' | 'damages' } = {},
  ) {}
  async setup(): Promise<void> {
    await mkdir(this.repo, { recursive: true });
  }
  async backup(): Promise<ProcessMeasure> {
    this.calls.push(`${this.name} backup`);
    await cp(this.source, join(this.repo, `copy-${++this.copies}`), { recursive: true });
    return measured(1);
  }
  async restore(target: string): Promise<ProcessMeasure> {
    this.calls.push(`${this.name} restore`);
    if (this.behaviour.restore === 'throws') throw new Error(`${this.name} restore exited with code 1`);
    await cp(join(this.repo, `copy-${this.copies}`), this.restoredRoot(target), { recursive: true });
    if (this.behaviour.restore === 'damages') {
      const victim = (await listFiles(this.restoredRoot(target)))[0];
      await appendFile(join(this.restoredRoot(target), victim), 'x');
    }
    return measured(2);
  }
  restoredRoot(target: string): string {
    return join(target, 'data');
  }
  async repositoryBytes(): Promise<number> {
    return this.copies;
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}
const measured = (s: number): ProcessMeasure => ({ wallS: s, userS: s / 2, sysS: s / 2, cpuS: s, peakRssMiB: 10 });

describe('side-by-side run (stand-in tools)', () => {
  const SMALL: CorpusParams = { ...TINY, seed: 'side-by-side', files: 60, totalBytes: 600_000 };
  const setUp = async (restic: { restore?: 'throws' | 'damages' } = {}, holdfast: { restore?: 'throws' | 'damages' } = {}) => {
    const outDir = await tempDir();
    const calls: string[] = [];
    const tools: CopyTool[] = [];
    const makeTools = (source: string, runDir: string) => {
      const h = new CopyTool('holdfast', source, join(runDir, 'holdfast'), calls, holdfast);
      const r = new CopyTool('restic', source, join(runDir, 'restic'), calls, restic);
      tools.push(h, r);
      return { holdfast: h, restic: r };
    };
    return { outDir, calls, tools, makeTools };
  };
  // The corpus as generated (not through ensureCorpus, which would revert a change the run left behind).
  const pristine = async (outDir: string) => {
    const metaDir = join(outDir, 'corpus', corpusKey(SMALL));
    const manifest = JSON.parse(await readFile(join(metaDir, 'manifest.json'), 'utf8')) as Manifest;
    return (await verifyTree(join(metaDir, 'data'), manifest.files)).ok;
  };

  it('alternates who goes first, verifies both restores and hands the trees to the caller', async () => {
    const { outDir, calls, tools, makeTools } = await setUp();
    const res = await runSideBySide({ quick: true, outDir, round: 2, corpusParams: SMALL, makeTools });
    expect(res.results.map((r) => r.operation)).toEqual(['initial', 'no-change', 'plus-1pct', 'restore']);
    expect(calls).toEqual([...Array(3).fill(['restic backup', 'holdfast backup']).flat(), 'restic restore', 'holdfast restore']);
    expect(res.verification.holdfast).toMatch(/^verified 110 files/);
    expect(res.verification.restic).toMatch(/^verified 110 files/);
    expect(res.results[0].holdfast.repoBytes).toBe(1);
    expect(res.rows[3].ratio).toBe(1);
    expect(tools.every((t) => t.closed)).toBe(true);
    // Trees and repositories stay until the caller deletes them after the last round.
    expect(res.leftovers).toHaveLength(4);
    for (const dir of res.leftovers) expect(existsSync(dir)).toBe(true);
    expect(await pristine(outDir)).toBe(true);
  });

  it('a tool that fails mid-run leaves no restored tree or repository behind, and the corpus reverted', async () => {
    const { outDir, calls, tools, makeTools } = await setUp({ restore: 'throws' });
    await expect(runSideBySide({ quick: true, outDir, round: 1, corpusParams: SMALL, makeTools })).rejects.toThrow('restic restore exited with code 1');
    expect(calls.slice(-2)).toEqual(['holdfast restore', 'restic restore']);
    const runDir = join(outDir, 'runs', (await readdir(join(outDir, 'runs')))[0]);
    expect((await readdir(runDir)).sort()).toEqual(['logs']);
    expect(tools.every((t) => t.closed)).toBe(true);
    expect(await pristine(outDir)).toBe(true);
  });

  it('a restore that differs from the source fails the run with the measurements attached', async () => {
    const { outDir, makeTools } = await setUp({}, { restore: 'damages' });
    const err = await runSideBySide({ quick: true, outDir, round: 1, corpusParams: SMALL, makeTools }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VerificationError);
    const result = (err as VerificationError).result;
    expect(result.verification.holdfast).toMatch(/^restore differs from the source: 1 different/);
    expect(result.verification.restic).toMatch(/^verified/);
    expect(result.results.map((r) => r.operation)).toContain('restore');
    expect(await pristine(outDir)).toBe(true);
  });
});
