// One agent connection: decode frames, authenticate, serve storage requests for that device only.
import type { TLSSocket } from 'node:tls';
import {
  encodeFrame,
  FrameDecoder,
  FrameTooLargeError,
  MAX_FRAME_BYTES,
  ProtocolError,
  recycle,
  splitBody,
  takeBuffer,
  type Frame,
} from '../protocol/frame.js';
import { FrameWriter } from '../protocol/frame-writer.js';
import { takeReusedReads } from '../protocol/reused-reads.js';
import { BLOB_NAME_RE, CHUNK_ID_RE, MessageType, PROTOCOL_VERSION, SNAPSHOT_ID_RE, type ErrorCode, type ServerPair } from '../protocol/messages.js';
import { RegistrationError, type DeviceRegistry } from './storage/registry.js';
import type { DeviceStore } from './storage/device-store.js';
import type { ConnectionTicket } from './connection-gate.js';
import type { ConnectionLimits } from './limits.js';
import { addressKey, RateLimitedError, type ConnectionRegistrations, type RegistrationThrottle } from './registration-throttle.js';
import { hasUnsafeText } from '../common/terminal-text.js';
import { RefusedRequest } from './refused.js';
import type { QuotaGuard } from './quota.js';
import { receiveHealthReport } from './health/receive-report.js';
import { ADMIN_READS, adminAuthenticate, replaceRequest } from './admin/admin-requests.js';
import { PRUNE_MESSAGE_TYPES, PruneRequestError, PruneRequests } from './prune-requests.js';
import { pruneEpoch, putSnapshotChecked } from './storage/prune-state.js';
import { PutStreams, type PutBodyStream } from './put-stream.js';

export interface SessionContext {
  registry: DeviceRegistry;
  throttle: RegistrationThrottle;
  openStore(deviceId: string): Promise<DeviceStore>;
  log(line: string): void;
  onNewDevice(): void;
  /** Storage quotas (server/quota.ts): every upload is admitted before anything of it is written. */
  quota?: QuotaGuard;
}

class RequestError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Requests one connection may have started and not yet answered (reply written) at once. */
const MAX_IN_FLIGHT = 16;
const MAX_IDS = 100_000;
/** GET replies stay below the frame limit; the agent asks again for the rest. */
const GET_REPLY_BYTES = 32 * 1024 * 1024;
/** After a connection-level ERROR, how long the peer has to take it before the socket is destroyed. */
const GOODBYE_MS = 1000;
const EMPTY = Buffer.alloc(0);

export type SessionLimits = Pick<ConnectionLimits, 'preAuthFrameBytes' | 'connectionMemoryBytes' | 'frameTimeoutMs' | 'idleTimeoutMs'>;

/** The session closed while a request waited for room: that request is dropped, not answered. */
const CLOSED = new Error('session closed');

export interface SessionCounters {
  chunksReceived: number;
  chunksStored: number;
  chunksDuplicate: number;
  bytesReceived: number;
  chunksSent: number;
}

/**
 * Memory: every byte the connection holds counts against limits.connectionMemoryBytes — the decoder's unfinished
 * frame and held-back input, the requests started and not yet answered, the replies not yet written. The
 * socket is read only while there is room; a request is started only while there is room (or none other is in
 * flight), and holds its slot until its reply is written, not merely queued. A GET reply (or a snapshot or
 * blob read) waits for room before it is built. A lone frame or reply larger than the budget still goes
 * through, so one connection holds at most about the budget plus one frame.
 *
 * Time: a frame must arrive whole within limits.frameTimeoutMs of its first byte (time the server spends not
 * reading, by its own choice, does not count), a reply must be taken by the peer within the same time once it
 * started going out, and a connection with nothing in progress is closed after limits.idleTimeoutMs without
 * a whole frame in either direction. Single bytes never reset a deadline.
 */
