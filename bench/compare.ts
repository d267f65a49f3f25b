// Holdfast vs restic over one or more rounds, and the printed report: what `npm run bench` shows.
import { loadavg } from 'node:os';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cpuPressure, type MachineInfo } from './machine.js';
import { combineRounds, formatComparison, formatVerdicts, toRow, verdicts, type ReportRow, type Verdict } from './report.js';
import { runSideBySide, VerificationError, type SideBySideResult } from './side-by-side.js';
import { HoldfastTool } from './tools/holdfast.js';
import type { AgentNode } from './agent-node.js';
import { ResticTool } from './tools/restic.js';
import { BorgTool } from './tools/borg.js';

export interface CompareOptions {
  quick: boolean;
  outDir: string;
  rounds: number;
  keep?: boolean;
  cpuProfile?: boolean;
  /** The Node that runs the agent (default: the bench's own). */
  agentNode?: AgentNode;
  progress?: (msg: string) => void;
  /** Instead of the seeded corpus: this folder, read-only. */
  folder?: string;
  /** Also run the 1 GiB file case (default true). */
  bigFile?: boolean;
  /** Run borg as the second peer (default true). */
  borg?: boolean;
}

export interface CompareResult {
  rounds: SideBySideResult[];
  /** Medians over the rounds (peak RSS: the maximum). */
  rows: ReportRow[];
  verdicts: Verdict[];
  /** Restore verification failures, one message per failed round (empty when every restore matched). */
  failures: string[];
  loadAtEnd: number;
  cpuPressureAtEnd: number | null;
  /** The agent's Node version. */
  agentNode?: string;
  /** Rounds of each case (`rounds` holds every case's). */
  roundsPerCase: number;
}

export async function runComparison(opts: CompareOptions): Promise<CompareResult> {
  const say = opts.progress ?? (() => {});
  const failures: string[] = [];
  // One list of rounds per case (the corpus or folder; the big file), each round running every case once.
  const cases = [{ bigFile: false }, ...(opts.bigFile === false ? [] : [{ bigFile: true }])];
  const perCase: SideBySideResult[][] = cases.map(() => []);
  try {
    for (let round = 1; round <= opts.rounds; round++) {
      if (opts.rounds > 1) say(`round ${round} of ${opts.rounds}`);
      for (const [i, c] of cases.entries()) {
        try {
          perCase[i].push(
            await runSideBySide({
              quick: opts.quick,
              outDir: opts.outDir,
              keep: opts.keep,
              round,
              profiled: opts.cpuProfile,
              progress: say,
              folder: c.bigFile ? undefined : opts.folder,
              bigFile: c.bigFile,
              makeTools: (source, runDir) => ({
                holdfast: new HoldfastTool(source, join(runDir, 'holdfast'), join(runDir, 'logs'), { cpuProfile: opts.cpuProfile, agentNode: opts.agentNode }),
                restic: new ResticTool(source, join(runDir, 'restic')),
                ...(opts.borg !== false && { borg: new BorgTool(source, join(runDir, 'borg')) }),
              }),
            }),
          );
        } catch (err) {
          if (!(err instanceof VerificationError)) throw err;
          perCase[i].push(err.result);
          failures.push(err.message);
          say(err.message);
        }
      }
    }
  } finally {
    // Deleted only now, so no restore ran right after a deletion (see SideBySideResult.leftovers).
    for (const r of perCase.flat()) for (const dir of r.leftovers) await rm(dir, { recursive: true, force: true });
  }
  const rounds = perCase.flat();
  const rows = perCase.filter((c) => c.length > 0).flatMap((c) => combineRounds(c.map((r) => r.results)).map(toRow));
  return {
    rounds,
    rows,
    verdicts: verdicts(rows),
    failures,
    loadAtEnd: loadavg()[0],
    cpuPressureAtEnd: await cpuPressure(),
    agentNode: opts.agentNode?.version,
    roundsPerCase: opts.rounds,
  };
}

const pct = (x: number | null): string => (x === null ? 'n/a' : `${x.toFixed(0)}%`);

export function formatCompareReport(machine: MachineInfo, r: CompareResult): string {
  const last = r.rounds[r.rounds.length - 1];

  const busy = Math.max(machine.load1, r.loadAtEnd) > machine.cpus / 2;
  return [
    '',
    `Holdfast vs restic and borg — ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memGiB} GiB RAM, node ${machine.nodeVersion}, ` +
      `${last.builds.restic}, Holdfast ${last.builds.holdfast}`,
    `load average (1 min) ${machine.load1.toFixed(1)} at start, ${r.loadAtEnd.toFixed(1)} at end; CPU pressure (PSI some, 60 s) ` +
      `${pct(machine.cpuPressure60)} at start, ${pct(r.cpuPressureAtEnd)} at end` +
      (busy ? ' — the machine was busy: wall times are noisy, CPU times steadier' : ''),
    `agent on Node ${r.agentNode ?? process.version}; peers: ${Object.entries(last.builds)
      .filter(([k]) => k !== 'holdfast')
      .map(([, v]) => v)
      .join(', ')}`,
    ...r.rounds
      .map((x) => `case: ${x.corpus.files} files, ${(x.corpus.bytes / 1024 ** 2).toFixed(0)} MiB, ${x.corpus.dir}; page cache warm for every tool`)
      .filter((line, i, all) => all.indexOf(line) === i),
    ...[...new Map(r.rounds.map((x) => [x.corpus.dir, x])).values()].map(
      (x) =>
        `restore (last round, ${x.corpus.files} files): ${Object.entries(x.verification)
          .map(([k, v]) => `${k} ${v}`)
          .join('; ')}`,
    ),
    ...[...new Set(r.rounds.flatMap((x) => x.notes))].map((n) => `note: ${n}`),
    r.roundsPerCase > 1
      ? `${r.roundsPerCase} rounds: times and sizes are medians, peak RSS the maximum`
      : 'one round (use --rounds 3 for medians on a busy machine)',
    '',
    formatComparison(r.rows),
    '',
    formatVerdicts(r.verdicts),
    ...(r.failures.length ? ['', ...r.failures] : []),
    '',
    `logs${r.rounds.some((x) => x.profiled) ? ' and CPU profiles (summaries: profile-summary.txt there)' : ''}: ` +
      `${r.rounds.map((x) => join(x.runDir, 'logs')).join(' ')}`,
    '',
  ].join('\n');
}
