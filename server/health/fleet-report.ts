// `holdfast-server report`: every device with its last success, storage, failures and the rest of its last health
// report, stale ones flagged. One function builds the rows (the CLI's text, --json and --csv, and the sidebar's
// Devices view through --json); text output escapes every string that came from a device.
import { join } from 'node:path';
import { csvTable } from '../../common/csv.js';
import { folderBytes } from '../../common/folder-size.js';
import { formatBytes } from '../../common/format.js';
import { escapeForTerminal } from '../../common/terminal-text.js';
import type { DeviceHealthRow } from '../../protocol/health.js';
import { DeviceRegistry } from '../storage/registry.js';
import { fleetIdOf, readHealth } from './device-health.js';

/** Default for --stale: a device without a successful backup for this long is flagged. */
export const DEFAULT_STALE = '3d';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "3d", "12h", "90m", "30s", "2w" in milliseconds; an error names the value and what is allowed. */
export function parseDuration(value: string, field = '--stale'): number {
  const m = /^(\d{1,6})([smhdw])$/.exec(value.trim());
  if (!m || Number(m[1]) === 0)
    throw new Error(`${field} ${JSON.stringify(value)} is not allowed: expected a positive whole number and a unit s, m, h, d or w (e.g. 3d, 12h)`);
  return Number(m[1]) * UNITS[m[2]];
}

/** What a device's data takes on the server: its packs, snapshots and blobs. */
export async function deviceStoredBytes(deviceDir: string): Promise<number> {
  const parts = await Promise.all(['packs', 'snapshots', 'blobs'].map((d) => folderBytes(join(deviceDir, d))));
  return parts.reduce((a, b) => a + b, 0);
}

export interface ReportOptions {
  /** The time staleness is judged against (tests and "as of" reports); default now. */
  now?: Date;
  staleMs?: number;
  /** Only this fleet: a fleet id (fleet-…) or the fleet name the agents report. */
  fleet?: string;
}

export async function fleetReport(dataDir: string, options: ReportOptions = {}): Promise<DeviceHealthRow[]> {
  const now = (options.now ?? new Date()).getTime();
  const staleMs = options.staleMs ?? parseDuration(DEFAULT_STALE);
  const registry = new DeviceRegistry(dataDir, [], () => ({ primary: '', alternate: '' }));
  await registry.init();
  const rows: DeviceHealthRow[] = [];
  for (const id of await registry.listDeviceIds()) {
    const rec = await registry.read(id);
    if (!rec) continue;
    const dir = registry.deviceDir(id);
    const h = await readHealth(dir);
    const r = h?.report;
    const lastSuccess = h?.lastSuccess ?? null;
    const row: DeviceHealthRow = {
      deviceId: rec.deviceId,
      fleetId: fleetIdOf(rec.technicianHash),
      fleetName: r?.fleet ?? null,
      hostname: rec.hostname ?? null,
      platform: rec.platform ?? null,
      lastSuccess,
      lastReport: r?.time ?? null,
      lastOutcome: r?.outcome ?? null,
      failures: h?.failures ?? 0,
      storedBytes: await deviceStoredBytes(dir),
      backupBytes: r && r.outcome !== 'failed' ? r.bytes : null,
      files: r && r.outcome !== 'failed' ? r.files : null,
      warnings: r?.warnings ?? null,
      skipped: r?.skipped ?? null,
      agentVersion: r?.agentVersion ?? null,
      freeBytes: r?.freeBytes ?? null,
      lastError: r?.error ?? null,
      stale: !lastSuccess || now - Date.parse(lastSuccess) > staleMs,
    };
    rows.push(row);
  }
  // A device that has not reported yet goes by the name its fleet's other devices report.
  const names = new Map(rows.filter((r) => r.fleetName).map((r) => [r.fleetId, r.fleetName]));
  for (const r of rows) r.fleetName ??= names.get(r.fleetId) ?? null;
  const f = options.fleet;
  return f ? rows.filter((r) => r.fleetId === f || r.fleetName === f) : rows;
}

/** "3.2 d", "5 h", "12 min" since `iso`. */
export function ageText(iso: string | null, now: Date): string {
  if (!iso) return 'never';
  const ms = Math.max(0, now.getTime() - Date.parse(iso));
  if (ms >= 86_400_000) return `${(ms / 86_400_000).toFixed(1)} d ago`;
  if (ms >= 3_600_000) return `${(ms / 3_600_000).toFixed(1)} h ago`;
  return `${Math.round(ms / 60_000)} min ago`;
}

const show = (v: string | null) => escapeForTerminal(v ?? '-');

/** The table the CLI prints: one line per device, stale ones marked STALE; device strings escaped. */
export function formatReportText(rows: DeviceHealthRow[], now: Date): string {
  if (rows.length === 0) return 'no devices\n';
  const head = ['', 'device', 'host', 'fleet', 'last success', 'stored', 'failures', 'last backup', 'agent', 'free'];
  const table = rows.map((r) => [
    r.stale ? 'STALE' : 'ok',
    r.deviceId,
    show(r.hostname),
    r.fleetName ? `${show(r.fleetName)} (${r.fleetId})` : r.fleetId,
    r.lastSuccess ? `${r.lastSuccess} (${ageText(r.lastSuccess, now)})` : 'never',
    formatBytes(r.storedBytes),
    String(r.failures),
    r.lastOutcome ? `${r.lastOutcome}${r.files !== null ? `, ${r.files} files, ${formatBytes(r.backupBytes ?? 0)}` : ''}` : '-',
    show(r.agentVersion),
    r.freeBytes === null ? '-' : formatBytes(r.freeBytes),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
  const line = (cols: string[]) =>
    `${cols
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd()}\n`;
  const stale = rows.filter((r) => r.stale).length;
  const errors = rows.filter((r) => r.lastError && r.failures > 0).map((r) => `  ${r.deviceId}: ${show(r.lastError)}\n`);
  return (
    line(head) +
    table.map(line).join('') +
    `${rows.length} device${rows.length === 1 ? '' : 's'}, ${stale} stale\n` +
    (errors.length ? `last errors:\n${errors.join('')}` : '')
  );
}

/** Every field of a row, in the order --csv prints them. */
const CSV_COLUMNS = [
  'deviceId',
  'fleetId',
  'fleetName',
  'hostname',
  'platform',
  'stale',
  'lastSuccess',
  'lastReport',
  'lastOutcome',
  'failures',
  'storedBytes',
  'backupBytes',
  'files',
  'warnings',
  'skipped',
  'agentVersion',
  'freeBytes',
  'lastError',
] as const satisfies ReadonlyArray<keyof DeviceHealthRow>;

/** CSV with a header row (common/csv.ts: RFC 4180 quoting, formula-leading text shown as text). */
export function formatReportCsv(rows: DeviceHealthRow[]): string {
  return csvTable(
    CSV_COLUMNS,
    rows.map((r) => CSV_COLUMNS.map((c) => r[c])),
  );
}
