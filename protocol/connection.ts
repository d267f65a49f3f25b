// Client side of a protocol connection: numbered requests, pipelined, replies matched by request id.
import type { Duplex } from 'node:stream';
import { encodeFrame, FrameDecoder, type Frame } from './frame.js';
import { takeReusedReads } from './reused-reads.js';
import { MessageType, PROTOCOL_VERSION, messageName, type ErrorCode } from './messages.js';

/** The server answered with an ERROR frame. */
export class RemoteError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly detail: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'RemoteError';
  }
}

/** The connection closed or failed before the reply came: the request may or may not have been applied. */
export class ConnectionLostError extends Error {
  constructor(
    readonly endpoint: string,
    reason: string,
  ) {
    super(`${endpoint}: connection lost (${reason})`);
    this.name = 'ConnectionLostError';
  }
}

export interface Reply {
  header: Record<string, unknown>;
  body: Buffer;
  /**
   * `body` lies in a buffer of its own (the frame was assembled from several socket reads) that nothing else
   * uses: the caller may take that memory over (e.g. transfer it to a worker), and give it back to the frame
   * pool (frame.ts recycle()) when done.
   */
  exclusive: boolean;
}

interface Pending {
  type: number;
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
}

export class RpcConnection {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly decoder = new FrameDecoder();
  private closedReason: string | undefined;
  private drainWaiters: Array<() => void> = [];
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: Duplex,
    readonly endpoint: string,
    /** A request with no reply for this long fails the connection (the server is hung). */
    private readonly replyTimeoutMs = 120_000,
  ) {
    // A TLS socket the agent set up with readIntoReusedBuffer: reads come into one reused buffer (the decoder
    // copies out what it keeps). Any other Duplex (tests, tunnels): the usual 'data' events.
    socket.on('data', (data: Buffer) => this.onData(data, false));
    takeReusedReads(socket, (data) => this.onData(data, true));
    socket.on('drain', () => this.releaseDrain());
    socket.on('error', (err) => this.fail(err.message));
    socket.on('close', () => this.fail('closed by peer'));
  }

  private onData(data: Buffer, reused: boolean): void {
    let frames: Frame[];
    try {
      frames = this.decoder.push(data, reused);
    } catch (err) {
      this.fail((err as Error).message);
      return;
    }
    for (const f of frames) this.dispatch(f);
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /** Why the connection closed (undefined while open). */
  get closeReason(): string | undefined {
    return this.closedReason;
  }

  get inFlight(): number {
    return this.pending.size;
  }

  async request(type: number, header: object, body?: Uint8Array | Uint8Array[]): Promise<Reply> {
    if (this.closedReason !== undefined) throw new ConnectionLostError(this.endpoint, this.closedReason);
    const id = this.nextId++;
    const parts = encodeFrame(type, id, header, body);
    const reply = new Promise<Reply>((resolve, reject) => this.pending.set(id, { type, resolve, reject }));
    this.armTimer();
    this.socket.cork();
    let ok = true;
    for (const p of parts) ok = this.socket.write(p) && ok;
    process.nextTick(() => this.socket.uncork());
    if (!ok) {
      // The reply may fail (an ERROR, a closed connection) while we wait for the drain: the caller gets that
      // rejection from the returned promise, not as an unhandled one now.
      reply.catch(() => undefined);
      await new Promise<void>((r) => this.drainWaiters.push(r));
    }
    return reply;
  }

  close(): void {
    this.fail('closed');
    this.socket.end();
    this.socket.destroy();
  }

  private dispatch(frame: Frame): void {
    const p = this.pending.get(frame.requestId);
    // An ERROR for request 0 is about the connection (a server limit, a deadline): the server closes it after.
    if (!p && frame.type === MessageType.ERROR && frame.requestId === 0) return this.fail(`server: ${String(frame.header.message ?? frame.header.code)}`);
    if (!p) return this.fail(`unexpected reply for request ${frame.requestId}`);
    this.pending.delete(frame.requestId);
    this.armTimer();
    if (frame.version !== PROTOCOL_VERSION) {
      p.reject(new RemoteError('unsupported-version', `${this.endpoint}: server speaks protocol version ${frame.version}, this agent ${PROTOCOL_VERSION}`));
    } else if (frame.type === MessageType.ERROR) {
      const code = String(frame.header.code ?? 'internal') as ErrorCode;
      p.reject(new RemoteError(code, String(frame.header.message ?? code), frame.header));
    } else if (frame.type !== (p.type | MessageType.REPLY)) {
      p.reject(new RemoteError('bad-request', `${this.endpoint}: expected ${messageName(p.type | MessageType.REPLY)}, got ${messageName(frame.type)}`));
    } else {
      p.resolve({ header: frame.header, body: frame.body, exclusive: frame.owned !== undefined });
    }
  }

  private armTimer(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.pending.size > 0 && this.closedReason === undefined) {
      this.idleTimer = setTimeout(() => {
        this.fail(`no reply for ${Math.round(this.replyTimeoutMs / 1000)} s`);
        this.socket.destroy();
      }, this.replyTimeoutMs);
      this.idleTimer.unref();
    }
  }

  private releaseDrain(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private fail(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    clearTimeout(this.idleTimer);
    for (const p of this.pending.values()) p.reject(new ConnectionLostError(this.endpoint, reason));
    this.pending.clear();
    this.releaseDrain();
  }
}
