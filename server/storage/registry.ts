// Registered devices: Technician ID -> device id + credential + assigned backup-server pair.
// Only hashes of credentials, identity secrets and Technician IDs are kept on disk.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { DEVICE_ID_RE, type RegisterRequest, type ServerPair } from '../../protocol/messages.js';

export interface DeviceRecord {
  deviceId: string;
  /** sha256 of the Technician ID the device registered with (for admin listings, never the ID itself). */
  technicianHash: string;
  identityHash: string;
  identitySecretHash: string;
  credentialHash: string;
  servers: ServerPair;
  hostname?: string;
  platform?: string;
  registeredAt: string;
  reregisteredAt?: string;
  /** When a new machine took the device over (holdfast-agent register --replace). */
  replacedAt?: string;
}

export class RegistrationError extends Error {
  constructor(
    readonly code: 'unknown-technician' | 'identity-mismatch' | 'bad-credential' | 'bad-request' | 'not-found',
    message: string,
  ) {
    super(message);
    this.name = 'RegistrationError';
  }
}

/** Hooks of the caller (the server's throttle); each may throw to refuse. */
export interface RegistrationChecks {
  /** The Technician ID (by its hash) is known. */
  known?: (technicianHash: string) => void;
  /** A new device is about to be created (not a re-registration). */
  beforeCreate?: (technicianHash: string) => void;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

export class DeviceRegistry {
  private readonly technicianHashes: Set<string>;
  /** Serialises registrations per identity so a double submit cannot create two devices. */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    readonly dataDir: string,
    technicianIds: string[],
    private readonly defaultPair: () => ServerPair,
  ) {
    this.technicianHashes = new Set(technicianIds.map((t) => sha256(t.trim())));
  }

  deviceDir(deviceId: string): string {
    if (!DEVICE_ID_RE.test(deviceId)) throw new RegistrationError('bad-request', 'malformed device id');
    return join(this.dataDir, 'devices', deviceId);
  }

  async init(): Promise<void> {
    await mkdir(join(this.dataDir, 'devices'), { recursive: true });
    await mkdir(join(this.dataDir, 'identities'), { recursive: true });
  }

  async listDeviceIds(): Promise<string[]> {
    return (await readdir(join(this.dataDir, 'devices'))).filter((n) => DEVICE_ID_RE.test(n)).sort();
  }

  async read(deviceId: string): Promise<DeviceRecord | undefined> {
    try {
      return JSON.parse(await readFile(join(this.deviceDir(deviceId), 'device.json'), 'utf8')) as DeviceRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async write(rec: DeviceRecord): Promise<void> {
    const dir = this.deviceDir(rec.deviceId);
    await mkdir(dir, { recursive: true });
    await writeFileAtomic(join(dir, 'device.json'), JSON.stringify(rec, null, 2));
  }

  /**
   * Registers a device, or re-registers the one that already holds this identity (same device id,
   * new credential). Throws RegistrationError for an unknown Technician ID or a wrong identity secret.
   */
  async register(
    req: Omit<RegisterRequest, 'agentVersion'>,
    checks: RegistrationChecks = {},
  ): Promise<{ record: DeviceRecord; credential: string; existing: boolean }> {
    const technicianHash = this.technicianHashOf(req.technicianId);
    checks.known?.(technicianHash);
    const identityHash = sha256(req.identityId);
    const prev = this.locks.get(identityHash) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(() => this.registerLocked(req, technicianHash, identityHash, checks));
    this.locks.set(identityHash, run);
    try {
      return await run;
    } finally {
      if (this.locks.get(identityHash) === run) this.locks.delete(identityHash);
    }
  }

  private async registerLocked(
    req: { identitySecret: string; hostname?: string; platform?: string },
    technicianHash: string,
    identityHash: string,
    checks: RegistrationChecks,
  ): Promise<{ record: DeviceRecord; credential: string; existing: boolean }> {
    const credential = randomBytes(32).toString('base64url');
    const identityFile = this.identityFile(identityHash);
    let known: string | undefined;
    try {
      known = (JSON.parse(await readFile(identityFile, 'utf8')) as { deviceId: string }).deviceId;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const existing = known ? await this.read(known) : undefined;
    if (existing) {
      if (!sameHash(existing.identitySecretHash, sha256(req.identitySecret))) {
        throw new RegistrationError('identity-mismatch', 'this identity belongs to another device (identity secret does not match)');
      }
      const record: DeviceRecord = {
        ...existing,
        technicianHash,
        credentialHash: sha256(credential),
        hostname: req.hostname ?? existing.hostname,
        platform: req.platform ?? existing.platform,
        reregisteredAt: new Date().toISOString(),
      };
      await this.write(record);
      return { record, credential, existing: true };
    }
    checks.beforeCreate?.(technicianHash);
    const record: DeviceRecord = {
      deviceId: `dev-${randomBytes(12).toString('hex')}`,
      technicianHash,
      identityHash,
      identitySecretHash: sha256(req.identitySecret),
      credentialHash: sha256(credential),
      servers: this.defaultPair(),
      hostname: req.hostname,
      platform: req.platform,
      registeredAt: new Date().toISOString(),
    };
    await this.write(record);
    await writeFileAtomic(identityFile, JSON.stringify({ deviceId: record.deviceId }));
    return { record, credential, existing: false };
  }

  /** Where an identity (by its hash) is mapped to its device. */
  identityFile(identityHash: string): string {
    return join(this.dataDir, 'identities', `${identityHash}.json`);
  }

  /** The Technician ID's hash when the server accepts it; RegistrationError('unknown-technician') otherwise. */
  technicianHashOf(technicianId: string): string {
    const hash = sha256(technicianId.trim());
    if (!this.technicianHashes.has(hash))
      throw new RegistrationError('unknown-technician', 'unknown Technician ID: check the ID in the agent config or installer');
    return hash;
  }

  /** The device record when the credential matches; RegistrationError('bad-credential') otherwise. */
  async authenticate(deviceId: string, credential: string): Promise<DeviceRecord> {
    const rec = DEVICE_ID_RE.test(deviceId) ? await this.read(deviceId) : undefined;
    if (!rec || !sameHash(rec.credentialHash, sha256(credential))) {
      throw new RegistrationError('bad-credential', 'device id or credential not accepted: register the agent again');
    }
    return rec;
  }

  /** Admin: give a device a new backup-server pair; it learns it at its next session. */
  async reassign(deviceId: string, servers: ServerPair): Promise<DeviceRecord> {
    const rec = await this.read(deviceId);
    if (!rec) throw new RegistrationError('bad-request', `no device ${deviceId} in ${this.dataDir}`);
    const next = { ...rec, servers };
    await this.write(next);
    return next;
  }
}
