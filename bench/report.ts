// Turning measurements into the side-by-side table, the JSON file and the target verdicts.
import type { ProcessMeasure } from './measure.js';

export type OperationId = 'initial' | 'no-change' | 'plus-1pct' | 'restore' | 'big-initial' | 'big-changed' | 'big-restore';

/** Targets: Holdfast wall time over the faster peer's (restic, or borg when it ran), medians (issue 19). */
export const OPERATIONS: ReadonlyArray<{ id: OperationId; label: string; target: number }> = [
  { id: 'initial', label: 'initial backup', target: 0.5 },
  { id: 'no-change', label: 'no-change incremental', target: 0.15 },
  { id: 'plus-1pct', label: 'incremental +1%', target: 0.3 },
  { id: 'restore', label: 'full restore', target: 0.7 },
  { id: 'big-initial', label: '1 GiB file: initial', target: 0.5 },
  { id: 'big-changed', label: '1 GiB file: 10 MiB changed', target: 0.5 },
  { id: 'big-restore', label: '1 GiB file: restore', target: 0.7 },
];

/** The agent's peak RSS must stay at or below this in every operation. */
export const AGENT_RSS_TARGET_MIB = 150;

export interface ToolRun extends ProcessMeasure {
  /** Storage used after the operation (backups only). */
  repoBytes?: number;
  /** The Holdfast test server's CPU and peak RSS during the operation. */
  sidecar?: { cpuS: number; peakRssMiB: number };
}

export interface OperationResult {
  operation: OperationId;
  holdfast: ToolRun;
  restic: ToolRun;
  /** The second peer, when it ran. */
  borg?: ToolRun;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function medianRun(runs: ToolRun[]): ToolRun {
  const pick = (f: (r: ToolRun) => number | undefined): number | undefined => {
    const xs = runs.map(f).filter((x): x is number => x !== undefined);
    return xs.length ? median(xs) : undefined;
  };
  const out: ToolRun = {
    wallS: pick((r) => r.wallS)!,
    userS: pick((r) => r.userS)!,
    sysS: pick((r) => r.sysS)!,
    cpuS: pick((r) => r.cpuS)!,
    // Memory is a limit, not a speed: report the worst round.
    peakRssMiB: Math.max(...runs.map((r) => r.peakRssMiB)),
  };
  const repo = pick((r) => r.repoBytes);
  if (repo !== undefined) out.repoBytes = repo;
  if (runs.some((r) => r.sidecar)) {
    out.sidecar = {
      cpuS: pick((r) => r.sidecar?.cpuS)!,
      peakRssMiB: Math.max(...runs.map((r) => r.sidecar?.peakRssMiB ?? 0)),
    };
  }
  return out;
}

/** Several rounds of the same run -> one: the median of times and sizes, the maximum of peak RSS. */
export function combineRounds(rounds: OperationResult[][]): OperationResult[] {
  if (rounds.length === 1) return rounds[0];
  return rounds[0].map((first, i) => ({
    operation: first.operation,
    holdfast: medianRun(rounds.map((r) => r[i].holdfast)),
    restic: medianRun(rounds.map((r) => r[i].restic)),
    ...(first.borg && { borg: medianRun(rounds.map((r) => r[i].borg!)) }),
  }));
}

/** One row of the JSON file; the snake_case names are the contract the issue fixes. */
export interface ReportRow {
  operation: OperationId;
  label: string;
  holdfast_s: number;
  restic_s: number;
  ratio: number | null;
  /** Holdfast CPU over restic CPU (user+sys of the measured process): steadier than wall time on a busy machine. */
  cpu_ratio: number | null;
  target_ratio: number;
  met: boolean;
  holdfast_cpu_s: number;
  restic_cpu_s: number;
  holdfast_rss_mib: number;
  restic_rss_mib: number;
  server_cpu_s: number | null;
  server_rss_mib: number | null;
  holdfast_repo_mib: number | null;
  restic_repo_mib: number | null;
  /** borg (null when it did not run); `ratio_borg` Holdfast over borg. */
  borg_s: number | null;
  borg_cpu_s: number | null;
  borg_rss_mib: number | null;
  borg_repo_mib: number | null;
  ratio_borg: number | null;
  /** The faster peer of the operation and Holdfast's ratio to it: what `met` is judged on. */
  best_peer: 'restic' | 'borg';
  ratio_best: number | null;
}

const round = (x: number, digits = 3): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

/** Holdfast time over restic time; null when restic's time is zero or not a number. */
export function ratio(holdfastS: number, resticS: number): number | null {
  if (!(resticS > 0) || !Number.isFinite(holdfastS)) return null;
  return round(holdfastS / resticS);
}

const mib = (bytes: number | undefined): number | null => (bytes === undefined ? null : round(bytes / 1024 ** 2, 1));

export function toRow(r: OperationResult): ReportRow {
  const op = OPERATIONS.find((o) => o.id === r.operation)!;
  const q = ratio(r.holdfast.wallS, r.restic.wallS);
  const qBorg = r.borg ? ratio(r.holdfast.wallS, r.borg.wallS) : null;
  const bestPeer = r.borg && r.borg.wallS < r.restic.wallS ? 'borg' : 'restic';
  const best = bestPeer === 'borg' ? qBorg : q;
  return {
    operation: r.operation,
    label: op.label,
    holdfast_s: round(r.holdfast.wallS),
    restic_s: round(r.restic.wallS),
    ratio: q,
    cpu_ratio: ratio(r.holdfast.cpuS, r.restic.cpuS),
    target_ratio: op.target,
    met: best !== null && best <= op.target,
    holdfast_cpu_s: round(r.holdfast.cpuS, 2),
    restic_cpu_s: round(r.restic.cpuS, 2),
    holdfast_rss_mib: round(r.holdfast.peakRssMiB, 1),
    restic_rss_mib: round(r.restic.peakRssMiB, 1),
    server_cpu_s: r.holdfast.sidecar ? round(r.holdfast.sidecar.cpuS, 2) : null,
    server_rss_mib: r.holdfast.sidecar ? round(r.holdfast.sidecar.peakRssMiB, 1) : null,
    holdfast_repo_mib: mib(r.holdfast.repoBytes),
    restic_repo_mib: mib(r.restic.repoBytes),
    borg_s: r.borg ? round(r.borg.wallS) : null,
    borg_cpu_s: r.borg ? round(r.borg.cpuS, 2) : null,
    borg_rss_mib: r.borg ? round(r.borg.peakRssMiB, 1) : null,
    borg_repo_mib: r.borg ? mib(r.borg.repoBytes) : null,
    ratio_borg: qBorg,
    best_peer: bestPeer,
    ratio_best: best,
  };
}

export interface Verdict {
  name: string;
  value: string;
  target: string;
  met: boolean;
}

export function verdicts(rows: ReportRow[]): Verdict[] {
  const out: Verdict[] = rows.map((r) => ({
    name: `${r.label} ratio (vs ${r.best_peer})`,
    value: r.ratio_best === null ? 'n/a' : r.ratio_best.toFixed(2),
    target: `<= ${r.target_ratio}`,
    met: r.met,
  }));
  const peak = Math.max(0, ...rows.map((r) => r.holdfast_rss_mib));
  out.push({
    name: 'agent peak RSS',
    value: `${peak.toFixed(1)} MiB`,
    target: `<= ${AGENT_RSS_TARGET_MIB} MiB`,
    met: rows.length > 0 && peak <= AGENT_RSS_TARGET_MIB,
  });
  return out;
}

/** A plain text table with right-aligned numbers and left-aligned text. */
export function formatTable(headers: string[], rows: Array<Array<string | number | null>>): string {
  const cells = rows.map((row) => row.map((c) => (c === null ? '-' : typeof c === 'number' ? String(c) : c)));
  const isNumber = (c: string): boolean => c === '-' || /^-?\d+(\.\d+)?%?$/.test(c);
  const numeric = headers.map((_, i) => cells.every((row) => isNumber(row[i])));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i].length)));
  const line = (row: string[]): string =>
    row
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

