// The agent's state folder: identity (which device this machine is), registration (device id, credential,
// assigned backup-server pair), and the last backup result. The engine keeps its device key, key escrow
// and change cache in the same folder; their paths are listed here too so every face agrees on them.
import { mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../common/fs-atomic.js';
import { JsonFileError, readJsonFile } from '../common/json-file.js';
import type { ServerPair } from '../protocol/messages.js';
import type { SkippedPath } from './engine/skipped.js';

export interface StatePaths {
  dir: string;
  /** Random identity of this machine; kept across reinstalls so re-registration finds the same device. */
  identity: string;
  /** Device id, credential and assigned server pair from registration (and later address pushes). */
  registration: string;
  /** Outcome of the last backup (status reads it). */
  lastResult: string;
  /** The engine's per-device key (agent/engine/keys.ts). */
  deviceKey: string;
  /** The engine's change cache (path, size, mtime, inode). */
  changeCache: string;
  /** The user's own backup exclusions (agent/engine/guard.ts). */
  exclusions: string;
}

export function statePaths(dir: string): StatePaths {
  return {
    dir,
    identity: join(dir, 'identity.json'),
    registration: join(dir, 'registration.json'),
    lastResult: join(dir, 'last-result.json'),
    deviceKey: join(dir, 'device.key'),
    changeCache: join(dir, 'change-cache.bin'),
    exclusions: join(dir, 'exclusions.json'),
  };
}

export interface Identity {
  identityId: string;
  identitySecret: string;
  createdAt: string;
}

export interface Registration {
  deviceId: string;
  credential: string;
  /** The device's own backup-server pair (assigned at registration, updated by the server). */
  servers: ServerPair;
  registeredAt: string;
  /** Registration server that answered. */
  registeredVia: string;
  serversUpdatedAt?: string;
}

/** How a backup ended: "completed with warnings" when it skipped paths or has other warnings (snapshot stored). */
export type BackupOutcome = 'completed' | 'completed with warnings' | 'failed';

export interface LastBackup {
  /** True when a snapshot was stored (also with warnings). */
  ok: boolean;
  outcome?: BackupOutcome;
  /** Number of warnings (skipped paths, files changed while read, protected paths kept, no profiles found). */
  warnings?: number;
  /** Paths not backed up (permission denied, locked, vanished): how many, and the first ones with their reason. */
  skipped?: { count: number; paths: SkippedPath[] };
  startedAt: string;
  finishedAt: string;
  snapshotId?: string;
  files?: number;
  bytes?: number;
  bytesUploaded?: number;
  durationMs?: number;
  /** Files that kept changing while read (stored as last read): how many, and the first paths. */
  changedDuringBackup?: { count: number; paths: string[] };
  error?: string;
  /** Protected paths an exclude matched and the backup kept anyway, per pattern (agent/engine/guard.ts). */
  protectedKept?: { pattern: string; count: number; paths: string[] }[];
}

export interface LastResult {
  lastSuccessfulBackup: string | null;
  lastBackup: LastBackup | null;
  lastError: string | null;
}

export class StateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateError';
  }
}

/** temp + fsync + rename, so a crash leaves the old or the new file, never a torn one. */
export async function writeJsonAtomic(path: string, value: unknown, mode = 0o600): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, mode);
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return (await readJsonFile(path)) as T;
  } catch (err) {
    if (!(err instanceof JsonFileError)) throw err;
    if (err.code === 'ENOENT') return undefined;
    if (err.code) throw new StateError(err.message);
    throw new StateError(`${err.message}: the file is damaged; move it aside and register again`);
  }
}

export async function readIdentity(paths: StatePaths): Promise<Identity | undefined> {
  const id = await readJson<Identity>(paths.identity);
  if (id && (typeof id.identityId !== 'string' || typeof id.identitySecret !== 'string')) {
    throw new StateError(`${paths.identity} is damaged (identityId/identitySecret missing)`);
  }
  return id;
}

export function newIdentity(): Identity {
  return { identityId: randomBytes(16).toString('hex'), identitySecret: randomBytes(32).toString('base64url'), createdAt: new Date().toISOString() };
}

export async function writeIdentity(paths: StatePaths, identity: Identity): Promise<void> {
  await writeJsonAtomic(paths.identity, identity);
}

export async function readRegistration(paths: StatePaths): Promise<Registration | undefined> {
  const reg = await readJson<Registration>(paths.registration);
  if (reg && (typeof reg.deviceId !== 'string' || typeof reg.credential !== 'string' || !reg.servers?.primary || !reg.servers?.alternate)) {
    throw new StateError(`${paths.registration} is damaged (deviceId, credential or servers missing); register again with --force`);
  }
  return reg;
}

export async function writeRegistration(paths: StatePaths, reg: Registration): Promise<void> {
  await writeJsonAtomic(paths.registration, reg);
}

/** Persists a server-pushed address pair; returns true when it changed. */
export async function updateServers(paths: StatePaths, servers: ServerPair): Promise<boolean> {
  const reg = await readRegistration(paths);
  if (!reg || (reg.servers.primary === servers.primary && reg.servers.alternate === servers.alternate)) return false;
  await writeRegistration(paths, { ...reg, servers: { primary: servers.primary, alternate: servers.alternate }, serversUpdatedAt: new Date().toISOString() });
  return true;
}

export async function readLastResult(paths: StatePaths): Promise<LastResult> {
  return (await readJson<LastResult>(paths.lastResult)) ?? { lastSuccessfulBackup: null, lastBackup: null, lastError: null };
}

/** The outcome a last-backup record stands for (records written before outcomes existed say only ok). */
export function backupOutcome(b: LastBackup): BackupOutcome {
  return b.outcome ?? (b.ok ? 'completed' : 'failed');
}

/** Records a backup outcome for `status` (errors must already be free of secrets). */
export async function recordBackupResult(paths: StatePaths, backup: LastBackup): Promise<LastResult> {
  const prev = await readLastResult(paths);
  const next: LastResult = {
    lastSuccessfulBackup: backup.ok ? backup.finishedAt : prev.lastSuccessfulBackup,
    lastBackup: backup,
    lastError: backup.ok ? null : (backup.error ?? 'backup failed'),
  };
  await writeJsonAtomic(paths.lastResult, next);
  return next;
}
