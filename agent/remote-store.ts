// The ChunkStore the agent backs up to: the wire protocol to the device's backup-server pair, with
// failover (primary unreachable or dropping mid-backup -> the alternate) and resumption (after a lost
// connection, unacknowledged chunk batches are re-sent, minus what the server already holds).
import type { TLSSocket } from 'node:tls';
import { ChunkLease, ChunkMissingError, type ChunkStore, type SnapshotInfo, type StoredChunk } from './store.js';
import type { AgentProxy } from './config-types.js';
import { openConnection, TransportError } from './transport/index.js';
import { ConnectionLostError, RemoteError, RpcConnection, type Reply } from '../protocol/connection.js';
import { recycle, splitBody, takeBuffer } from '../protocol/frame.js';
import { MessageType, type ServerPair, type SnapshotEntry } from '../protocol/messages.js';
import { endpointProblem, type LoadedAgentConfig } from './config.js';
import { readRegistration, updateServers } from './state.js';
import type { HealthReport } from '../protocol/health.js';
import { UploadLimit } from './upload-limit.js';
import { abortableDelay } from '../common/cancel.js';
import type { PrunableStore } from './prune-store.js';
import type { PruneSweepReply, PruneSweepRequest } from '../protocol/prune-messages.js';

export interface EndpointOptions {
  tlsPin: string;
  proxy?: AgentProxy;
  /** Per connection phase; default 10 s. */
  timeoutMs?: number;
  /** Mapped proxy firewall (config addressMap): applied to every pair, also one pushed later, at each dial. */
  addressMap?: Record<string, string>;
}

export interface AttemptFailure {
  endpoint: string;
  kind: string;
  message: string;
}

/** No server of the pair could be reached (each attempt is listed, without secrets). */
export class ServersUnreachableError extends Error {
  constructor(
    readonly role: string,
    readonly failures: AttemptFailure[],
  ) {
    const last = new Map<string, AttemptFailure>();
    for (const f of failures) last.set(f.endpoint, f);
    const allPin = failures.length > 0 && failures.every((f) => f.kind === 'tls-pin');
    const head = allPin ? `no ${role} server presented the pinned certificate (check tlsPin in the agent config)` : `cannot reach any ${role} server`;
    super(`${head}:\n${[...last.values()].map((f) => `  ${f.message}`).join('\n')}`);
    this.name = 'ServersUnreachableError';
  }

  /** The most telling failure kind (a pin mismatch or proxy refusal beats "connection refused"). */
  get kind(): string {
    const order = ['tls-pin', 'proxy-auth', 'proxy-refused', 'proxy-unreachable', 'proxy-error', 'tls-error', 'timeout', 'refused'];
    for (const k of order) if (this.failures.some((f) => f.kind === k)) return k;
    return this.failures[0]?.kind ?? 'network';
  }
}

/** The server refused the request (bad credential, unknown Technician ID, ...). */
export class ServerRefusedError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** The ERROR header's other fields (e.g. retryAfterMs of rate-limited). */
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ServerRefusedError';
  }
}

export class NotRegisteredError extends Error {
  constructor(stateDir: string) {
    super(`this agent is not registered yet (no registration in ${stateDir}): run "holdfast-agent register"`);
    this.name = 'NotRegisteredError';
  }
}

const PERMANENT_KINDS = new Set(['tls-pin', 'proxy-auth', 'bad-address']);

/**
 * Opens a pinned TLS connection to the first endpoint that answers and runs `handshake` on it.
 * Transport failures and lost connections move on to the next endpoint; a RemoteError from the
 * handshake (the server said no) ends the attempt at once. `signal` abandons the attempt: no further tries,
 * and a connection that comes up after all is closed, never handed out (it would keep the process alive).
 */
export async function connectFirst<T>(
  endpoints: string[],
  options: EndpointOptions,
  handshake: (conn: RpcConnection) => Promise<T>,
  role: string,
  rounds = 1,
  failures: AttemptFailure[] = [],
  signal?: AbortSignal,
): Promise<{ conn: RpcConnection; endpoint: string; value: T }> {
  const unique = [...new Set(endpoints)];
  for (let round = 0; round < rounds; round++) {
    if (round > 0) {
      // Waiting does not fix a wrong pin, proxy password or address: give up at once.
      const last = failures.slice(-unique.length);
      if (last.length === unique.length && last.every((f) => PERMANENT_KINDS.has(f.kind))) break;
      await abortableDelay(Math.min(4000, 500 * 4 ** (round - 1)), signal);
    }
    for (const endpoint of unique) {
      signal?.throwIfAborted();
      let socket: TLSSocket | undefined;
      let conn: RpcConnection | undefined;
      try {
        socket = await openConnection(endpoint, options);
        conn = new RpcConnection(socket, endpoint);
        const value = await handshake(conn);
        signal?.throwIfAborted();
        return { conn, endpoint, value };
      } catch (err) {
        conn?.close();
        socket?.destroy();
        if (signal?.aborted) throw signal.reason;
        if (err instanceof RemoteError) throw new ServerRefusedError(err.code, `${endpoint}: ${err.message}`, err.detail);
        const kind = err instanceof TransportError ? err.kind : err instanceof ConnectionLostError ? 'closed' : 'network';
        const message = err instanceof TransportError || err instanceof ConnectionLostError ? err.message : `${endpoint}: ${(err as Error).message}`;
        failures.push({ endpoint, kind, message });
      }
    }
  }
  throw new ServersUnreachableError(role, failures);
}