export class Session {
  private readonly decoder = new FrameDecoder();
  private readonly writer: FrameWriter;
  private deviceId: string | undefined;
  /** The authenticated device's fleet: the hash of its Technician ID. */
  private fleet = '';
  private store: DeviceStore | undefined;
  /** The admin whose read-only session this is (ADMIN_AUTH), else undefined. */
  private admin: string | undefined;
  private readonly prune = new PruneRequests((line) => this.ctx.log(line));
  private inFlight = 0;
  /** Size of the requests started and not yet answered. */
  private requestBytes = 0;
  /** Size of the replies reserved, built or queued, and not yet written. */
  private replyBytes = 0;
  private readonly waiting: Array<{ bytes: number; go: () => void }> = [];
  private paused = false;
  private pausedAt = 0;
  /** When the frame now arriving started (shifted by the time reading was paused); undefined between frames. */
  private frameStartedAt: number | undefined;
  /** When the last whole frame came in or went out. */
  private lastProgress = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private leaving = false;
  private readonly registrations: ConnectionRegistrations = { attempts: 0 };
  /** Large PUT bodies go to disk as they arrive (put-stream.ts); a streamed frame holds none of its body. */
  private readonly putStreams = new PutStreams(() => this.flow());
  readonly counters: SessionCounters = { chunksReceived: 0, chunksStored: 0, chunksDuplicate: 0, bytesReceived: 0, chunksSent: 0 };

  constructor(
    private readonly socket: TLSSocket,
    private readonly ctx: SessionContext,
    readonly peer: string,
    private readonly limits: SessionLimits,
    private readonly ticket?: ConnectionTicket,
  ) {
    this.decoder.maxFrameBytes = limits.preAuthFrameBytes;
    // PUT bodies stream to disk only where nothing can refuse them after they landed: not on an admin's read-only
    // session, and not under storage quotas (checked against the whole upload before a byte is written).
    this.decoder.bodySink = (head) => (this.admin || this.ctx.quota?.active ? undefined : this.putStreams.offer(this.store, head, MessageType.PUT));
    this.writer = new FrameWriter(socket);
    if (ticket) ticket.onDeadline = (message) => this.leave('timeout', message);
    socket.on('data', (data: Buffer) => this.onData(data, false));
    // Reads into the socket's one reused buffer (set up in index.ts): the decoder copies out what it keeps.
    takeReusedReads(socket, (data) => this.onData(data, true));
    socket.on('error', () => undefined);
    socket.on('close', () => this.onClose());
    this.tick();
  }

  /** Closed, or closing: nothing more is read or answered. */
  private get ending(): boolean {
    return this.closed || this.leaving;
  }

  private onData(data: Buffer, reused: boolean): void {
    if (this.ending) return;
    this.decode(data, reused);
  }

  /** Decodes (and starts) as many requests as there is room for; the rest of the bytes wait in the decoder. */
  private decode(data: Buffer, reused: boolean): void {
    let frames: Frame[];
    // A frame that fits the room left is allocated whole when its length arrives; a larger one grows as it arrives.
    this.decoder.upfrontBytes = Math.max(0, this.limits.connectionMemoryBytes - this.requestBytes - this.replyBytes);
    try {
      frames = this.decoder.push(data, reused, this.room());
    } catch (err) {
      let message = (err as Error).message;
      if (err instanceof FrameTooLargeError && !this.store) message += ' before authentication (limits.preAuthFrameBytes)';
      this.leave(err instanceof FrameTooLargeError ? 'too-large' : 'bad-request', `protocol error: ${message}`);
      return;
    }
    const now = performance.now();
    if (frames.length > 0) {
      this.lastProgress = now;
      this.frameStartedAt = undefined;
    }
    if (!this.decoder.midFrame) this.frameStartedAt = undefined;
    else this.frameStartedAt ??= now;
    for (const f of frames) {
      this.inFlight++;
      this.requestBytes += heldBytes(f);
      void this.handle(f);
    }
    this.flow();
  }

  /** Requests that may start now. */
  private room(): number {
    if (this.inFlight >= MAX_IN_FLIGHT) return 0;
    if (this.inFlight > 0 && this.requestBytes + this.replyBytes >= this.limits.connectionMemoryBytes) return 0;
    return MAX_IN_FLIGHT - this.inFlight;
  }

  /** Starts held-back requests when there is room, and reads from the socket only while there is. */
  private flow(): void {
    if (this.ending) return;
    if (this.decoder.holding && this.room() > 0) return this.decode(EMPTY, false);
    const held = this.requestBytes + this.replyBytes;
    const read =
      this.room() > 0 && !this.decoder.holding && !this.decoder.blocked && (held === 0 || held + this.decoder.heldBytes < this.limits.connectionMemoryBytes);
    if (read === !this.paused) return;
    const now = performance.now();
    if (read) {
      if (this.frameStartedAt !== undefined) this.frameStartedAt += now - this.pausedAt;
      this.paused = false;
      this.socket.resume();
    } else {
      this.pausedAt = now;
      this.paused = true;
      this.socket.pause();
    }
  }

