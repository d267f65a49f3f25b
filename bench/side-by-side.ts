// The side-by-side run: one corpus, Holdfast and restic alternating per operation (who goes first alternates by round),
// each operation one whole measured process, every restore verified file by file.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { summarizeProfiles } from './profile.js';
import { join, resolve } from 'node:path';
import { acquireLock } from './lock.js';
import { corpusKey, ensureCorpus, FULL_CORPUS, mutateCorpus, QUICK_CORPUS, revertMutation, type Corpus, type CorpusParams } from './corpus.js';
import { resetPeakRss, sampleProcess } from './measure.js';
import { toRow, verdicts, type OperationId, type OperationResult, type ReportRow, type ToolRun, type Verdict } from './report.js';
import type { BenchTool, ToolName } from './tools/tool.js';
import { changeBigFile, ensureBigFile, manifestOf, revertBigChange } from './scenarios.js';
import type { ManifestEntry } from './corpus.js';
import { describeVerify, verifyTree, warmTree } from './tree.js';
import { flushDirtyPages } from './machine.js';

export interface SideBySideOptions {
  quick: boolean;
  /** bench-out/: the corpus cache and the per-run work folders live here. */
  outDir: string;
  /** Keep repositories and restored trees after the run (logs are always kept). */
  keep?: boolean;
  /** The tools write V8 CPU profiles into the logs folder; summarise them at the end. */
  profiled?: boolean;
  /** Round number (1-based): odd rounds run Holdfast first in every operation, even rounds restic first. */
  round?: number;
  /** Builds the tools for a run folder; the CLI passes the real Holdfast, restic and borg (borg optional). */
  makeTools: (source: string, runDir: string) => { holdfast: BenchTool; restic: BenchTool; borg?: BenchTool };
  progress?: (msg: string) => void;
  corpusParams?: CorpusParams;
  /** Instead of the seeded corpus: any folder, used read-only (the +1% step is skipped). */
  folder?: string;
  /** Instead of the seeded corpus: one 1 GiB incompressible file (initial, 10 MiB changed in the middle, restore). */
  bigFile?: boolean;
}

/** What a run backs up, the backups it takes (a change before some of them) and how it restores. */
interface Scenario {
  source: string;
  describe: string;
  summary: SideBySideResult['corpus'];
  backups: Array<{ op: OperationId; change?: () => Promise<ManifestEntry[]>; changeNote?: string }>;
  restoreOp: OperationId;
  manifest: ManifestEntry[];
  revert(): Promise<void>;
  notes: string[];
}

export interface SideBySideResult {
  corpus: { dir: string; files: number; bytes: number; generated: boolean; generateSeconds: number; params: CorpusParams };
  runDir: string;
  results: OperationResult[];
  rows: ReportRow[];
  verdicts: Verdict[];
  verification: Partial<Record<ToolName, string>> & Record<'holdfast' | 'restic', string>;
  builds: Partial<Record<ToolName, string>> & Record<'holdfast' | 'restic', string>;
  /** What the run left out and why (e.g. the +1% step on a folder used read-only). */
  notes: string[];
  /** CPU profiles were written; their summary is logs/profile-summary.txt. */
  profiled: boolean;
  /**
   * Restored trees and repositories, left for the caller to delete after the last round (none with `keep`).
   * On ext4 without a journal (this machine) a new inode is checked against every inode freed in the last
   * 60-300 s, so creating files after a deletion costs more system time, the more was deleted: a restore
   * after the previous round's repositories (~1,000 files) were deleted took up to twice the CPU, after a
   * 20,000-file tree up to 5 times the system time.
   */
  leftovers: string[];
}

/** A restore did not reproduce the source; the run's measurements are still attached. */
export class VerificationError extends Error {
  constructor(
    message: string,
    readonly result: SideBySideResult,
  ) {
    super(message);
    this.name = 'VerificationError';
  }
}