export interface RemoteStoreOptions extends EndpointOptions {
  servers: ServerPair;
  deviceId: string;
  credential: string;
  /** An admin's name: `credential` is that admin's (agent/admin-files.ts), the session reads `deviceId`'s data (ADMIN_AUTH). */
  admin?: string;
  /** Called when the server pushes a new backup-server pair (persist it). */
  onServers?: (servers: ServerPair) => Promise<void> | void;
  /** Progress/failover notes, one line each, no secrets. */
  log?: (line: string) => void;
  /** Rounds over both servers before an operation gives up; default 3. */
  retryRounds?: number;
  /** Reconnects per operation after lost connections; default 6. */
  maxReconnects?: number;
  agentVersion?: string;
  /** Upload bandwidth limit (agent/upload-limit.ts); none: as fast as the link goes. */
  uploadLimit?: UploadLimit;
}

export interface RemoteStoreStats {
  /** Server currently (or last) connected. */
  endpoint: string | undefined;
  connections: number;
  failovers: number;
  chunksSent: number;
  bytesSent: number;
  /** Chunks of interrupted batches the server turned out to hold already (not re-sent). */
  chunksSkippedOnResume: number;
}

const PUT_BATCH_BYTES = 16 * 1024 * 1024;
const PUT_BATCH_CHUNKS = 4096;
const ID_BATCH = 8192;
const PUT_PARALLEL = 4;

export class RemoteStore implements ChunkStore, PrunableStore {
  private conn: RpcConnection | undefined;
  private connecting: Promise<RpcConnection> | undefined;
  private avoid: string | undefined;
  private closed = false;
  /** Aborted by close(): connection attempts still running stop, and one that succeeds anyway is not kept. */
  private readonly closing = new AbortController();
  private servers: ServerPair;
  /** The prune epoch of the first reply since the last snapshot: the epoch the backup under way began in. */
  private epoch: number | undefined;
  readonly stats: RemoteStoreStats = { endpoint: undefined, connections: 0, failovers: 0, chunksSent: 0, bytesSent: 0, chunksSkippedOnResume: 0 };

  constructor(private readonly options: RemoteStoreOptions) {
    this.servers = { ...options.servers };
  }

  /** The pair in use (updated when the server pushes a new one). */
  get currentServers(): ServerPair {
    return { ...this.servers };
  }

  /** Connects and authenticates now (otherwise the first operation does). */
  async connect(): Promise<void> {
    await this.connection();
  }

