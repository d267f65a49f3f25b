// REPORT (type 20): an authenticated agent's health report, checked and kept for `holdfast-server report`.
import { HealthReportError, validateHealthReport } from '../../protocol/health.js';
import { RefusedRequest } from '../refused.js';
import type { DeviceRegistry } from '../storage/registry.js';
import { recordHealth } from './device-health.js';

export async function receiveHealthReport(registry: DeviceRegistry, deviceId: string, header: Record<string, unknown>): Promise<object> {
  let report;
  try {
    report = validateHealthReport(header.report);
  } catch (err) {
    if (err instanceof HealthReportError) throw new RefusedRequest('bad-request', err.message);
    throw err;
  }
  const kept = await recordHealth(registry.deviceDir(deviceId), report);
  return { failures: kept.failures };
}
