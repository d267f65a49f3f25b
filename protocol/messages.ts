// Message types and headers of the Holdfast wire protocol (docs/design.md is the written spec).
export const PROTOCOL_VERSION = 1;
export const DEFAULT_PORT = 16384;

/** Requests (agent -> server). A reply carries the request type | REPLY, or ERROR. */
export const MessageType = {
  REGISTER: 1,
  AUTH: 2,
  HAS: 3,
  PUT: 4,
  GET: 5,
  PUT_SNAPSHOT: 6,
  GET_SNAPSHOT: 7,
  LIST_SNAPSHOTS: 8,
  PUT_BLOB: 9,
  GET_BLOB: 10,
  PING: 11,
  /** Retention and prune (docs/design.md "Prune"): delete snapshots; mark, live ids, sweep. */
  FORGET: 12,
  PRUNE_BEGIN: 13,
  PRUNE_LIVE: 14,
  PRUNE_SWEEP: 15,
  /** An admin credential opens one device's data, read-only (escrow restore of a lost device). */
  ADMIN_AUTH: 16,
  /** REGISTER that takes over an existing device with a one-time replace token the admin issued. */
  REPLACE: 17,
  /** Fleet health: the agent's status after a backup attempt (protocol/health.ts). */
  REPORT: 20,
  REPLY: 0x80,
  ERROR: 0xff,
} as const;

export function messageName(type: number): string {
  const reply = type !== MessageType.ERROR && (type & MessageType.REPLY) !== 0;
  const base = reply ? type & ~MessageType.REPLY : type;
  const name = Object.entries(MessageType).find(([, v]) => v === base)?.[0] ?? `type-${base}`;
  return reply ? `${name}-REPLY` : name;
}

export interface ServerPair {
  primary: string;
  alternate: string;
}

export interface RegisterRequest {
  technicianId: string;
  /** Random id of the machine's identity file; with its secret it maps a reinstall back to the same device. */
  identityId: string;
  identitySecret: string;
  hostname?: string;
  platform?: string;
  agentVersion?: string;
}
export interface RegisterReply {
  deviceId: string;
  credential: string;
  servers: ServerPair;
  /** true when the identity was already known (reinstall): same device, fresh credential. */
  existing: boolean;
}

export interface AuthRequest {
  deviceId: string;
  credential: string;
  agentVersion?: string;
}
/** The server tells the agent its current backup-server pair on every session (address updates). */
export interface AuthReply {
  deviceId: string;
  servers: ServerPair;
}

export interface HasRequest {
  ids: string[];
}
/** Indexes (into the request's ids) of the chunks the server holds. */
export interface HasReply {
  present: number[];
}

/** Body: the chunks' ciphertexts back to back, in the order and sizes given. */
export interface PutRequest {
  ids: string[];
  sizes: number[];
}
export interface PutReply {
  stored: number;
  duplicates: number;
}

export interface GetRequest {
  ids: string[];
}
export interface GetReply {
  ids: string[];
  sizes: number[];
}

export interface PutSnapshotRequest {
  id: string;
  time: string;
}
export interface GetSnapshotRequest {
  id: string;
}
export interface SnapshotEntry {
  id: string;
  time: string;
  size: number;
}
export interface ListSnapshotsReply {
  snapshots: SnapshotEntry[];
}
export interface BlobRequest {
  name: string;
}
export interface GetBlobReply {
  found: boolean;
}

/** Error codes a server sends in an ERROR frame's header { code, message, ... }. */
export type ErrorCode =
  | 'unsupported-version'
  | 'bad-request'
  | 'unknown-technician'
  | 'rate-limited'
  | 'identity-mismatch'
  | 'bad-credential'
  | 'not-authenticated'
  | 'missing-chunk'
  | 'not-found'
  | 'forbidden'
  | 'too-large'
  | 'timeout'
  | 'stale-epoch'
  | 'busy'
  | 'quota-exceeded'
  | 'internal';

export interface ErrorReply {
  code: ErrorCode;
  message: string;
  id?: string;
}

export const CHUNK_ID_RE = /^[0-9a-f]{16,128}$/;
/** Snapshot ids are chosen by the engine (e.g. 20261125T125729Z-f87be168); safe as file names. */
export const SNAPSHOT_ID_RE = /^[0-9A-Za-z][0-9A-Za-z_-]{0,127}$/;
export const BLOB_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const DEVICE_ID_RE = /^dev-[0-9a-f]{24}$/;
/** Admin names (holdfast-server admin-credential --name). */
export const ADMIN_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