  private connection(): Promise<RpcConnection> {
    if (this.closed) return Promise.reject(new Error('remote store is closed'));
    if (this.conn && !this.conn.closed) return Promise.resolve(this.conn);
    // Dropped while no request was waiting on it: the same failover (and message) as a drop mid-request.
    if (this.conn) this.lost(this.conn, new ConnectionLostError(this.conn.endpoint, this.conn.closeReason ?? 'closed'));
    this.connecting ??= this.establish().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async establish(): Promise<RpcConnection> {
    const { primary, alternate } = this.servers;
    const order = this.avoid === primary ? [alternate, primary] : [primary, alternate];
    const { conn, endpoint, value } = await connectFirst(
      order,
      this.options,
      async (c) => {
        const { deviceId, credential, admin, agentVersion } = this.options;
        const auth =
          admin === undefined
            ? c.request(MessageType.AUTH, { deviceId, credential, agentVersion })
            : c.request(MessageType.ADMIN_AUTH, { admin, credential, deviceId });
        return (await auth).header;
      },
      'backup',
      this.options.retryRounds ?? 3,
      [],
      this.closing.signal,
    );
    if (this.stats.endpoint !== undefined && this.stats.endpoint !== endpoint) {
      this.stats.failovers++;
      this.options.log?.(`switched to backup server ${endpoint}`);
    }
    this.stats.endpoint = endpoint;
    this.stats.connections++;
    this.conn = conn;
    const pushed = value.servers as ServerPair | undefined;
    const usable = pushed !== undefined && endpointProblem(pushed.primary) === undefined && endpointProblem(pushed.alternate) === undefined;
    if (usable && (pushed.primary !== this.servers.primary || pushed.alternate !== this.servers.alternate)) {
      this.options.log?.(`server assigned a new backup-server pair: primary ${pushed.primary}, alternate ${pushed.alternate}`);
      this.servers = { primary: pushed.primary, alternate: pushed.alternate };
      await this.options.onServers?.(this.servers);
    }
    return conn;
  }

  private readonly reported = new WeakSet<RpcConnection>();

  private lost(conn: RpcConnection, err: Error): void {
    if (this.conn === conn) this.conn = undefined;
    this.avoid = conn.endpoint;
    // Every request in flight fails with the connection; say it once.
    if (!this.reported.has(conn)) {
      this.reported.add(conn);
      this.options.log?.(`${err.message}; trying the other server`);
    }
  }

  /** Runs `work` on the current connection; on a lost one, reconnects (failing over) and runs it again. */
  private async withReconnect<T>(work: (conn: RpcConnection, attempt: number) => Promise<T>): Promise<T> {
    const maxReconnects = this.options.maxReconnects ?? 6;
    for (let attempt = 0; ; attempt++) {
      const conn = await this.connection();
      try {
        return await work(conn, attempt);
      } catch (err) {
        if (err instanceof ConnectionLostError && attempt < maxReconnects && !this.closed) {
          this.lost(conn, err);
          continue;
        }
        throw translate(err);
      }
    }
  }

  /** One request with reconnect + failover on a lost connection. Requests here are idempotent. */
  private call(type: number, header: object, body?: Uint8Array | Uint8Array[]): Promise<Reply> {
    return this.withReconnect((conn) => conn.request(type, header, body));
  }

  async has(ids: string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (let i = 0; i < ids.length; i += ID_BATCH) {
      const slice = ids.slice(i, i + ID_BATCH);
      const { header } = await this.call(MessageType.HAS, { ids: slice });
      this.noteEpoch(header.epoch);
      for (const idx of header.present as number[]) out.add(slice[idx]);
    }
    return out;
  }

  async put(chunks: StoredChunk[]): Promise<void> {
    const batches: StoredChunk[][] = [];
    let cur: StoredChunk[] = [];
    let bytes = 0;
    const batchBytes = Math.min(PUT_BATCH_BYTES, this.options.uploadLimit?.batchBytes ?? PUT_BATCH_BYTES);
    for (const c of chunks) {
      if (cur.length && (bytes + c.data.byteLength > batchBytes || cur.length >= PUT_BATCH_CHUNKS)) {
        batches.push(cur);
        cur = [];
        bytes = 0;
      }
      cur.push(c);
      bytes += c.data.byteLength;
    }
    if (cur.length) batches.push(cur);
    let next = 0;
    let failed = false;
    // Once a batch fails, put() has failed: the other loops stop instead of sending on (or reconnecting) for nothing.
    const worker = async () => {
      while (next < batches.length && !failed) {
        await this.putBatch(batches[next++]).catch((err: unknown) => {
          failed = true;
          throw err;
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(PUT_PARALLEL, batches.length) }, worker));
  }

  private async putBatch(batch: StoredChunk[]): Promise<void> {
    let todo = batch;
    await this.withReconnect(async (conn, attempt) => {
      if (attempt > 0) {
        // Resuming after a lost connection: the server may have committed this batch (or part of it).
        const { header } = await conn.request(MessageType.HAS, { ids: todo.map((c) => c.id) });
        const held = new Set((header.present as number[]).map((i) => todo[i].id));
        this.stats.chunksSkippedOnResume += held.size;
        todo = todo.filter((c) => !held.has(c.id));
        if (todo.length === 0) return;
      }
      await this.paced(todo.reduce((n, c) => n + c.data.byteLength, 0));
      await conn.request(
        MessageType.PUT,
        { ids: todo.map((c) => c.id), sizes: todo.map((c) => c.data.byteLength) },
        todo.map((c) => c.data),
      );
      this.stats.chunksSent += todo.length;
      for (const c of todo) this.stats.bytesSent += c.data.byteLength;
    });
  }

  async get(ids: string[]): Promise<ChunkLease> {
    const views: Uint8Array[] = [];
    /** Replies assembled in a buffer of their own (Reply.exclusive): the lease may move that memory as it is. */
    const own: ArrayBuffer[] = [];
    let at = 0;
    while (at < ids.length) {
      const slice = ids.slice(at, at + ID_BATCH);
      const { header, body, exclusive } = await this.call(MessageType.GET, { ids: slice });
      if (exclusive) own.push(body.buffer as ArrayBuffer);
      const got = header.ids as string[];
      const parts = splitBody(body, header.sizes as number[]);
      if (got.length === 0) throw new ServerRefusedError('bad-request', 'server returned no chunks for a GET');
      got.forEach((id, i) => {
        if (id !== slice[i]) throw new ServerRefusedError('bad-request', `server returned chunk ${id} where ${slice[i]} was asked for`);
        views.push(parts[i]);
      });
      at += got.length;
    }
    // Released or moved memory goes back to the frame pool, which later replies (and copies) are received into.
    return new ChunkLease(ids, views, { own, alloc: (size) => takeBuffer(size).buffer as ArrayBuffer, recycle: (m) => recycle(Buffer.from(m)) });
  }

  /** Waits until `bytes` may go out under the upload limit. */
  private paced(bytes: number): Promise<void> {
    return this.options.uploadLimit?.take(bytes, this.closing.signal) ?? Promise.resolve();
  }

  private noteEpoch(epoch: unknown): void {
    if (typeof epoch === 'number') this.epoch ??= epoch;
  }

  async putSnapshot(id: string, time: string, data: Uint8Array): Promise<void> {
    const epoch = this.epoch;
    // Refused or not, the next snapshot's epoch is that of the replies after this one (a stale-epoch retry re-checks).
    this.epoch = undefined;
    await this.paced(data.byteLength);
    await this.call(MessageType.PUT_SNAPSHOT, { id, time, ...(epoch !== undefined && { epoch }) }, data);
  }

  async forgetSnapshots(ids: string[]): Promise<string[]> {
    const deleted: string[] = [];
    for (let i = 0; i < ids.length; i += ID_BATCH)
      deleted.push(...((await this.call(MessageType.FORGET, { ids: ids.slice(i, i + ID_BATCH) })).header.deleted as string[]));
    return deleted;
  }

  async pruneBegin(): Promise<string> {
    return (await this.call(MessageType.PRUNE_BEGIN, {})).header.pruneId as string;
  }

  async pruneLive(pruneId: string, ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += ID_BATCH * 8) await this.call(MessageType.PRUNE_LIVE, { pruneId, ids: ids.slice(i, i + ID_BATCH * 8) });
  }

  async pruneSweep(pruneId: string, request: Omit<PruneSweepRequest, 'pruneId'>): Promise<PruneSweepReply> {
    return (await this.call(MessageType.PRUNE_SWEEP, { pruneId, ...request })).header as unknown as PruneSweepReply;
  }

  async getSnapshot(id: string): Promise<Uint8Array> {
    return (await this.call(MessageType.GET_SNAPSHOT, { id })).body;
  }

  async listSnapshots(): Promise<SnapshotInfo[]> {
    const { header } = await this.call(MessageType.LIST_SNAPSHOTS, {});
    this.noteEpoch(header.epoch);
    return (header.snapshots as SnapshotEntry[]).map((s) => ({ id: s.id, time: s.time, size: s.size }));
  }

  async putBlob(name: string, data: Uint8Array): Promise<void> {
    await this.paced(data.byteLength);
    await this.call(MessageType.PUT_BLOB, { name }, data);
  }

  async getBlob(name: string): Promise<Uint8Array | undefined> {
    const { header, body } = await this.call(MessageType.GET_BLOB, { name });
    return header.found ? body : undefined;
  }

  /** Fleet health: how the last backup attempt went (protocol/health.ts). */
  async report(report: HealthReport): Promise<void> {
    await this.call(MessageType.REPORT, { report });
  }

  async ping(): Promise<void> {
    await this.call(MessageType.PING, {});
  }

  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort(new Error('remote store is closed'));
    this.conn?.close();
    this.conn = undefined;
  }
}

