// The wire requests of admin access and device replacement (types 16 and 17), as the session serves them.
import { hasUnsafeText } from '../../common/terminal-text.js';
import { ADMIN_NAME_RE, DEVICE_ID_RE, MessageType, type ServerPair } from '../../protocol/messages.js';
import type { DeviceStore } from '../storage/device-store.js';
import { RegistrationError, type DeviceRegistry } from '../storage/registry.js';
import { addressKey, type ConnectionRegistrations, type RegistrationThrottle } from '../registration-throttle.js';
import { verifyAdminCredential } from './admin-credentials.js';
import { replaceDevice } from './replace-device.js';

export interface AdminContext {
  registry: DeviceRegistry;
  throttle: RegistrationThrottle;
  openStore(deviceId: string): Promise<DeviceStore>;
  log(line: string): void;
}

/** What an admin session serves: it reads a device's data, it never changes it (any other request is refused). */
export const ADMIN_READS: ReadonlySet<number> = new Set([
  MessageType.PING,
  MessageType.AUTH,
  MessageType.ADMIN_AUTH,
  MessageType.HAS,
  MessageType.GET,
  MessageType.GET_SNAPSHOT,
  MessageType.LIST_SNAPSHOTS,
  MessageType.GET_BLOB,
]);

const bad = (message: string) => new RegistrationError('bad-request', message);

function text(v: unknown, field: string, max: number, re?: RegExp): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max || (re && !re.test(v)))
    throw bad(`${field} is not allowed: expected ${re ? re.source : `a non-empty string of at most ${max} characters`}`);
  return v;
}

function shown(v: unknown, field: string, max: number): string | undefined {
  if (v === undefined) return undefined;
  const s = text(v, field, max);
  if (hasUnsafeText(s)) throw bad(`${field} is not allowed: expected at most ${max} characters without control characters or bidi marks`);
  return s;
}

/** ADMIN_AUTH {admin, credential, deviceId}: the admin's credential first, then the device (no listing of devices to strangers). */
export async function adminAuthenticate(ctx: AdminContext, h: Record<string, unknown>): Promise<{ admin: string; deviceId: string }> {
  const admin = text(h.admin, 'admin', 64, ADMIN_NAME_RE);
  const credential = text(h.credential, 'credential', 256);
  const deviceId = text(h.deviceId, 'deviceId', 64, DEVICE_ID_RE);
  if (!(await verifyAdminCredential(ctx.registry.dataDir, admin, credential)))
    throw new RegistrationError('bad-credential', 'admin credential not accepted (holdfast-server admin-credential makes a new one)');
  if (!(await ctx.registry.read(deviceId))) throw new RegistrationError('not-found', `no device ${deviceId} on this server`);
  return { admin, deviceId };
}

/**
 * REPLACE: a registration (throttled like REGISTER, failures count towards the address's lockout) that takes over
 * an existing device with the admin's one-time token. Reply header as REGISTER's; body: the device's escrow record.
 */
export async function replaceRequest(
  ctx: AdminContext,
  h: Record<string, unknown>,
  remoteAddress: string | undefined,
  registrations: ConnectionRegistrations,
  peer: string,
): Promise<{ header: { deviceId: string; credential: string; servers: ServerPair; existing: true; replaced: true }; body: Buffer[] }> {
  const address = addressKey(remoteAddress);
  ctx.throttle.admit(address, registrations);
  const req = {
    technicianId: text(h.technicianId, 'technicianId', 256),
    identityId: text(h.identityId, 'identityId', 128),
    identitySecret: text(h.identitySecret, 'identitySecret', 256),
    hostname: shown(h.hostname, 'hostname', 255),
    platform: shown(h.platform, 'platform', 64),
    deviceId: text(h.deviceId, 'deviceId', 64, DEVICE_ID_RE),
    token: text(h.token, 'token', 256),
    companyKey: text(h.companyKey, 'companyKey', 64, /^[0-9a-f]{64}$/),
  };
  try {
    const { record, credential, escrow } = await replaceDevice(ctx.registry, ctx.openStore, req);
    ctx.log(`${peer}: device ${record.deviceId} taken over by a replacement machine (${record.hostname ?? 'no host name'})`);
    return { header: { deviceId: record.deviceId, credential, servers: record.servers, existing: true, replaced: true }, body: [escrow] };
  } catch (err) {
    if (err instanceof RegistrationError && (err.code === 'unknown-technician' || err.code === 'bad-credential')) {
      const lockout = ctx.throttle.failure(address);
      if (lockout)
        ctx.log(`${peer}: registrations from ${address} locked out for ${Math.round(lockout / 1000)} s after repeated failures (limits.registration)`);
    }
    throw err;
  }
}
