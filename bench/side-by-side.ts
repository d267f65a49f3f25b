// The side-by-side run: one corpus, Holdfast and restic alternating per operation (who goes first alternates by round),
// each operation one whole measured process, every restore verified file by file.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { summarizeProfiles } from './profile.js';
import { join, resolve } from 'node:path';
import { acquireLock } from './lock.js';
import { corpusKey, ensureCorpus, FULL_CORPUS, mutateCorpus, QUICK_CORPUS, revertMutation, type Corpus, type CorpusParams } from './corpus.js';
import { resetPeakRss, sampleProcess } from './measure.js';
import { toRow, verdicts, type OperationId, type OperationResult, type ReportRow, type ToolRun, type Verdict } from './report.js';
import type { BenchTool } from './tools/tool.js';
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
  /** Builds the two tools for a run folder; the CLI passes the real Holdfast and restic. */
  makeTools: (source: string, runDir: string) => { holdfast: BenchTool; restic: BenchTool };
  progress?: (msg: string) => void;
  corpusParams?: CorpusParams;
}

export interface SideBySideResult {
  corpus: { dir: string; files: number; bytes: number; generated: boolean; generateSeconds: number; params: CorpusParams };
  runDir: string;
  results: OperationResult[];
  rows: ReportRow[];
  verdicts: Verdict[];
  verification: Record<'holdfast' | 'restic', string>;
  builds: Record<'holdfast' | 'restic', string>;
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
  const params = opts.corpusParams ?? (opts.quick ? QUICK_CORPUS : FULL_CORPUS);
  say(`corpus: ${params.files} files, ~${(params.totalBytes / 1024 ** 2).toFixed(0)} MiB (seed ${params.seed})`);
  const outDir = resolve(opts.outDir);
  await mkdir(join(outDir, 'corpus'), { recursive: true });
  const release = await acquireLock(join(outDir, 'corpus', `${corpusKey(params)}.lock`));
  try {
    return await runLocked(opts, params, outDir, say);
  } finally {
    await release();
  }
}

async function runLocked(opts: SideBySideOptions, params: CorpusParams, outDir: string, say: (msg: string) => void): Promise<SideBySideResult> {
  const corpus = await ensureCorpus(join(outDir, 'corpus'), params, say);
  say(corpus.generated ? `corpus: generated in ${corpus.generateSeconds.toFixed(1)} s` : `corpus: reusing ${corpus.dir}`);

  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const runDir = join(outDir, 'runs', stamp);
  const logDir = join(runDir, 'logs');
  await mkdir(logDir, { recursive: true });
  const tools = opts.makeTools(corpus.dir, runDir);
  const restoreDirs = { holdfast: join(runDir, 'restore-holdfast'), restic: join(runDir, 'restore-restic') };
  const leftovers = [...Object.values(restoreDirs), join(runDir, 'holdfast'), join(runDir, 'restic')];
  // Whoever goes second meets a page cache and file system the first one just used; alternating by round
  // spreads that over both tools.
  const order: BenchTool[] = (opts.round ?? 1) % 2 === 1 ? [tools.holdfast, tools.restic] : [tools.restic, tools.holdfast];
  const results: OperationResult[] = [];
  const verification = { holdfast: 'not run', restic: 'not run' };
  let verifyFailed = '';
  try {
    for (const t of order) {
      say(`${t.name}: setting up`);
      await t.setup();
    }
    say('warming the page cache with one read of the corpus (both tools then start warm)');
    await warmTree(corpus.dir);

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
    const backupOp = async (op: OperationId): Promise<void> => {
      const r: Partial<Record<'holdfast' | 'restic', ToolRun>> = {};
      for (const t of order) {
        r[t.name] = await timed(op, t, async () => {
          const m: ToolRun = await t.backup(join(logDir, `${op}-${t.name}.log`));
          m.repoBytes = await t.repositoryBytes();
          return m;
        });
      }
      results.push({ operation: op, holdfast: r.holdfast!, restic: r.restic! });
    };

    await backupOp('initial');
    await backupOp('no-change');
    say('changing the corpus: appending 4 KiB to 1% of the files and adding 50 files');
    const { manifest } = await mutateCorpus(corpus);
    await backupOp('plus-1pct');

    const r: Partial<Record<'holdfast' | 'restic', ToolRun>> = {};
    for (const t of order) {
      const target = restoreDirs[t.name];
      await rm(target, { recursive: true, force: true });
      await mkdir(target, { recursive: true });
      r[t.name] = await timed('restore', t, () => t.restore(target, join(logDir, `restore-${t.name}.log`)));
      const v = await verifyTree(t.restoredRoot(target), manifest);
      verification[t.name] = describeVerify(v);
      say(`restore: ${t.name} ${verification[t.name]}`);
      if (!v.ok) verifyFailed += `${t.name}: ${verification[t.name]}\n`;
    }
    results.push({ operation: 'restore', holdfast: r.holdfast!, restic: r.restic! });
  } catch (err) {
    // A failed run hands nothing to the caller: delete its trees and repositories here (1.5 GiB each).
    for (const t of order) await t.close().catch(() => undefined);
    if (!opts.keep) for (const dir of leftovers) await rm(dir, { recursive: true, force: true });
    throw err;
  } finally {
    for (const t of order) await t.close().catch(() => undefined);
    await revertMutation(corpus.dir, corpus.metaDir);
  }
  if (opts.profiled) await writeFile(join(logDir, 'profile-summary.txt'), await summarizeProfiles(join(logDir, 'profiles')));
  const rows = results.map(toRow);
  const result: SideBySideResult = {
    corpus: summary(corpus),
    runDir,
    results,
    rows,
    verdicts: verdicts(rows),
    verification,
    profiled: !!opts.profiled,
    leftovers: opts.keep ? [] : leftovers,
    builds: { holdfast: tools.holdfast.build ?? 'unknown', restic: tools.restic.build ?? 'unknown' },
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