function translate(err: unknown): Error {
  if (err instanceof RemoteError) {
    if (err.code === 'missing-chunk' && typeof err.detail.id === 'string') return new ChunkMissingError(err.detail.id);
    return new ServerRefusedError(err.code, err.message);
  }
  return err as Error;
}

/** The remote store for a registered agent; pushed address pairs are persisted in its state folder. */
export async function openRemoteStore(
  loaded: LoadedAgentConfig,
  options: { log?: (line: string) => void; timeoutMs?: number; retryRounds?: number; agentVersion?: string; uploadLimitKiBps?: number } = {},
): Promise<RemoteStore> {
  const reg = await readRegistration(loaded.state);
  if (!reg) throw new NotRegisteredError(loaded.stateDir);
  return new RemoteStore({
    servers: reg.servers,
    deviceId: reg.deviceId,
    credential: reg.credential,
    tlsPin: loaded.config.tlsPin,
    proxy: loaded.config.proxy,
    addressMap: loaded.config.addressMap,
    timeoutMs: options.timeoutMs,
    retryRounds: options.retryRounds,
    agentVersion: options.agentVersion,
    log: options.log,
    ...(options.uploadLimitKiBps && { uploadLimit: new UploadLimit(options.uploadLimitKiBps) }),
    onServers: async (servers) => {
      await updateServers(loaded.state, servers);
    },
  });
}
