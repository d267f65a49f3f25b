// How the agent reaches a server: TCP by IP (directly or through a proxy), then TLS with a pinned certificate.
// This file is the transport's public face; the proxy helpers behind it live beside it.
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { AgentProxy } from '../config-types.js';

export class TransportError extends Error {
  constructor(
    message: string,
    /** refused | timeout | proxy-auth | proxy-refused | proxy-error | tls-pin | tls-error | closed */
    readonly kind: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

export interface ConnectOptions {
  tlsPin: string;
  proxy?: AgentProxy;
  timeoutMs?: number;
}

/** "1.2.3.4:16384" / "[::1]:16384" -> host, port. Host names are not accepted. */
export function splitEndpoint(endpoint: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/.exec(endpoint);
  if (!m) throw new TransportError(`${endpoint} is not an IP:port address (agents connect by IP, no DNS)`, 'bad-address');
  return { host: m[1] ?? m[2], port: Number(m[3]) };
}

function normalisePin(pin: string): string {
  return pin.replace(/:/g, '').toUpperCase();
}

async function openTcp(endpoint: string, timeoutMs: number): Promise<Socket> {
  const { host, port } = splitEndpoint(endpoint);
  return new Promise((resolve, reject) => {
    const socket = tcpConnect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new TransportError(`${endpoint}: connection timed out after ${timeoutMs} ms`, 'timeout'));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const kind = err.code === 'ECONNREFUSED' ? 'refused' : 'network';
      reject(new TransportError(`${endpoint}: ${err.code === 'ECONNREFUSED' ? 'connection refused' : err.message}`, kind));
    });
  });
}

/** A TLS connection to `endpoint` whose certificate matches the pin; any other certificate is refused. */
export async function openConnection(endpoint: string, options: ConnectOptions): Promise<TLSSocket> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (options.proxy && options.proxy.type !== 'none') {
    throw new TransportError(`proxy type ${options.proxy.type} is not supported yet`, 'proxy-error');
  }
  const raw = await openTcp(endpoint, timeoutMs);
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: undefined });
    const timer = setTimeout(() => {
      tls.destroy();
      reject(new TransportError(`${endpoint}: TLS handshake timed out after ${timeoutMs} ms`, 'timeout'));
    }, timeoutMs);
    tls.once('secureConnect', () => {
      clearTimeout(timer);
      const cert = tls.getPeerCertificate();
      if (!cert?.fingerprint256 || normalisePin(cert.fingerprint256) !== normalisePin(options.tlsPin)) {
        tls.destroy();
        reject(new TransportError(`${endpoint}: server certificate does not match the pinned SHA-256 fingerprint (got ${cert?.fingerprint256 ?? 'none'})`, 'tls-pin'));
        return;
      }
      resolve(tls);
    });
    tls.once('error', (err) => {
      clearTimeout(timer);
      reject(new TransportError(`${endpoint}: TLS failed: ${err.message}`, 'tls-error'));
    });
  });
}
