// One agent connection: decode frames, authenticate, serve storage requests for that device only.
import type { TLSSocket } from 'node:tls';
import { encodeFrame, FrameDecoder, ProtocolError, recycle, splitBody, takeBuffer, type Frame } from '../protocol/frame.js';
import { FrameWriter } from '../protocol/frame-writer.js';
import { takeReusedReads } from '../protocol/reused-reads.js';
import { BLOB_NAME_RE, CHUNK_ID_RE, MessageType, PROTOCOL_VERSION, SNAPSHOT_ID_RE, type ErrorCode, type ServerPair } from '../protocol/messages.js';
import { RegistrationError, type DeviceRegistry } from './storage/registry.js';
import type { DeviceStore } from './storage/device-store.js';
import { addressKey, RateLimitedError, type ConnectionRegistrations, type RegistrationThrottle } from './registration-throttle.js';
import { hasUnsafeText } from '../common/terminal-text.js';

export interface SessionContext {
  registry: DeviceRegistry;
  throttle: RegistrationThrottle;
  openStore(deviceId: string): Promise<DeviceStore>;
  log(line: string): void;
  onNewDevice(): void;
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

const MAX_IN_FLIGHT = 16;
/** Request bytes held at once per connection before the server stops reading from it. */
const MAX_IN_FLIGHT_BYTES = 64 * 1024 * 1024;
const MAX_IDS = 100_000;
/** GET replies stay below the frame limit; the agent asks again for the rest. */
const GET_REPLY_BYTES = 32 * 1024 * 1024;

export interface SessionCounters {
  chunksReceived: number;
  chunksStored: number;
  chunksDuplicate: number;
  bytesReceived: number;
  chunksSent: number;
}

export class Session {
  private readonly decoder = new FrameDecoder();
  private readonly writer: FrameWriter;
  private deviceId: string | undefined;
  private store: DeviceStore | undefined;
  private inFlight = 0;
  private inFlightBytes = 0;
  private closed = false;
  private ending = false;
  private readonly registrations: ConnectionRegistrations = { attempts: 0 };
  readonly counters: SessionCounters = { chunksReceived: 0, chunksStored: 0, chunksDuplicate: 0, bytesReceived: 0, chunksSent: 0 };

  constructor(
    private readonly socket: TLSSocket,
    private readonly ctx: SessionContext,
    readonly peer: string,
  ) {
    this.writer = new FrameWriter(socket);
    socket.on('data', (data: Buffer) => this.onData(data, false));
    // Reads into the socket's one reused buffer (set up in index.ts): the decoder copies out what it keeps.
    takeReusedReads(socket, (data) => this.onData(data, true));
    socket.on('error', () => undefined);
    socket.on('close', () => this.onClose());
  }

  private onData(data: Buffer, reused: boolean): void {
    let frames: Frame[];
    try {
      frames = this.decoder.push(data, reused);
    } catch (err) {
      this.ctx.log(`${this.peer}: protocol error: ${(err as Error).message}; closing`);
      this.socket.destroy();
      return;
    }
    for (const f of frames) void this.handle(f);
  }

  /** Sends what is queued, then closes; requests that arrive meanwhile are not served. */
  private end(): void {
    this.ending = true;
    this.writer.end();
  }

  private onClose(): void {
    this.closed = true;
    if (this.deviceId) {
      const c = this.counters;
      this.ctx.log(
        `session end ${this.deviceId}: received ${c.chunksReceived} chunks (${c.chunksStored} new, ${c.chunksDuplicate} duplicate, ${c.bytesReceived} ` +
          `bytes), sent ${c.chunksSent} chunks`,
      );
    }
  }

  /** Replies go out one frame, one buffer at a time (see FrameWriter: no join into new memory per reply). */
  private send(type: number, requestId: number, header: object, body?: Buffer[]): void {
    if (this.closed) return;
    this.writer.write(encodeFrame(type, requestId, header, body));
  }

  private async handle(frame: Frame): Promise<void> {
    if (this.ending) {
      this.decoder.release(frame);
      return;
    }
    this.inFlight++;
    this.inFlightBytes += frame.body.length;
    if (this.inFlight >= MAX_IN_FLIGHT || this.inFlightBytes >= MAX_IN_FLIGHT_BYTES) this.socket.pause();
    try {
      if (frame.version !== PROTOCOL_VERSION) {
        throw new RequestError('unsupported-version', `this server speaks protocol version ${PROTOCOL_VERSION}, not ${frame.version}`);
      }
      if (frame.type === MessageType.GET) {
        const whole = await this.getReply(frame);
        if (this.closed) recycle(whole);
        else this.writer.write([whole], () => recycle(whole));
      } else {
        const { header, body } = await this.dispatch(frame);
        this.send(frame.type | MessageType.REPLY, frame.requestId, header, body);
      }
    } catch (err) {
      let code: ErrorCode = 'internal';
      let message = 'internal server error';
      let extra: Record<string, unknown> = {};
      if (err instanceof RequestError) ({ code, message, extra } = err);
      else if (err instanceof RateLimitedError)
        ({ code, message, extra } = { code: err.code, message: err.message, extra: { retryAfterMs: err.retryAfterMs } });
      else if (err instanceof RegistrationError) ({ code, message } = err);
      else if (err instanceof ProtocolError) ({ code, message } = { code: 'bad-request' as const, message: err.message });
      else this.ctx.log(`${this.peer}: internal error on ${frame.type}: ${(err as Error).message}`);
      this.send(MessageType.ERROR, frame.requestId, { code, message, ...extra });
      // A failed or refused registration ends the connection: every further guess costs a new TLS handshake.
      if (code === 'unsupported-version' || (frame.type === MessageType.REGISTER && code !== 'bad-request')) this.end();
    } finally {
      // The reply is sent and the store has written the body: its buffer may take the next frame.
      this.decoder.release(frame);
      this.inFlight--;
      this.inFlightBytes -= frame.body.length;
      if (this.inFlight < MAX_IN_FLIGHT && this.inFlightBytes < MAX_IN_FLIGHT_BYTES && this.socket.isPaused()) this.socket.resume();
    }
  }