  /** Resolves once a reply of `bytes` fits the budget (at once when no other reply is held), the bytes counted. */
  private async reserve(bytes: number): Promise<void> {
    await new Promise<void>((go) => {
      this.waiting.push({ bytes, go });
      this.grant();
    });
    if (this.ending) throw CLOSED;
  }

  private grant(): void {
    while (this.waiting.length > 0) {
      const w = this.waiting[0];
      if (!this.ending && this.replyBytes > 0 && this.replyBytes + this.requestBytes + w.bytes > this.limits.connectionMemoryBytes) return;
      this.waiting.shift();
      this.replyBytes += w.bytes;
      w.go();
    }
  }

  /** Re-armed lazily: it fires at the next deadline, or after the shortest limit, and then looks again. */
  private readonly tick = (): void => {
    this.timer = undefined;
    if (this.closed) return;
    const now = performance.now();
    const due = this.deadline();
    if (due && due.at <= now) {
      if (due.stalled) {
        this.ctx.log(`${this.peer}: closing: ${due.message}`);
        this.socket.destroy();
      } else this.leave('timeout', due.message);
      return;
    }
    const wait = Math.min(due ? due.at - now : Number.POSITIVE_INFINITY, this.limits.frameTimeoutMs, this.limits.idleTimeoutMs);
    this.timer = setTimeout(this.tick, Math.max(1, Math.ceil(wait)));
  };

  /** The earliest deadline the connection is running against now, and what it means. */
  private deadline(): { at: number; message: string; stalled?: boolean } | undefined {
    const s = (ms: number) => `${ms / 1000} s`;
    const writing = this.writer.writingSince;
    if (writing !== undefined)
      return {
        at: writing + this.limits.frameTimeoutMs,
        message: `a reply was not taken within ${s(this.limits.frameTimeoutMs)} (limits.frameTimeoutMs)`,
        stalled: true,
      };
    if (this.frameStartedAt !== undefined && !this.paused)
      return {
        at: this.frameStartedAt + this.limits.frameTimeoutMs,
        message: `a frame did not arrive whole within ${s(this.limits.frameTimeoutMs)} (limits.frameTimeoutMs)`,
      };
    if (this.inFlight === 0 && this.decoder.heldBytes === 0)
      return { at: this.lastProgress + this.limits.idleTimeoutMs, message: `no whole frame for ${s(this.limits.idleTimeoutMs)} (limits.idleTimeoutMs)` };
    return undefined;
  }

  /** Ends the connection with a connection-level ERROR (request id 0) saying why, and stops reading from it. */
  private leave(code: ErrorCode, message: string): void {
    if (this.ending) return;
    this.leaving = true;
    this.ctx.log(`${this.peer}: closing: ${message}`);
    this.socket.pause();
    this.grant();
    if (this.writer.writingSince !== undefined) {
      this.socket.destroy();
      return;
    }
    this.writer.write(encodeFrame(MessageType.ERROR, 0, { code, message }));
    this.writer.end();
    setTimeout(() => this.socket.destroy(), GOODBYE_MS).unref();
  }

  private onClose(): void {
    this.closed = true;
    this.prune.end();
    clearTimeout(this.timer);
    this.putStreams.abortAll();
    this.grant();
    if (this.deviceId) {
      const c = this.counters;
      this.ctx.log(
        `session end ${this.deviceId}: received ${c.chunksReceived} chunks (${c.chunksStored} new, ${c.chunksDuplicate} duplicate, ${c.bytesReceived} ` +
          `bytes), sent ${c.chunksSent} chunks`,
      );
    }
  }

