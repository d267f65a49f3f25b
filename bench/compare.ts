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

export interface CompareOptions {
  quick: boolean;
  outDir: string;
  rounds: number;
  keep?: boolean;
  cpuProfile?: boolean;
  /** The Node that runs the agent (default: the bench's own). */
  agentNode?: AgentNode;
  progress?: (msg: string) => void;
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
}

export async function runComparison(opts: CompareOptions): Promise<CompareResult> {
  const say = opts.progress ?? (() => {});
  const rounds: SideBySideResult[] = [];
  const failures: string[] = [];
  try {
    for (let round = 1; round <= opts.rounds; round++) {
      if (opts.rounds > 1) say(`round ${round} of ${opts.rounds}`);
      try {
        rounds.push(
          await runSideBySide({
            quick: opts.quick,
            outDir: opts.outDir,
            keep: opts.keep,
            round,
            profiled: opts.cpuProfile,
            progress: say,
            makeTools: (source, runDir) => ({
              holdfast: new HoldfastTool(source, join(runDir, 'holdfast'), join(runDir, 'logs'), { cpuProfile: opts.cpuProfile, agentNode: opts.agentNode }),
              restic: new ResticTool(source, join(runDir, 'restic')),
            }),
          }),
        );
      } catch (err) {
        if (!(err instanceof VerificationError)) throw err;
        rounds.push(err.result);
        failures.push(err.message);
        say(err.message);
      }
    }
  } finally {
    // Deleted only now, so no restore ran right after a deletion (see SideBySideResult.leftovers).
    for (const r of rounds) for (const dir of r.leftovers) await rm(dir, { recursive: true, force: true });
  }
  const rows = combineRounds(rounds.map((r) => r.results)).map(toRow);
  return { rounds, rows, verdicts: verdicts(rows), failures, loadAtEnd: loadavg()[0], cpuPressureAtEnd: await cpuPressure() };
}

const pct = (x: number | null): string => (x === null ? 'n/a' : `${x.toFixed(0)}%`);

export function formatCompareReport(machine: MachineInfo, r: CompareResult): string {
  const last = r.rounds[r.rounds.length - 1];
  const c = last.corpus;
  const busy = Math.max(machine.load1, r.loadAtEnd) > machine.cpus / 2;
  return [
    '',
    `Holdfast vs restic — ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memGiB} GiB RAM, node ${machine.nodeVersion}, ${last.builds.restic}, ` +
      `Holdfast ${last.builds.holdfast}`,
    `load average (1 min) ${machine.load1.toFixed(1)} at start, ${r.loadAtEnd.toFixed(1)} at end; CPU pressure (PSI some, 60 s) ` +
      `${pct(machine.cpuPressure60)} at start, ${pct(r.cpuPressureAtEnd)} at end` +
      (busy ? ' — the machine was busy: wall times are noisy, CPU times steadier' : ''),
    `corpus: ${c.files} files (+50 added, 1% appended before "+1%"), ${(c.bytes / 1024 ** 2).toFixed(0)} MiB, seed ${c.params.seed}; page cache warm for both`,
    `restore: holdfast ${last.verification.holdfast}; restic ${last.verification.restic}`,
    r.rounds.length > 1
      ? `${r.rounds.length} rounds: times and sizes are medians, peak RSS the maximum`
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
