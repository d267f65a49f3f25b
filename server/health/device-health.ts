// The last health report of each device, kept beside its data (devices/<id>/health.json, written atomically) with
// what the server counts itself: failed attempts since the last success. A report is at most a few KiB (validated
// on receipt, protocol/health.ts), so the file stays small whatever the agent sends.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import type { HealthReport } from '../../protocol/health.js';

export const HEALTH_FILE = 'health.json';

export interface DeviceHealth {
  report: HealthReport;
  /** Server clock when the report arrived. */
  receivedAt: string;
  /** Failed attempts reported since the last successful one. */
  failures: number;
  /** The latest success the agent reported (kept when later attempts fail). */
  lastSuccess: string | null;
}

/** How the server names a fleet: from the Technician ID's hash, so no listing ever shows the ID. */
export function fleetIdOf(technicianHash: string): string {
  return `fleet-${technicianHash.slice(0, 10)}`;
}

export async function readHealth(deviceDir: string): Promise<DeviceHealth | undefined> {
  try {
    return JSON.parse(await readFile(join(deviceDir, HEALTH_FILE), 'utf8')) as DeviceHealth;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

const later = (a: string | null, b: string | null): string | null => (!a ? b : !b ? a : Date.parse(a) >= Date.parse(b) ? a : b);

/** Reports of one device are applied one after another (two sessions of one device may report at once). */
const queues = new Map<string, Promise<unknown>>();

export function recordHealth(deviceDir: string, report: HealthReport, now = new Date()): Promise<DeviceHealth> {
  const run = (queues.get(deviceDir) ?? Promise.resolve())
    .catch(() => undefined)
    .then(async () => {
      const prev = await readHealth(deviceDir);
      const failed = report.outcome === 'failed';
      const next: DeviceHealth = {
        report,
        receivedAt: now.toISOString(),
        failures: failed ? (prev?.failures ?? 0) + 1 : 0,
        lastSuccess: later(prev?.lastSuccess ?? null, failed ? report.lastSuccess : later(report.lastSuccess, report.time)),
      };
      await writeFileAtomic(join(deviceDir, HEALTH_FILE), `${JSON.stringify(next, null, 2)}\n`);
      return next;
    });
  queues.set(deviceDir, run);
  void run.finally(() => {
    if (queues.get(deviceDir) === run) queues.delete(deviceDir);
  });
  return run;
}