  private async handle(frame: Frame): Promise<void> {
    let reserved = 0;
    const reserve = async (bytes: number) => {
      await this.reserve(bytes);
      reserved += bytes;
    };
    let parts: Buffer[];
    let written: (() => void) | undefined;
    let end = false;
    try {
      if (frame.version !== PROTOCOL_VERSION) {
        throw new RequestError('unsupported-version', `this server speaks protocol version ${PROTOCOL_VERSION}, not ${frame.version}`);
      }
      if (this.admin !== undefined && !ADMIN_READS.has(frame.type)) throw new RequestError('forbidden', 'an admin session is read-only');
      if (frame.type === MessageType.GET) {
        const whole = await this.getReply(frame, reserve);
        parts = [whole];
        written = () => recycle(whole);
      } else {
        const { header, body } = await this.dispatch(frame, reserve);
        parts = encodeFrame(frame.type | MessageType.REPLY, frame.requestId, header, body);
      }
    } catch (err) {
      if (err === CLOSED) return;
      let code: ErrorCode = 'internal';
      let message = 'internal server error';
      let extra: Record<string, unknown> = {};
      if (err instanceof RequestError || err instanceof RefusedRequest) ({ code, message, extra } = err);
      else if (err instanceof RateLimitedError)
        ({ code, message, extra } = { code: err.code, message: err.message, extra: { retryAfterMs: err.retryAfterMs } });
      else if (err instanceof RegistrationError || err instanceof PruneRequestError) ({ code, message } = err);
      else if (err instanceof ProtocolError) ({ code, message } = { code: 'bad-request' as const, message: err.message });
      else this.ctx.log(`${this.peer}: internal error on ${frame.type}: ${(err as Error).message}`);
      parts = encodeFrame(MessageType.ERROR, frame.requestId, { code, message, ...extra });
      // A failed or refused registration ends the connection: every further guess costs a new TLS handshake.
      end =
        code === 'unsupported-version' ||
        ((frame.type === MessageType.REGISTER || frame.type === MessageType.REPLACE || frame.type === MessageType.ADMIN_AUTH) && code !== 'bad-request');
    } finally {
      // The store has written the body (or the request failed): its buffer may take the next frame.
      this.decoder.release(frame);
      this.requestBytes -= heldBytes(frame);
    }
    if (this.ending) {
      written?.();
      return;
    }
    let bytes = 0;
    for (const p of parts) bytes += p.length;
    this.replyBytes += bytes - reserved;
    this.writer.write(parts, () => {
      written?.();
      this.replyBytes -= bytes;
      this.inFlight--;
      this.lastProgress = performance.now();
      this.grant();
      this.flow();
    });
    if (end) {
      // Sends what is queued, then closes; requests that arrive meanwhile are not served.
      this.leaving = true;
      this.writer.end();
    }
  }

  /**
   * A whole GET reply frame in one buffer (a spare one from frame.ts), the chunks read straight into it, runs
   * of neighbours in a pack file with one read: no Buffer per chunk, no join before TLS encrypts it.
   */
  private async getReply(frame: Frame, reserve: (bytes: number) => Promise<void>): Promise<Buffer> {
    const store = this.authed();
    const ids = idList(frame.header.ids, 'ids', CHUNK_ID_RE);
    await pruneEpoch(store);
    const r = await store.locate(ids, GET_REPLY_BYTES);
    if ('missing' in r) throw new RequestError('missing-chunk', `chunk ${r.missing} is not stored for this device`, { id: r.missing });
    const sizes = r.locs.map((l) => l.length);
    let bodyLen = 0;
    for (const n of sizes) bodyLen += n;
    const [head, json] = encodeFrame(frame.type | MessageType.REPLY, frame.requestId, { ids: ids.slice(0, sizes.length), sizes });
    head.writeUInt32BE(head.readUInt32BE(0) + bodyLen, 0);
    await reserve(head.length + json.length + bodyLen);
    const whole = takeBuffer(head.length + json.length + bodyLen);
    head.copy(whole, 0);
    json.copy(whole, head.length);
    try {
      await store.readInto(r.locs, whole, head.length + json.length);
    } catch (err) {
      recycle(whole);
      throw err;
    }
    this.counters.chunksSent += sizes.length;
    return whole;
  }

  /** Admits an upload under the storage quotas (none configured: at once); call the result once it is stored. */
  private admit(upload: { bytes: number } | { ids: string[]; sizes: unknown[] }): Promise<() => void> {
    return this.ctx.quota?.admit(this.deviceId!, this.fleet, upload) ?? Promise.resolve(() => undefined);
  }