  /**
   * A whole GET reply frame in one buffer (a spare one from frame.ts), the chunks read straight into it, runs
   * of neighbours in a pack file with one read: no Buffer per chunk, no join before TLS encrypts it.
   */
  private async getReply(frame: Frame): Promise<Buffer> {
    const store = this.authed();
    const ids = idList(frame.header.ids, 'ids', CHUNK_ID_RE);
    const r = await store.locate(ids, GET_REPLY_BYTES);
    if ('missing' in r) throw new RequestError('missing-chunk', `chunk ${r.missing} is not stored for this device`, { id: r.missing });
    const sizes = r.locs.map((l) => l.length);
    let bodyLen = 0;
    for (const n of sizes) bodyLen += n;
    const [head, json] = encodeFrame(frame.type | MessageType.REPLY, frame.requestId, { ids: ids.slice(0, sizes.length), sizes });
    head.writeUInt32BE(head.readUInt32BE(0) + bodyLen, 0);
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

  private async dispatch(frame: Frame): Promise<{ header: object; body?: Buffer[] }> {
    const h = frame.header;
    switch (frame.type) {
      case MessageType.PING:
        return { header: { time: new Date().toISOString() } };
      case MessageType.REGISTER:
        return { header: await this.register(h) };
      case MessageType.AUTH: {
        const rec = await this.ctx.registry.authenticate(str(h.deviceId, 'deviceId', 64), str(h.credential, 'credential', 256));
        this.deviceId = rec.deviceId;
        this.store = await this.ctx.openStore(rec.deviceId);
        this.ctx.log(`${this.peer}: session start ${rec.deviceId}`);
        return { header: { deviceId: rec.deviceId, servers: rec.servers satisfies ServerPair } };
      }
      case MessageType.HAS: {
        const store = this.authed();
        const ids = idList(h.ids, 'ids', CHUNK_ID_RE);
        const present = await store.has(ids);
        const idx: number[] = [];
        present.forEach((p, i) => {
          if (p) idx.push(i);
        });
        return { header: { present: idx } };
      }
      case MessageType.PUT: {
        const store = this.authed();
        const ids = idList(h.ids, 'ids', CHUNK_ID_RE);
        const sizes = h.sizes;
        if (!Array.isArray(sizes) || sizes.length !== ids.length) throw new RequestError('bad-request', 'sizes must list one size per id');
        const data = splitBody(frame.body, sizes as number[]);
        const r = await store.put(ids, data);
        this.counters.chunksReceived += ids.length;
        this.counters.chunksStored += r.stored;
        this.counters.chunksDuplicate += r.duplicates;
        this.counters.bytesReceived += frame.body.length;
        return { header: r };
      }
      case MessageType.PUT_SNAPSHOT: {
        const store = this.authed();
        const id = idOf(h.id, 'id', SNAPSHOT_ID_RE);
        const time = str(h.time, 'time', 64);
        if (Number.isNaN(Date.parse(time))) throw new RequestError('bad-request', `time ${JSON.stringify(time)} is not an ISO 8601 date`);
        await store.putSnapshot(id, time, frame.body);
        return { header: {} };
      }
      case MessageType.GET_SNAPSHOT: {
        const store = this.authed();
        const id = idOf(h.id, 'id', SNAPSHOT_ID_RE);
        const data = await store.getSnapshot(id);
        if (!data) throw new RequestError('not-found', `snapshot ${id} is not stored for this device`, { id });
        return { header: { id }, body: [data] };
      }
      case MessageType.LIST_SNAPSHOTS:
        return { header: { snapshots: await this.authed().listSnapshots() } };
      case MessageType.PUT_BLOB: {
        const store = this.authed();
        await store.putBlob(idOf(h.name, 'name', BLOB_NAME_RE), frame.body);
        return { header: {} };
      }
      case MessageType.GET_BLOB: {
        const data = await this.authed().getBlob(idOf(h.name, 'name', BLOB_NAME_RE));
        return { header: { found: data !== undefined }, body: data ? [data] : [] };
      }
      default:
        throw new RequestError('bad-request', `unknown message type ${frame.type}`);
    }
  }
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
