// The background service (Windows service / macOS LaunchDaemon run `holdfast-agent service`): registers if
// needed, checks in with its backup servers (which applies pushed address updates), backs up on schedule,
// and stops cleanly when its AbortSignal fires (SIGTERM/SIGINT in the CLI). Logs one line per event, no secrets.
import { loadAgentConfig, type LoadedAgentConfig } from './config.js';
import { registerDevice, RegistrationFailedError } from './register.js';
import { openRemoteStore } from './remote-store.js';
import { readLastResult, readRegistration } from './state.js';
import { nextBackupDue } from './schedule.js';
import { AGENT_VERSION } from './version.js';
import { outcomeOf } from './engine/skipped.js';
import type { AgentConfig, AgentSchedule } from './config-types.js';

export interface ServiceOptions {
  loaded?: LoadedAgentConfig;
  configPath?: string;
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** Back up once right after start, whatever the schedule says. */
  backupNow?: boolean;
  /** Stop after the first cycle (register, check in, backup if due). */
  once?: boolean;
  /** How often to check in with the servers for address updates; default 1 h. */
  checkInMs?: number;
  /** Wait after a failed registration/backup before trying again; default 10 min. */
  retryMs?: number;
  /** How often, at most, the service re-reads agent.json and the admin policies (GPO, managed preferences); default 5 min. */
  reloadMs?: number;
  /** Called with the settings at start and whenever a reload changed them (the CLI applies the log's rotation). */
  onSettings?: (config: AgentConfig) => void;
}

export interface ServiceSummary {
  backups: number;
  failures: number;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.min(ms, 2 ** 31 - 1));
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * When to try registering again: when a rate-limiting server says (plus up to a tenth more, at most 30 s, so a
 * crowd that was refused together does not come back together), else after the usual retry interval.
 */
function registrationRetryMs(err: unknown, retryMs: number): number {
  if (!(err instanceof RegistrationFailedError) || err.retryAfterMs === undefined) return retryMs;
  return Math.max(1000, err.retryAfterMs + Math.round(Math.random() * Math.min(err.retryAfterMs / 10, 30_000)));
}

function untilAborted(signal?: AbortSignal): Promise<'aborted'> {
  return new Promise((resolve) => {
    if (!signal) return;
    if (signal.aborted) return resolve('aborted');
    signal.addEventListener('abort', () => resolve('aborted'), { once: true });
  });
}

const describeSchedule = (s: AgentSchedule) =>
  `${s.frequency}${s.frequency === 'manual' ? '' : ` at ${s.at}`}${s.frequency === 'weekly' && s.day ? ` on ${s.day}` : ''}`;

/**
 * Re-reads agent.json and the admin policies laid over it. On a change, logs which settings changed (names only:
 * some are secrets) and returns the new config; on an error keeps the current one and says why (once per problem, not
 * at every cycle while it lasts).
 */
async function reloadConfig(current: LoadedAgentConfig, log: (line: string) => void, problem: { last?: string }): Promise<LoadedAgentConfig> {
  let next: LoadedAgentConfig;
  try {
    next = await loadAgentConfig(current.path);
  } catch (err) {
    const message = (err as Error).message;
    if (message !== problem.last) log(`settings not reloaded, keeping the current ones: ${message}`);
    problem.last = message;
    return current;
  }
  problem.last = undefined;
  const changed = changedSettings(current.config, next.config);
  if (changed.length === 0) return current;
  log(`settings changed: ${changed.join(', ')}; schedule ${describeSchedule(next.config.backup.schedule)}`);
  return next;
}

/** Dotted paths of the leaves that differ between two configs (arrays compared whole). */
export function changedSettings(a: unknown, b: unknown, prefix = ''): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  const isObject = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isObject(a) || !isObject(b)) return [prefix || '(config)'];
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(ra), ...Object.keys(rb)])].sort();
  return keys.flatMap((k) => changedSettings(ra[k], rb[k], prefix ? `${prefix}.${k}` : k));
}