export async function runSideBySide(opts: SideBySideOptions): Promise<SideBySideResult> {
  const say = opts.progress ?? (() => {});
  const outDir = resolve(opts.outDir);
  await mkdir(join(outDir, 'corpus'), { recursive: true });
  if (opts.folder) {
    const folder = resolve(opts.folder);
    say(`corpus: ${folder} (read-only: hashing every file for the restore check)`);
    const manifest = await manifestOf(folder);
    const bytes = manifest.reduce((n, f) => n + f.size, 0);
    return runScenario(opts, outDir, say, {
      source: folder,
      describe: `folder ${folder}: ${manifest.length} files, ${(bytes / 1024 ** 2).toFixed(0)} MiB`,
      summary: { dir: folder, files: manifest.length, bytes, generated: false, generateSeconds: 0, params: { ...FULL_CORPUS, seed: 'none (--corpus)' } },
      backups: [{ op: 'initial' }, { op: 'no-change' }],
      restoreOp: 'restore',
      manifest,
      revert: async () => {},
      notes: ['incremental +1% skipped: --corpus folders are used read-only'],
    });
  }
  if (opts.bigFile) {
    const release = await acquireLock(join(outDir, 'corpus', 'big-file.lock'));
    try {
      const big = await ensureBigFile(join(outDir, 'corpus'), say);
      return await runScenario(opts, outDir, say, {
        source: big.dir,
        describe: 'one 1 GiB incompressible file; 10 MiB rewritten in its middle before the second backup',
        summary: {
          dir: big.dir,
          files: 1,
          bytes: big.manifest[0].size,
          generated: false,
          generateSeconds: 0,
          params: { ...FULL_CORPUS, files: 1, seed: 'big-file' },
        },
        backups: [
          { op: 'big-initial' },
          { op: 'big-changed', change: () => changeBigFile(big), changeNote: 'changing the big file: 10 MiB rewritten in its middle' },
        ],
        restoreOp: 'big-restore',
        manifest: big.manifest,
        revert: () => revertBigChange(big.metaDir),
        notes: [],
      });
    } finally {
      await release();
    }
  }
  const params = opts.corpusParams ?? (opts.quick ? QUICK_CORPUS : FULL_CORPUS);
  say(`corpus: ${params.files} files, ~${(params.totalBytes / 1024 ** 2).toFixed(0)} MiB (seed ${params.seed})`);
  const release = await acquireLock(join(outDir, 'corpus', `${corpusKey(params)}.lock`));
  try {
    const corpus = await ensureCorpus(join(outDir, 'corpus'), params, say);
    say(corpus.generated ? `corpus: generated in ${corpus.generateSeconds.toFixed(1)} s` : `corpus: reusing ${corpus.dir}`);
    return await runScenario(opts, outDir, say, {
      source: corpus.dir,
      describe: 'seeded corpus',
      summary: summary(corpus),
      backups: [
        { op: 'initial' },
        { op: 'no-change' },
        {
          op: 'plus-1pct',
          change: async () => (await mutateCorpus(corpus)).manifest,
          changeNote: 'changing the corpus: appending 4 KiB to 1% of the files and adding 50 files',
        },
      ],
      restoreOp: 'restore',
      manifest: corpus.manifest.files,
      revert: async () => {
        await revertMutation(corpus.dir, corpus.metaDir);
      },
      notes: [],
    });
  } finally {
    await release();
  }
}