  private authed(): DeviceStore {
    if (!this.store) throw new RequestError('not-authenticated', 'authenticate first (AUTH with device id and credential)');
    return this.store;
  }

  /** REGISTER, throttled (registration-throttle.ts) before the Technician ID is even looked at. */
  private async register(h: Record<string, unknown>): Promise<object> {
    const technicianId = str(h.technicianId, 'technicianId', 256);
    const identityId = str(h.identityId, 'identityId', 128);
    const identitySecret = str(h.identitySecret, 'identitySecret', 256);
    const hostname = optText(h.hostname, 'hostname', 255);
    const platform = optText(h.platform, 'platform', 64);
    const address = addressKey(this.socket.remoteAddress);
    const throttle = this.ctx.throttle;
    throttle.admit(address, this.registrations);
    try {
      const { record, credential, existing } = await this.ctx.registry.register(
        { technicianId, identityId, identitySecret, hostname, platform },
        {
          known: (technicianHash) => throttle.technicianAttempt(technicianHash),
          beforeCreate: (technicianHash) => throttle.newDevice(address, technicianHash),
        },
      );
      if (!existing) this.ctx.onNewDevice();
      this.ctx.log(`${this.peer}: ${existing ? 're-registered existing' : 'registered new'} device ${record.deviceId}`);
      return { deviceId: record.deviceId, credential, servers: record.servers, existing };
    } catch (err) {
      if (err instanceof RegistrationError && (err.code === 'unknown-technician' || err.code === 'identity-mismatch')) {
        const lockout = throttle.failure(address);
        if (lockout)
          this.ctx.log(
            `${this.peer}: registrations from ${address} locked out for ${Math.round(lockout / 1000)} s after repeated failures (limits.registration)`,
          );
      }
      throw err;
    }
  }

