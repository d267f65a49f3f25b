// Storage quotas (`quotas` in the server config): per device and per fleet (the devices registered with one
// Technician ID). Every upload (PUT, PUT_SNAPSHOT, PUT_BLOB) is admitted here from its declared size before the
// store writes any of it, so a refused upload leaves nothing behind: no pack bytes, no index line, no snapshot.
// Chunks the device already holds do not count. Uploads in progress hold their bytes until they are stored, so two
// at once cannot both squeeze past a quota. Usage is what this server process sees of the data folder.
import { formatBytes } from '../common/format.js';
import { RefusedRequest } from './refused.js';
import { fleetIdOf } from './health/device-health.js';
import type { DeviceRegistry } from './storage/registry.js';
import type { DeviceStore } from './storage/device-store.js';

export interface QuotaLimits {
  /** Bytes one device may keep on the server. */
  deviceBytes?: number;
  /** Bytes all devices of one fleet (one Technician ID) may keep together. */
  fleetBytes?: number;
}

export interface QuotaConfig extends QuotaLimits {
  /** Per fleet, by the fleet id `holdfast-server report` shows (fleet-<10 hex>): limits that replace the ones above. */
  fleets?: Record<string, QuotaLimits>;
}

const QUOTA_KEYS = ['deviceBytes', 'fleetBytes'] as const;
const MAX_QUOTA = 2 ** 53 - 1;
const FLEET_ID_RE = /^fleet-[0-9a-f]{10}$/;

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

function validateLimitsAt(raw: Record<string, unknown>, path: string, extra: string[], problems: string[]): QuotaLimits {
  const out: QuotaLimits = {};
  for (const [k, v] of Object.entries(raw)) {
    if (extra.includes(k)) continue;
    if (!(QUOTA_KEYS as readonly string[]).includes(k)) {
      problems.push(`${path}/${k}: unknown field (allowed: ${[...QUOTA_KEYS, ...extra].join(', ')})`);
      continue;
    }
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
      problems.push(`${path}/${k}: ${JSON.stringify(v)?.slice(0, 80)} is not allowed; expected a whole number of bytes from 1 to ${MAX_QUOTA}`);
      continue;
    }
    out[k as keyof QuotaLimits] = v;
  }
  return out;
}

/** Checks the config's `quotas` object; problems name the JSON path, the value and what is allowed. */
export function validateQuotas(raw: unknown, problems: string[]): QuotaConfig | undefined {
  if (raw === undefined) return undefined;
  if (!isObject(raw)) {
    problems.push(`/quotas: ${JSON.stringify(raw)?.slice(0, 80)} is not allowed; expected an object with any of ${QUOTA_KEYS.join(', ')}, fleets`);
    return undefined;
  }
  const out: QuotaConfig = validateLimitsAt(raw, '/quotas', ['fleets'], problems);
  if (raw.fleets === undefined) return out;
  if (!isObject(raw.fleets)) {
    problems.push('/quotas/fleets: expected an object of fleet ids (fleet-<10 hex digits>, as `holdfast-server report` shows them)');
    return out;
  }
  out.fleets = {};
  for (const [id, limits] of Object.entries(raw.fleets)) {
    if (!FLEET_ID_RE.test(id))
      problems.push(`/quotas/fleets/${id.slice(0, 40)}: not a fleet id; expected fleet-<10 hex digits>, as \`holdfast-server report\` shows it`);
    else if (!isObject(limits)) problems.push(`/quotas/fleets/${id}: expected an object with any of ${QUOTA_KEYS.join(', ')}`);
    else out.fleets[id] = validateLimitsAt(limits, `/quotas/fleets/${id}`, [], problems);
  }
  return out;
}

/** Sum of a PUT's declared sizes; each must be a whole number of bytes. */
function declaredBytes(sizes: unknown[]): number {
  let total = 0;
  for (const s of sizes) {
    if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) throw new RefusedRequest('bad-request', 'sizes must be whole numbers of bytes');
    total += s;
  }
  return total;
}

export class QuotaGuard {
  /** Bytes admitted and not yet stored, per device. */
  private readonly pending = new Map<string, number>();
  /** Device id -> the hash of its Technician ID (its fleet). */
  private readonly fleetOf = new Map<string, string>();

  constructor(
    private readonly config: QuotaConfig,
    private readonly registry: DeviceRegistry,
    private readonly openStore: (deviceId: string) => Promise<DeviceStore>,
  ) {}

