// Which snapshots a retention policy keeps, as restic's `forget` decides: keep-last N keeps the N newest;
// keep-daily / keep-weekly / keep-monthly N keep the newest snapshot of each of the N newest days / ISO weeks /
// months that have one. A snapshot kept by any rule is kept. Days, weeks and months are UTC (the same answer on
// every machine of a fleet, whatever its time zone).
import type { SnapshotInfo } from '../store.js';

export interface RetentionPolicy {
  keepLast?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
}

export const RETENTION_RULES = ['keepLast', 'keepDaily', 'keepWeekly', 'keepMonthly'] as const;
export type RetentionRule = (typeof RETENTION_RULES)[number];

export interface RetentionDecision {
  keep: Array<SnapshotInfo & { reasons: string[] }>;
  forget: SnapshotInfo[];
}

/** A policy that keeps nothing would forget every snapshot: refused, naming the fields. */
export function checkPolicy(policy: RetentionPolicy): void {
  for (const rule of RETENTION_RULES) {
    const n = policy[rule];
    if (n !== undefined && (!Number.isInteger(n) || n < 0 || n > 100_000))
      throw new Error(`retention ${rule} ${JSON.stringify(n)} is not allowed: a whole number from 0 to 100000`);
  }
  if (!RETENTION_RULES.some((r) => (policy[r] ?? 0) > 0))
    throw new Error(`retention keeps no snapshot: set at least one of ${RETENTION_RULES.join(', ')} to 1 or more`);
}

function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  return `${t.getUTCFullYear()}-W${Math.ceil(((t.getTime() - yearStart) / 86_400_000 + 1) / 7)}`;
}

const BUCKETS: Record<Exclude<RetentionRule, 'keepLast'>, [string, (d: Date) => string]> = {
  keepDaily: ['daily', (d) => d.toISOString().slice(0, 10)],
  keepWeekly: ['weekly', isoWeek],
  keepMonthly: ['monthly', (d) => d.toISOString().slice(0, 7)],
};

export function applyRetention(snapshots: SnapshotInfo[], policy: RetentionPolicy): RetentionDecision {
  checkPolicy(policy);
  const newest = [...snapshots].sort((a, b) => (a.time < b.time ? 1 : a.time > b.time ? -1 : a.id < b.id ? 1 : -1));
  const reasons = new Map<string, string[]>();
  const add = (id: string, why: string): void => {
    reasons.set(id, [...(reasons.get(id) ?? []), why]);
  };
  for (const [i, s] of newest.slice(0, policy.keepLast ?? 0).entries()) add(s.id, `last ${i + 1}`);
  for (const [rule, [name, key]] of Object.entries(BUCKETS) as Array<[keyof typeof BUCKETS, [string, (d: Date) => string]]>) {
    const n = policy[rule] ?? 0;
    const seen = new Set<string>();
    for (const s of newest) {
      if (seen.size >= n) break;
      const k = key(new Date(s.time));
      if (seen.has(k)) continue;
      seen.add(k);
      add(s.id, `${name} ${k}`);
    }
  }
  return {
    keep: newest.filter((s) => reasons.has(s.id)).map((s) => ({ ...s, reasons: reasons.get(s.id)! })),
    forget: newest.filter((s) => !reasons.has(s.id)),
  };
}