export async function runService(options: ServiceOptions = {}): Promise<ServiceSummary> {
  const log = options.log ?? ((line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`));
  const signal = options.signal;
  const checkInMs = options.checkInMs ?? 3600_000;
  const retryMs = options.retryMs ?? 600_000;
  const reloadMs = options.reloadMs ?? 300_000;
  let loaded = options.loaded ?? (await loadAgentConfig(options.configPath));
  options.onSettings?.(loaded.config);
  const { runBackup } = await import('./engine/agent-api.js');
  const summary: ServiceSummary = { backups: 0, failures: 0 };
  log(`holdfast-agent ${AGENT_VERSION} service started (config ${loaded.path}, schedule ${describeSchedule(loaded.config.backup.schedule)})`);

  let backupNow = options.backupNow ?? false;
  let lastCheckIn = 0;
  let retryAt = 0;
  let reloadedAt = Date.now();
  const reloadProblem: { last?: string } = {};
  while (!signal?.aborted) {
    if (Date.now() - reloadedAt >= reloadMs) {
      // A changed file or policy applies without a restart; a change may be what a failing registration needs.
      reloadedAt = Date.now();
      const reloaded = await reloadConfig(loaded, log, reloadProblem);
      if (reloaded !== loaded) {
        retryAt = 0;
        options.onSettings?.(reloaded.config);
      }
      loaded = reloaded;
    }
    const now = Date.now();
    if (now < retryAt) {
      await sleep(Math.min(retryAt - now, reloadMs), signal);
      continue;
    }
    if (!(await readRegistration(loaded.state))) {
      try {
        const r = await registerDevice({ loaded, onProgress: log });
        log(`registered as ${r.existingDevice ? 'existing' : 'new'} device ${r.deviceId}; backup servers ${r.servers.primary} / ${r.servers.alternate}`);
      } catch (err) {
        summary.failures++;
        const wait = registrationRetryMs(err, retryMs);
        log(`registration failed: ${(err as Error).message}; retrying in ${Math.round(wait / 1000)} s`);
        if (options.once) break;
        retryAt = Date.now() + wait;
        continue;
      }
    }
    if (Date.now() - lastCheckIn >= checkInMs) {
      const store = await openRemoteStore(loaded, { log });
      try {
        await store.connect();
        lastCheckIn = Date.now();
        log(`checked in with ${store.stats.endpoint}; servers ${store.currentServers.primary} / ${store.currentServers.alternate}`);
      } catch (err) {
        log(`check-in failed: ${(err as Error).message}`);
      } finally {
        await store.close();
      }
    }
    const last = await readLastResult(loaded.state);
    const due = backupNow
      ? new Date()
      : nextBackupDue(loaded.config.backup.schedule, last.lastSuccessfulBackup ? new Date(last.lastSuccessfulBackup) : undefined, new Date());
    if (due && due.getTime() <= Date.now()) {
      backupNow = false;
      log('backup started');
      const outcome = await Promise.race([
        runBackup(loaded, { log, onWarning: (w) => log(`backup warning: ${w}`) }).then(
          (r) => ({ ok: true as const, r }),
          (err: Error) => ({ ok: false as const, err }),
        ),
        untilAborted(signal),
      ]);
      if (outcome === 'aborted') {
        log('stopping during a backup: it resumes at the next run (chunks already stored are not sent again)');
        break;
      }
      if (outcome.ok) {
        summary.backups++;
        const r = outcome.r;
        const warned = outcomeOf(r) === 'completed with warnings';
        log(
          `${warned ? 'backup completed with warnings' : 'backup complete'}: snapshot ${r.snapshotId}, ${r.files} files, ` +
            `${r.chunksUploaded} new chunks, ${r.bytesUploaded} bytes uploaded` +
            (warned ? `; ${r.warnings.length} warning(s), ${r.skipped.length} path(s) skipped (status lists them)` : ''),
        );
        await (await import('./engine/prune-api.js')).retentionAfterBackup(loaded, log);
      } else {
        summary.failures++;
        log(`backup failed: ${outcome.err.message}; retrying in ${Math.round(retryMs / 1000)} s`);
        retryAt = Date.now() + retryMs;
      }
      if (options.once) break;
      continue;
    }
    if (options.once) break;
    const wait = Math.min(checkInMs - (Date.now() - lastCheckIn), due ? due.getTime() - Date.now() : Infinity, reloadMs - (Date.now() - reloadedAt));
    await sleep(Math.max(1000, wait), signal);
  }
  log(signal?.aborted ? 'service stopped' : 'service finished');
  return summary;
}