  /** `reserve`: waits for room for a reply before a read of unknown size (the whole budget, settled when sent). */
  private async dispatch(frame: Frame, reserve: (bytes: number) => Promise<void>): Promise<{ header: object; body?: Buffer[] }> {
    const h = frame.header;
    switch (frame.type) {
      case MessageType.PING:
        return { header: { time: new Date().toISOString() } };
      case MessageType.REGISTER:
        return { header: await this.register(h) };
      case MessageType.AUTH: {
        const rec = await this.ctx.registry.authenticate(str(h.deviceId, 'deviceId', 64), str(h.credential, 'credential', 256));
        this.deviceId = rec.deviceId;
        this.fleet = rec.technicianHash;
        this.admin = undefined;
        this.store = await this.ctx.openStore(rec.deviceId);
        this.decoder.maxFrameBytes = MAX_FRAME_BYTES;
        this.ticket?.authenticated();
        this.ctx.log(`${this.peer}: session start ${rec.deviceId}`);
        return { header: { deviceId: rec.deviceId, servers: rec.servers satisfies ServerPair } };
      }
      case MessageType.ADMIN_AUTH: {
        const { admin, deviceId } = await adminAuthenticate(this.ctx, h);
        this.deviceId = deviceId;
        this.admin = admin;
        this.store = await this.ctx.openStore(deviceId);
        this.decoder.maxFrameBytes = MAX_FRAME_BYTES;
        this.ticket?.authenticated();
        this.ctx.log(`${this.peer}: admin session start ${deviceId} (admin ${admin}, read-only)`);
        return { header: { deviceId, readOnly: true } };
      }
      case MessageType.REPLACE:
        return replaceRequest(this.ctx, h, this.socket.remoteAddress, this.registrations, this.peer);
      case MessageType.HAS: {
        const store = this.authed();
        const ids = idList(h.ids, 'ids', CHUNK_ID_RE);
        const epoch = await pruneEpoch(store);
        const present = await store.has(ids);
        const idx: number[] = [];
        present.forEach((p, i) => {
          if (p) idx.push(i);
        });
        return { header: { present: idx, epoch } };
      }
      case MessageType.PUT: {
        const store = this.authed();
        const ids = idList(h.ids, 'ids', CHUNK_ID_RE);
        const sizes = h.sizes;
        if (!Array.isArray(sizes) || sizes.length !== ids.length) throw new RequestError('bad-request', 'sizes must list one size per id');
        const streamed = frame.streamed as PutBodyStream | undefined;
        let r: { stored: number; duplicates: number };
        try {
          await pruneEpoch(store);
          const release = await this.admit({ ids, sizes });
          r = await (streamed ? this.putStreams.commit(store, streamed) : store.put(ids, splitBody(frame.body, sizes as number[]))).finally(release);
        } catch (err) {
          // Refused before or during the commit: the region a streamed body landed in is given up (never indexed).
          streamed?.abort();
          throw err;
        }
        this.counters.chunksReceived += ids.length;
        this.counters.chunksStored += r.stored;
        this.counters.chunksDuplicate += r.duplicates;
        this.counters.bytesReceived += streamed ? streamed.bodyBytes : frame.body.length;
        return { header: r };
      }
      case MessageType.PUT_SNAPSHOT: {
        const store = this.authed();
        const id = idOf(h.id, 'id', SNAPSHOT_ID_RE);
        const time = str(h.time, 'time', 64);
        if (Number.isNaN(Date.parse(time))) throw new RequestError('bad-request', `time ${JSON.stringify(time)} is not an ISO 8601 date`);
        const release = await this.admit({ bytes: frame.body.length });
        await putSnapshotChecked(store, id, time, frame.body, h.epoch).finally(release);
        return { header: {} };
      }
      case MessageType.GET_SNAPSHOT: {
        const store = this.authed();
        const id = idOf(h.id, 'id', SNAPSHOT_ID_RE);
        await reserve(this.limits.connectionMemoryBytes);
        const data = await store.getSnapshot(id);
        if (!data) throw new RequestError('not-found', `snapshot ${id} is not stored for this device`, { id });
        return { header: { id }, body: [data] };
      }
      case MessageType.LIST_SNAPSHOTS: {
        const epoch = await pruneEpoch(this.authed());
        return { header: { snapshots: await this.authed().listSnapshots(), epoch } };
      }
      case MessageType.PUT_BLOB: {
        const store = this.authed();
        const name = idOf(h.name, 'name', BLOB_NAME_RE);
        const release = await this.admit({ bytes: frame.body.length });
        await store.putBlob(name, frame.body).finally(release);
        return { header: {} };
      }
      case MessageType.GET_BLOB: {
        const store = this.authed();
        const name = idOf(h.name, 'name', BLOB_NAME_RE);
        await reserve(this.limits.connectionMemoryBytes);
        const data = await store.getBlob(name);
        return { header: { found: data !== undefined }, body: data ? [data] : [] };
      }
      case MessageType.REPORT:
        this.authed();
        return { header: await receiveHealthReport(this.ctx.registry, this.deviceId!, h) };
      default:
        if (PRUNE_MESSAGE_TYPES.has(frame.type)) return { header: await this.prune.handle(frame.type, h, this.authed()) };
        throw new RequestError('bad-request', `unknown message type ${frame.type}`);
    }
  }
}

/** Memory a decoded request holds until answered: none of a body streamed to disk. */
function heldBytes(frame: Frame): number {
  return frame.streamed ? frame.size - (frame.streamed as PutBodyStream).bodyBytes : frame.size;
}

function str(v: unknown, field: string, max: number): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > max)
    throw new RequestError('bad-request', `${field} must be a non-empty string of at most ${max} characters`);
  return v;
}

function optStr(v: unknown, field: string, max: number): string | undefined {
  return v === undefined ? undefined : str(v, field, max);
}

/** A device-supplied text shown to admins: no control characters or bidi marks (they are escaped on output too). */
function optText(v: unknown, field: string, max: number): string | undefined {
  const text = optStr(v, field, max);
  if (text !== undefined && hasUnsafeText(text))
    throw new RequestError('bad-request', `${field} is not allowed: expected at most ${max} characters without control characters or bidi marks`);
  return text;
}

function idOf(v: unknown, field: string, re: RegExp): string {
  if (typeof v !== 'string' || !re.test(v))
    throw new RequestError('bad-request', `${field} ${JSON.stringify(v)?.slice(0, 80)} is not allowed (expected ${re.source})`);
  return v;
}

function idList(v: unknown, field: string, re: RegExp): string[] {
  if (!Array.isArray(v) || v.length > MAX_IDS) throw new RequestError('bad-request', `${field} must be a list of at most ${MAX_IDS} ids`);
  for (const id of v) idOf(id, field, re);
  return v as string[];
}
