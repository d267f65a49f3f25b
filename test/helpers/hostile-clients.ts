// Hostile clients for the hostile-*.test.ts suites: raw TCP and TLS connections to a test server on 127.0.0.1
// that misbehave on purpose, a sampler of the server's resident memory, and bounded waits on observable state.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { encodeFrame, FrameDecoder, type Frame } from '../../protocol/frame.js';
import { RpcConnection } from '../../protocol/connection.js';
import { MessageType, type RegisterReply } from '../../protocol/messages.js';
import { parseEndpoint } from '../../common/endpoint.js';

/** The server's resident memory now, MiB (VmRSS from /proc). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) / 1024;
}

/** Samples a process's resident memory every `everyMs` until stopped; keeps the peak. */
export class RssWatch {
  peak: number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    everyMs = 50,
  ) {
    this.peak = rssMiB(pid);
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): number {
    const now = rssMiB(this.pid);
    this.peak = Math.max(this.peak, now);
    return now;
  }

  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}

/** Polls `cond` every 20 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function hostPort(endpoint: string): { host: string; port: number } {
  const e = parseEndpoint(endpoint);
  if (!e) throw new Error(`not an endpoint: ${endpoint}`);
  return e;
}

/** A TCP connection that never starts TLS. Resolves once connected. */
export function openTcp(endpoint: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect(hostPort(endpoint), () => {
      s.off('error', reject);
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** A TLS connection (no pin check: the attacker does not care). Resolves once the handshake is done. */
export function openTls(endpoint: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ ...hostPort(endpoint), rejectUnauthorized: false }, () => {
      s.off('error', reject);
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', reject);
    s.once('close', () => reject(new Error('closed before the TLS handshake completed')));
  });
}

/** Resolves when the socket has closed (at once if it already has). */
export function closed(s: Socket): Promise<void> {
  return new Promise((r) => (s.closed || s.destroyed ? r() : s.once('close', () => r())));
}

/**
 * Resolves when the server has closed a socket this side does not read: a peer that stops reading notices a
 * reset only when it writes, so a PING is written every `everyMs` (as a pipelining attacker would go on asking).
 */
export async function closedWhileWriting(s: Socket, everyMs = 250): Promise<void> {
  let id = 1_000_000;
  const timer = setInterval(() => {
    if (!s.destroyed) s.write(frame(MessageType.PING, id++, {}));
  }, everyMs);
  await closed(s);
  clearInterval(timer);
}

/** Writes `data`; resolves when the socket took it, or when the socket closed (then false). */
export function write(s: Socket, data: Buffer): Promise<boolean> {
  if (s.destroyed) return Promise.resolve(false);
  if (s.write(data)) return Promise.resolve(true);
  return new Promise((r) => {
    const done = (ok: boolean) => {
      s.off('drain', onDrain);
      s.off('close', onClose);
      r(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    s.on('drain', onDrain);
    s.on('close', onClose);
  });
}

export function frame(type: number, requestId: number, header: object, body?: Buffer): Buffer {
  return Buffer.concat(encodeFrame(type, requestId, header, body));
}

/** Reads frames until the one for `requestId` (or a connection-level ERROR) arrives; then stops reading. */
export function reply(s: Socket, requestId: number): Promise<Frame> {
  const decoder = new FrameDecoder();
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      for (const f of decoder.push(d)) {
        if (f.requestId !== requestId && f.requestId !== 0) continue;
        s.off('data', onData);
        s.off('close', onClose);
        s.pause();
        resolve(f);
        return;
      }
    };
    const onClose = () => reject(new Error(`connection closed before the reply to request ${requestId}`));
    s.on('data', onData);
    s.once('close', onClose);
    s.resume();
  });
}

export interface AttackerDevice {
  deviceId: string;
  credential: string;
}

/** Registers a device with the Technician ID over the wire, as an attacker holding it would. */
export async function registerAttacker(endpoint: string, technicianId: string): Promise<AttackerDevice> {
  const rpc = new RpcConnection(await openTls(endpoint), endpoint);
  try {
    const r = await rpc.request(MessageType.REGISTER, {
      technicianId,
      identityId: randomBytes(16).toString('hex'),
      identitySecret: randomBytes(32).toString('hex'),
      hostname: 'attacker',
    });
    const { deviceId, credential } = r.header as unknown as RegisterReply;
    return { deviceId, credential };
  } finally {
    rpc.close();
  }
}

/** A TLS connection authenticated as `device`, not reading (paused) once AUTH is answered. */
export async function openAuthenticated(endpoint: string, device: AttackerDevice): Promise<TLSSocket> {
  const s = await openTls(endpoint);
  const answer = reply(s, 1);
  s.write(frame(MessageType.AUTH, 1, { deviceId: device.deviceId, credential: device.credential }));
  const f = await answer;
  if (f.type !== (MessageType.AUTH | MessageType.REPLY)) throw new Error(`AUTH failed: ${JSON.stringify(f.header)}`);
  return s;
}

export interface AttackStats {
  /** Connections the attack opened (or tried to). */
  opened: number;
  /** Connections that could not even be opened (refused or reset before TLS completed). */
  refused: number;
  /** How long each finished connection lived, ms. */
  lifetimes: number[];
}

/**
 * Keeps `width` attack connections going until stopped (or `maxConnections` were opened): each runs `one`, and
 * when it ends (the server closed it) the next one starts. No pacing: the server decides how fast this goes.
 */
export class AttackLoop {
  readonly stats: AttackStats = { opened: 0, refused: 0, lifetimes: [] };
  private stopped = false;
  private readonly sockets = new Set<Socket>();
  private readonly lanes: Promise<void>[];

  constructor(
    width: number,
    private readonly maxConnections: number,
    /** Opens and runs one attack connection; resolves when it has closed. Registers its socket via `hold`. */
    private readonly one: (hold: (s: Socket) => Socket) => Promise<void>,
  ) {
    this.lanes = Array.from({ length: width }, () => this.lane());
  }

  /** Connections now open. */
  get open(): number {
    return this.sockets.size;
  }

  private async lane(): Promise<void> {
    while (!this.stopped && this.stats.opened < this.maxConnections) {
      this.stats.opened++;
      const started = performance.now();
      try {
        await this.one((s) => {
          this.sockets.add(s);
          s.once('close', () => this.sockets.delete(s));
          return s;
        });
        this.stats.lifetimes.push(performance.now() - started);
      } catch {
        this.stats.refused++;
      }
    }
  }

  /** Ends the attack: closes every connection still open and waits for the lanes to finish. */
  async stop(): Promise<AttackStats> {
    this.stopped = true;
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.lanes);
    return this.stats;
  }
}