async function runScenario(opts: SideBySideOptions, outDir: string, say: (msg: string) => void, sc: Scenario): Promise<SideBySideResult> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const runDir = join(outDir, 'runs', stamp);
  const logDir = join(runDir, 'logs');
  await mkdir(logDir, { recursive: true });
  const made = opts.makeTools(sc.source, runDir);
  const all: BenchTool[] = [made.holdfast, made.restic, ...(made.borg ? [made.borg] : [])];
  const restoreDirs = Object.fromEntries(all.map((t) => [t.name, join(runDir, `restore-${t.name}`)])) as Record<ToolName, string>;
  const leftovers = [...all.map((t) => restoreDirs[t.name]), ...all.map((t) => join(runDir, t.name))];
  // Whoever goes first meets a page cache and file system nobody else just used; who does rotates by round.
  const shift = ((opts.round ?? 1) - 1) % all.length;
  const order: BenchTool[] = [...all.slice(shift), ...all.slice(0, shift)];
  const results: OperationResult[] = [];
  const verification: Record<string, string> = Object.fromEntries(all.map((t) => [t.name, 'not run']));
  let verifyFailed = '';
  let manifest = sc.manifest;
  try {
    for (const t of order) {
      say(`${t.name}: setting up`);
      await t.setup();
    }
    say('warming the page cache with one read of the corpus (every tool then starts warm)');
    await warmTree(sc.source);

    const timed = async (op: OperationId, t: BenchTool, fn: () => Promise<ToolRun>): Promise<ToolRun> => {
      // Dirty pages of the previous operations (a 1.5 GiB restored tree, repositories) written back first, so
      // no tool pays for another's writeback: under it, a restore's system time doubled (both tools).
      await flushDirtyPages();
      say(`${op}: ${t.name} ...`);
      const pid = t.sidecarPid;
      if (pid) await resetPeakRss(pid);
      const before = pid ? await sampleProcess(pid) : undefined;
      const run = await fn();
      if (pid && before) {
        const after = await sampleProcess(pid);
        run.sidecar = { cpuS: after.cpuS - before.cpuS, peakRssMiB: after.peakRssMiB };
      }
      say(`${op}: ${t.name} ${run.wallS.toFixed(2)} s wall, ${run.cpuS.toFixed(2)} s CPU, ${run.peakRssMiB.toFixed(0)} MiB peak RSS`);
      return run;
    };
    const record = (op: OperationId, r: Partial<Record<ToolName, ToolRun>>): void => {
      results.push({ operation: op, holdfast: r.holdfast!, restic: r.restic!, ...(r.borg && { borg: r.borg }) });
    };

    for (const step of sc.backups) {
      if (step.change) {
        say(step.changeNote ?? `changing the corpus before ${step.op}`);
        manifest = await step.change();
      }
      const r: Partial<Record<ToolName, ToolRun>> = {};
      for (const t of order) {
        r[t.name] = await timed(step.op, t, async () => {
          const m: ToolRun = await t.backup(join(logDir, `${step.op}-${t.name}.log`));
          m.repoBytes = await t.repositoryBytes();
          return m;
        });
      }
      record(step.op, r);
    }

    const r: Partial<Record<ToolName, ToolRun>> = {};
    for (const t of order) {
      const target = restoreDirs[t.name];
      await rm(target, { recursive: true, force: true });
      await mkdir(target, { recursive: true });
      r[t.name] = await timed(sc.restoreOp, t, () => t.restore(target, join(logDir, `restore-${t.name}.log`)));
      const v = await verifyTree(t.restoredRoot(target), manifest);
      verification[t.name] = describeVerify(v);
      say(`restore: ${t.name} ${verification[t.name]}`);
      if (!v.ok) verifyFailed += `${t.name}: ${verification[t.name]}\n`;
    }
    record(sc.restoreOp, r);
  } catch (err) {
    // A failed run hands nothing to the caller: delete its trees and repositories here (1.5 GiB each).
    for (const t of order) await t.close().catch(() => undefined);
    if (!opts.keep) for (const dir of leftovers) await rm(dir, { recursive: true, force: true });
    throw err;
  } finally {
    for (const t of order) await t.close().catch(() => undefined);
    await sc.revert();
  }
  if (opts.profiled) await writeFile(join(logDir, 'profile-summary.txt'), await summarizeProfiles(join(logDir, 'profiles')));
  const rows = results.map(toRow);
  const result: SideBySideResult = {
    corpus: sc.summary,
    runDir,
    results,
    rows,
    verdicts: verdicts(rows),
    verification: verification as SideBySideResult['verification'],
    profiled: !!opts.profiled,
    leftovers: opts.keep ? [] : leftovers,
    builds: Object.fromEntries(all.map((t) => [t.name, t.build ?? 'unknown'])) as SideBySideResult['builds'],
    notes: sc.notes,
  };
  if (verifyFailed) throw new VerificationError(`restore verification failed:\n${verifyFailed}`, result);
  return result;
}

function summary(c: Corpus): SideBySideResult['corpus'] {
  return {
    dir: c.dir,
    files: c.manifest.files.length,
    bytes: c.manifest.totalBytes,
    generated: c.generated,
    generateSeconds: c.generateSeconds,
    params: c.params,
  };
}
