// The sidebar's Devices view: the test server's fleet health report (`holdfast-server report --json`, the same
// function as the CLI), one row per device, stale ones marked. No `vscode` here: the tree is plain data.
import type { DeviceHealthRow } from '../../../protocol/health.js';
import { formatBytes, formatWhen } from './format.js';
import { parseJsonOutput, runNode } from './process.js';
import type { NodeSpec } from './tree-model.js';

/** The report of the server whose data folder is `dataDir`, run with the bundled server CLI. */
export async function loadDeviceReport(serverBin: string, dataDir: string, options: { stale?: string; now?: Date } = {}): Promise<DeviceHealthRow[]> {
  const args = ['report', '--data', dataDir, '--json', ...(options.stale ? ['--stale', options.stale] : [])];
  if (options.now) args.push('--now', options.now.toISOString());
  const r = await runNode(serverBin, args);
  const rows = r.code === 0 ? parseJsonOutput<DeviceHealthRow[]>(r.stdout) : undefined;
  if (!Array.isArray(rows)) throw new Error(`holdfast-server report failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
  return rows;
}

const mdEscape = (s: string) => s.replace(/([\\`*_{}[\]()#+\-.!|<>])/g, '\\$1');
/** Device-supplied text for a label: no control characters or bidi marks. */
const plain = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, '?');

function deviceNode(r: DeviceHealthRow, now: Date): NodeSpec {
  const last = r.lastSuccess ? formatWhen(new Date(r.lastSuccess), now) : 'never';
  const failed = r.failures > 0 ? ` · ${r.failures} failure${r.failures === 1 ? '' : 's'}` : '';
  const icon = r.stale
    ? { id: 'warning', color: 'list.warningForeground' }
    : r.failures > 0
      ? { id: 'error', color: 'testing.iconFailed' }
      : { id: 'pass-filled', color: 'testing.iconPassed' };
  const lines = [
    `**${mdEscape(plain(r.hostname ?? r.deviceId))}** — ${r.deviceId}`,
    r.stale ? '⚠ **Stale**: no successful backup within the stale limit' : '✓ Backed up recently',
    `Fleet: ${r.fleetName ? `${mdEscape(plain(r.fleetName))} (${r.fleetId})` : r.fleetId}`,
    `Last success: ${r.lastSuccess ?? 'never'}`,
    `Last attempt: ${r.lastOutcome ?? 'none reported'}${r.lastReport ? ` at ${r.lastReport}` : ''}`,
    `Stored on the server: ${formatBytes(r.storedBytes)}`,
    r.files !== null ? `Last backup: ${r.files} files, ${formatBytes(r.backupBytes ?? 0)}` : undefined,
    r.warnings ? `Warnings: ${r.warnings}, skipped paths: ${r.skipped ?? 0}` : undefined,
    `Failures since the last success: ${r.failures}`,
    r.lastError && r.failures > 0 ? `Last error: ${mdEscape(plain(r.lastError))}` : undefined,
    r.agentVersion ? `Agent ${mdEscape(plain(r.agentVersion))}` : undefined,
    r.freeBytes !== null ? `Free space: ${formatBytes(r.freeBytes)}` : undefined,
  ];
  return {
    id: `device:${r.deviceId}`,
    label: plain(r.hostname ?? r.deviceId),
    description: `${r.stale ? 'STALE · ' : ''}last success ${last} · ${formatBytes(r.storedBytes)}${failed}`,
    tooltip: lines.filter(Boolean).join('\n\n'),
    icon,
    contextValue: r.stale ? 'holdfast.device.stale' : 'holdfast.device',
  };
}

/** Stale devices first, then by host name. */
export function devicesTree(rows: DeviceHealthRow[], now: Date = new Date()): NodeSpec[] {
  const sorted = [...rows].sort((a, b) => Number(b.stale) - Number(a.stale) || (a.hostname ?? a.deviceId).localeCompare(b.hostname ?? b.deviceId));
  return sorted.map((r) => deviceNode(r, now));
}