const fixed = (x: number | null, d: number): string | null => (x === null ? null : x.toFixed(d));

export function formatComparison(rows: ReportRow[]): string {
  return formatTable(
    [
      'operation',
      'holdfast s',
      'restic s',
      'ratio',
      'target',
      'ok',
      'borg s',
      'vs borg',
      'vs best',
      'hf cpu s',
      'restic cpu s',
      'borg cpu s',
      'cpu ratio',
      'hf RSS MiB',
      'restic RSS MiB',
      'borg RSS MiB',
      'server cpu s',
      'server RSS MiB',
      'hf repo MiB',
      'restic repo MiB',
      'borg repo MiB',
    ],
    rows.map((r) => [
      r.label,
      fixed(r.holdfast_s, 2),
      fixed(r.restic_s, 2),
      fixed(r.ratio, 2),
      `<= ${r.target_ratio}`,
      r.met ? 'yes' : 'NO',
      fixed(r.borg_s, 2),
      fixed(r.ratio_borg, 2),
      r.ratio_best === null ? null : `${r.ratio_best.toFixed(2)} ${r.best_peer}`,
      fixed(r.holdfast_cpu_s, 2),
      fixed(r.restic_cpu_s, 2),
      fixed(r.borg_cpu_s, 2),
      fixed(r.cpu_ratio, 2),
      fixed(r.holdfast_rss_mib, 0),
      fixed(r.restic_rss_mib, 0),
      fixed(r.borg_rss_mib, 0),
      fixed(r.server_cpu_s, 2),
      fixed(r.server_rss_mib, 0),
      fixed(r.holdfast_repo_mib, 0),
      fixed(r.restic_repo_mib, 0),
      fixed(r.borg_repo_mib, 0),
    ]),
  );
}

export function formatVerdicts(v: Verdict[]): string {
  return v.map((x) => `${x.met ? 'MET    ' : 'NOT MET'}  ${x.name}: ${x.value} (target ${x.target})`).join('\n');
}
