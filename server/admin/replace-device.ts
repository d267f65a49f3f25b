// "Replace device": a new machine takes over a lost device's backup history. The admin approves it on the server
// host with a one-time token (`holdfast-server replace-token --device <id>`: 24 h by default, only its SHA-256 kept
// in the device's folder); the new machine presents it with REPLACE (`holdfast-agent register --replace <id>`).
// The device then belongs to the new machine's identity, with a new credential: the lost machine's credential and
// identity stop working. The reply carries the device's key-escrow record, which the agent opens with the company
// key, so the new machine backs up under the same device key and its first backup sends only new data.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReplaceTokenFile } from '../../agent/admin-files.js';
import { ESCROW_BLOB, parseEscrowRecord } from '../../agent/engine/escrow.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import type { DeviceStore } from '../storage/device-store.js';
import { RegistrationError, type DeviceRecord, type DeviceRegistry } from '../storage/registry.js';

export const DEFAULT_REPLACE_TOKEN_HOURS = 24;
const TOKEN_FILE = 'replace-token.json';

interface StoredToken {
  hash: string;
  issuedAt: string;
  expiresAt: string;
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Issues a one-time replace token for `deviceId` (replacing an unused earlier one) and writes it to `out` (0600). */
export async function issueReplaceToken(registry: DeviceRegistry, deviceId: string, validMs: number, out: string): Promise<ReplaceTokenFile> {
  const rec = await registry.read(deviceId);
  if (!rec) throw new Error(`no device ${deviceId} in ${registry.dataDir} (see holdfast-server devices)`);
  const token = `hfr1-${randomBytes(32).toString('base64url')}`;
  const now = Date.now();
  const stored: StoredToken = { hash: sha256(token).toString('hex'), issuedAt: new Date(now).toISOString(), expiresAt: new Date(now + validMs).toISOString() };
  const handed: ReplaceTokenFile = { v: 1, deviceId, token, expiresAt: stored.expiresAt };
  await writeFileAtomic(out, `${JSON.stringify(handed, null, 2)}\n`, 0o600);
  await writeFileAtomic(join(registry.deviceDir(deviceId), TOKEN_FILE), `${JSON.stringify(stored)}\n`, 0o600);
  return handed;
}

export interface ReplaceRequest {
  technicianId: string;
  identityId: string;
  identitySecret: string;
  hostname?: string;
  platform?: string;
  deviceId: string;
  token: string;
  /** SHA-256 of the company public key the agent holds the private key of (escrow.ts companyKeyFingerprint). */
  companyKey: string;
}

const refused = (deviceId: string) =>
  new RegistrationError('bad-credential', `replace token not accepted for ${deviceId}: ask the admin for a new one (holdfast-server replace-token)`);

/** Everything is checked before the token is spent: a wrong company key or a device without escrow costs nothing. */
export async function replaceDevice(
  registry: DeviceRegistry,
  openStore: (deviceId: string) => Promise<DeviceStore>,
  req: ReplaceRequest,
): Promise<{ record: DeviceRecord; credential: string; escrow: Buffer }> {
  const technicianHash = registry.technicianHashOf(req.technicianId);
  const old = await registry.read(req.deviceId);
  if (!old) throw refused(req.deviceId);
  const tokenFile = join(registry.deviceDir(req.deviceId), TOKEN_FILE);
  let stored: StoredToken;
  try {
    stored = JSON.parse(await readFile(tokenFile, 'utf8')) as StoredToken;
  } catch {
    throw refused(req.deviceId);
  }
  const want = Buffer.from(String(stored.hash), 'hex');
  const got = sha256(req.token);
  if (want.length !== got.length || !timingSafeEqual(want, got) || !(Date.parse(stored.expiresAt) > Date.now())) throw refused(req.deviceId);

  const escrow = await (await openStore(req.deviceId)).getBlob(ESCROW_BLOB);
  if (!escrow)
    throw new RegistrationError('bad-request', `${req.deviceId} has no escrowed device key: its history cannot be taken over (restore it with escrow-restore)`);
  if (parseEscrowRecord(escrow).companyKey !== req.companyKey)
    throw new RegistrationError('bad-request', `${req.deviceId}: its device key was escrowed for another company key than the one given`);

  // Spend the token: of two machines presenting it at once, one rename wins.
  const spent = `${tokenFile}.${randomBytes(6).toString('hex')}.used`;
  try {
    await rename(tokenFile, spent);
  } catch {
    throw refused(req.deviceId);
  }
  await unlink(spent).catch(() => undefined);

  const credential = randomBytes(32).toString('base64url');
  const identityHash = sha256(req.identityId).toString('hex');
  const record: DeviceRecord = {
    ...old,
    technicianHash,
    identityHash,
    identitySecretHash: sha256(req.identitySecret).toString('hex'),
    credentialHash: sha256(credential).toString('hex'),
    hostname: req.hostname ?? old.hostname,
    platform: req.platform ?? old.platform,
    replacedAt: new Date().toISOString(),
  };
  await registry.write(record);
  await writeFileAtomic(registry.identityFile(identityHash), JSON.stringify({ deviceId: req.deviceId }));
  // The lost machine's identity no longer maps to the device (registering with it makes a new device).
  if (old.identityHash !== identityHash) await unlink(registry.identityFile(old.identityHash)).catch(() => undefined);
  return { record, credential, escrow };
}
