// Who may hold a connection, decided on the raw TCP socket before any TLS work: a cap on connections overall
// and per address, and a deadline from TCP accept to a successful AUTH (TLS handshake included), so a peer
// that never starts TLS, stalls in the handshake or never authenticates is cut off.
import { isIPv6, type Server, type Socket } from 'node:net';
import type { ConnectionLimits } from './limits.js';

/** One accepted connection, known to the gate until its TCP socket closes. */
export interface ConnectionTicket {
  /** The address group it counts against: an IPv4 address, or an IPv6 /64. */
  readonly group: string;
  /** The device authenticated: the handshake deadline no longer applies. */
  authenticated(): void;
  /** Runs instead of a plain close when the handshake deadline passes (the session says why, then closes). */
  onDeadline?: (message: string) => void;
}

/** The group a peer address counts in: IPv4 (also IPv4-mapped IPv6) as is, other IPv6 by its /64 (one site). */
export function addressGroup(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1];
  if (!isIPv6(address)) return address;
  const [head, tail = ''] = address.split('%')[0].split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g || '0', 16).toString(16))
    .join(':')}::/64`;
}

/** How often refusals are logged at most (the lines in between are counted, not written). */
const REFUSAL_NOTE_MS = 10_000;

export class ConnectionGate {
  private open = 0;
  private readonly perGroup = new Map<string, number>();
  private readonly tickets = new Map<string, ConnectionTicket>();
  private readonly sockets = new Set<Socket>();
  private refused = 0;
  private lastNote = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly limits: Pick<ConnectionLimits, 'maxConnections' | 'maxConnectionsPerAddress' | 'handshakeTimeoutMs'>,
    private readonly log: (line: string) => void,
  ) {}

  /** Connections open now (TCP, whether or not TLS or AUTH completed). */
  get connections(): number {
    return this.open;
  }

  /** Admits, counts and times every TCP connection `server` accepts, before its TLS layer sees it. */
  guard(server: Server): void {
    server.prependListener('connection', (raw: Socket) => this.admit(raw));
  }

  /** Closes every connection, whether or not its TLS handshake or AUTH completed (server shutdown). */
  closeAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** The ticket of a connection, found from its TLS socket (the same addresses and ports as the TCP one). */
  ticketOf(socket: Socket): ConnectionTicket | undefined {
    return this.tickets.get(tupleOf(socket));
  }

  private admit(raw: Socket): void {
    const address = raw.remoteAddress;
    if (address === undefined) {
      raw.destroy();
      return;
    }
    const group = addressGroup(address);
    const inGroup = this.perGroup.get(group) ?? 0;
    if (this.open >= this.limits.maxConnections) return this.refuse(raw, `${this.open} connections open (limits.maxConnections ${this.limits.maxConnections})`);
    if (inGroup >= this.limits.maxConnectionsPerAddress)
      return this.refuse(raw, `${inGroup} connections open from ${group} (limits.maxConnectionsPerAddress ${this.limits.maxConnectionsPerAddress})`);
    this.open++;
    this.perGroup.set(group, inGroup + 1);
    const key = tupleOf(raw);
    let timer: NodeJS.Timeout | undefined;
    const ticket: ConnectionTicket = {
      group,
      authenticated: () => {
        clearTimeout(timer);
        timer = undefined;
      },
    };
    this.tickets.set(key, ticket);
    this.sockets.add(raw);
    timer = setTimeout(() => {
      const message = `no successful AUTH within ${this.limits.handshakeTimeoutMs / 1000} s of connecting (limits.handshakeTimeoutMs)`;
      if (ticket.onDeadline) ticket.onDeadline(message);
      else {
        this.log(`${address}:${raw.remotePort}: closing: ${message}`);
        raw.destroy();
      }
    }, this.limits.handshakeTimeoutMs);
    raw.once('close', () => {
      clearTimeout(timer);
      this.tickets.delete(key);
      this.sockets.delete(raw);
      this.open--;
      const left = (this.perGroup.get(group) ?? 1) - 1;
      if (left > 0) this.perGroup.set(group, left);
      else this.perGroup.delete(group);
    });
  }

  /** Closes the TCP connection before TLS (no handshake is spent on it); the peer sees the connection reset. */
  private refuse(raw: Socket, why: string): void {
    raw.destroy();
    this.refused++;
    const now = performance.now();
    if (now - this.lastNote < REFUSAL_NOTE_MS) return;
    this.log(`refused ${this.refused} connection${this.refused === 1 ? '' : 's'}, the latest from ${raw.remoteAddress}: ${why}`);
    this.refused = 0;
    this.lastNote = now;
  }
}

function tupleOf(s: Socket): string {
  return `${s.localAddress}|${s.localPort}|${s.remoteAddress}|${s.remotePort}`;
}
