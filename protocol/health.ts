// Fleet health: the non-secret status an agent reports to its backup server after every backup or failed attempt
// (REPORT, message type 20), and the row `holdfast-server report --json` prints per device. The agent builds the
// report, the server checks it with validateHealthReport before keeping it, and the sidebar reads the rows.
import { hasUnsafeText } from '../common/terminal-text.js';

/** What an agent says about its last backup attempt. */
export interface HealthReport {
  /** When the attempt ended (agent clock, ISO 8601). */
  time: string;
  outcome: 'completed' | 'completed with warnings' | 'failed';
  /** The agent's last successful backup, or null. */
  lastSuccess: string | null;
  files: number;
  bytes: number;
  warnings: number;
  skipped: number;
  agentVersion: string;
  /** Free bytes on the agent's state volume, or null when it cannot be told. */
  freeBytes: number | null;
  /** The fleet name of the agent's config (shown beside the server's fleet id), or null. */
  fleet: string | null;
  /** Why a failed attempt failed (first line, no secrets). */
  error?: string;
}

/** A REPORT header larger than this (as JSON) is refused. */
export const MAX_HEALTH_REPORT_BYTES = 4096;
/** Longest error text a report carries (the agent cuts it). */
export const HEALTH_ERROR_CHARS = 300;

const OUTCOMES: ReadonlyArray<HealthReport['outcome']> = ['completed', 'completed with warnings', 'failed'];
const COUNTS = ['files', 'bytes', 'warnings', 'skipped'] as const;
const KEYS = new Set(['time', 'outcome', 'lastSuccess', 'files', 'bytes', 'warnings', 'skipped', 'agentVersion', 'freeBytes', 'fleet', 'error']);

export class HealthReportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HealthReportError';
  }
}

function text(v: unknown, field: string, max: number): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max || hasUnsafeText(v))
    throw new HealthReportError(`report.${field} is not allowed: expected 1-${max} characters without control characters or bidi marks`);
  return v;
}

function date(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length > 40 || Number.isNaN(Date.parse(v)))
    throw new HealthReportError(`report.${field} ${JSON.stringify(v)?.slice(0, 60)} is not allowed: expected an ISO 8601 date`);
  return v;
}

function count(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new HealthReportError(`report.${field} ${JSON.stringify(v)?.slice(0, 60)} is not allowed: expected a whole number from 0`);
  return v;
}

/** The report in a REPORT header, checked field by field; errors name the field, the value and what is allowed. */
export function validateHealthReport(raw: unknown): HealthReport {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new HealthReportError('report must be an object');
  const size = Buffer.byteLength(JSON.stringify(raw));
  if (size > MAX_HEALTH_REPORT_BYTES) throw new HealthReportError(`report is ${size} bytes: at most ${MAX_HEALTH_REPORT_BYTES} allowed`);
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!KEYS.has(k)) throw new HealthReportError(`report.${k.slice(0, 40)}: unknown field (allowed: ${[...KEYS].join(', ')})`);
  if (!OUTCOMES.includes(r.outcome as HealthReport['outcome']))
    throw new HealthReportError(`report.outcome ${JSON.stringify(r.outcome)?.slice(0, 60)} is not allowed: expected one of ${OUTCOMES.join(', ')}`);
  const out: HealthReport = {
    time: date(r.time, 'time'),
    outcome: r.outcome as HealthReport['outcome'],
    lastSuccess: r.lastSuccess === null ? null : date(r.lastSuccess, 'lastSuccess'),
    files: 0,
    bytes: 0,
    warnings: 0,
    skipped: 0,
    agentVersion: text(r.agentVersion, 'agentVersion', 64),
    freeBytes: r.freeBytes === null ? null : count(r.freeBytes, 'freeBytes'),
    fleet: r.fleet === null ? null : text(r.fleet, 'fleet', 64),
  };
  for (const k of COUNTS) out[k] = count(r[k], k);
  if (r.error !== undefined) out.error = text(r.error, 'error', HEALTH_ERROR_CHARS);
  return out;
}

/** One device in `holdfast-server report --json` (and the sidebar's Devices view). */
export interface DeviceHealthRow {
  deviceId: string;
  /** The server's name for the device's fleet (from the Technician ID's hash; never the ID itself). */
  fleetId: string;
  /** The fleet name the agent reported, or null. */
  fleetName: string | null;
  hostname: string | null;
  platform: string | null;
  lastSuccess: string | null;
  lastReport: string | null;
  lastOutcome: HealthReport['outcome'] | null;
  /** Failed attempts since the last success. */
  failures: number;
  /** Bytes the device's data takes on the server. */
  storedBytes: number;
  /** Bytes of the last backup (as the agent counted them). */
  backupBytes: number | null;
  files: number | null;
  warnings: number | null;
  skipped: number | null;
  agentVersion: string | null;
  freeBytes: number | null;
  lastError: string | null;
  /** No success within the stale limit (or never). */
  stale: boolean;
}