  get active(): boolean {
    const set = (l: QuotaLimits) => l.deviceBytes !== undefined || l.fleetBytes !== undefined;
    return set(this.config) || Object.values(this.config.fleets ?? {}).some(set);
  }

  /** The limits of a fleet and the config key each comes from. */
  private limitsOf(fleet: string): { deviceBytes?: number; fleetBytes?: number; key: (k: keyof QuotaLimits) => string } {
    const id = fleetIdOf(fleet);
    const own = this.config.fleets?.[id] ?? {};
    return {
      deviceBytes: own.deviceBytes ?? this.config.deviceBytes,
      fleetBytes: own.fleetBytes ?? this.config.fleetBytes,
      key: (k) => (own[k] !== undefined ? `quotas.fleets.${id}.${k}` : `quotas.${k}`),
    };
  }

  /** Learns every device's fleet (only needed for a fleet quota). */
  async load(): Promise<void> {
    if (!this.active) return;
    for (const id of await this.registry.listDeviceIds()) {
      const rec = await this.registry.read(id);
      if (rec) this.fleetOf.set(id, rec.technicianHash);
    }
  }

  private async used(deviceId: string): Promise<number> {
    return (await this.openStore(deviceId)).storedBytes + (this.pending.get(deviceId) ?? 0);
  }

  private async fleetUsed(fleet: string): Promise<number> {
    let total = 0;
    for (const [id, f] of this.fleetOf) if (f === fleet) total += await this.used(id);
    return total;
  }

  /** The first quota `bytes` more would break, as the message the agent shows; undefined when it fits. */
  private async exceeded(deviceId: string, fleet: string, bytes: number): Promise<string | undefined> {
    const { deviceBytes, fleetBytes, key } = this.limitsOf(fleet);
    const over = (who: string, used: number, quota: number, name: string) =>
      `storage quota exceeded: ${who} holds ${formatBytes(used)} on the server and this upload of ${formatBytes(bytes)} would take it over its ` +
      `quota of ${formatBytes(quota)} (${name} in the server config); the upload was refused and nothing of it was stored`;
    if (deviceBytes !== undefined) {
      const used = await this.used(deviceId);
      if (used + bytes > deviceBytes) return over(`device ${deviceId}`, used, deviceBytes, key('deviceBytes'));
    }
    if (fleetBytes !== undefined) {
      const used = await this.fleetUsed(fleet);
      if (used + bytes > fleetBytes) return over(`fleet ${fleetIdOf(fleet)}`, used, fleetBytes, key('fleetBytes'));
    }
    return undefined;
  }

  /**
   * Admits an upload of `bytes` (for a PUT, `ids` and their sizes: chunks the device holds already are not counted),
   * or refuses it with `quota-exceeded`. Call the returned function once the upload is stored or failed.
   */
  admit(deviceId: string, fleet: string, upload: { bytes: number } | { ids: string[]; sizes: unknown[] }): Promise<() => void> {
    if (!this.active) return Promise.resolve(() => undefined);
    // One admission at a time: each sees the bytes the ones before it admitted.
    const run = this.admitting.catch(() => undefined).then(() => this.admitNow(deviceId, fleet, upload));
    this.admitting = run;
    return run;
  }

  private admitting: Promise<unknown> = Promise.resolve();

  private async admitNow(deviceId: string, fleet: string, upload: { bytes: number } | { ids: string[]; sizes: unknown[] }): Promise<() => void> {
    this.fleetOf.set(deviceId, fleet);
    let bytes = 'bytes' in upload ? upload.bytes : declaredBytes(upload.sizes);
    let problem = await this.exceeded(deviceId, fleet, bytes);
    if (problem && 'ids' in upload) {
      // Re-sent chunks (a resumed backup) take no new room: count only what the device does not hold yet.
      const held = await (await this.openStore(deviceId)).has(upload.ids);
      held.forEach((h, i) => {
        if (h) bytes -= upload.sizes[i] as number;
      });
      problem = await this.exceeded(deviceId, fleet, bytes);
    }
    if (problem) throw new RefusedRequest('quota-exceeded', problem);
    this.pending.set(deviceId, (this.pending.get(deviceId) ?? 0) + bytes);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.pending.get(deviceId) ?? 0) - bytes;
      if (left > 0) this.pending.set(deviceId, left);
      else this.pending.delete(deviceId);
    };
  }
}
