// After every backup attempt the agent tells its backup server how it went (REPORT, protocol/health.ts): outcome,
// last success, files, bytes, warnings, skipped paths, agent version and free space. Nothing secret, no paths. The
// server keeps the latest per device for `holdfast-server report`. A report that cannot be delivered is logged and
// dropped: it never changes a backup's outcome.
import { statfs } from 'node:fs/promises';
import { escapeForTerminal } from '../common/terminal-text.js';
import { HEALTH_ERROR_CHARS, type HealthReport } from '../protocol/health.js';
import type { LoadedAgentConfig } from './config.js';
import type { LastResult } from './state.js';
import { AGENT_VERSION } from './version.js';

/** How long a report may take before the agent gives up on it (it is sent as the backup ends). */
export const REPORT_TIMEOUT_MS = 5000;

async function freeBytes(dir: string): Promise<number | null> {
  try {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  } catch {
    return null;
  }
}

/** The report for the attempt `result` recorded last. */
export async function buildHealthReport(loaded: LoadedAgentConfig, result: LastResult): Promise<HealthReport> {
  const b = result.lastBackup;
  const ok = b?.ok === true;
  const fleet = loaded.config.fleet ? escapeForTerminal(loaded.config.fleet).slice(0, 64) : null;
  return {
    time: b?.finishedAt ?? new Date().toISOString(),
    outcome: b?.outcome ?? (ok ? 'completed' : 'failed'),
    lastSuccess: result.lastSuccessfulBackup,
    files: b?.files ?? 0,
    bytes: b?.bytes ?? 0,
    warnings: b?.warnings ?? 0,
    skipped: b?.skipped?.count ?? 0,
    agentVersion: AGENT_VERSION,
    freeBytes: await freeBytes(loaded.stateDir),
    fleet: fleet || null,
    ...(!ok && { error: escapeForTerminal((b?.error ?? result.lastError ?? 'backup failed').split('\n')[0]).slice(0, HEALTH_ERROR_CHARS) }),
  };
}

/** A store that can carry a health report (the device's remote store; a local store folder cannot). */
export interface ReportingStore {
  report(report: HealthReport): Promise<unknown>;
}

export const canReport = (store: unknown): store is ReportingStore => typeof (store as Partial<ReportingStore> | undefined)?.report === 'function';

/** Sends the report; a failure or timeout is logged, never thrown. */
export async function sendHealthReport(store: ReportingStore, report: HealthReport, log?: (line: string) => void): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no reply within ${REPORT_TIMEOUT_MS / 1000} s`)), REPORT_TIMEOUT_MS);
  });
  try {
    await Promise.race([store.report(report), timeout]);
  } catch (err) {
    log?.(`health report not delivered: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    clearTimeout(timer);
  }
}
