// The first hop: a TCP connection with a deadline, to the server itself or to the proxy.
import { connect, type Socket } from 'node:net';
import { TransportError, type TransportErrorKind } from './errors.js';

export interface TcpTarget {
  host: string;
  port: number;
  /** What the messages call this hop, e.g. "127.0.0.1:16384" or "10.0.0.1:16384 via socks5 proxy p:1080". */
  label: string;
  /** A proxy hop reports every failure as proxy-unreachable; a direct hop as refused/timeout/network. */
  isProxy: boolean;
}

const unreachableReasons: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed (temporary)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
};

export function openTcp(target: TcpTarget, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port });
    const fail = (message: string, kind: TransportErrorKind) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new TransportError(message, kind));
    };
    const timer = setTimeout(() => {
      fail(
        target.isProxy ? `${target.label}: proxy unreachable: no answer within ${timeoutMs} ms` : `${target.label}: connection timed out after ${timeoutMs} ms`,
        target.isProxy ? 'proxy-unreachable' : 'timeout',
      );
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const reason = unreachableReasons[err.code ?? ''] ?? (err.message || err.code || 'connection failed');
      if (target.isProxy) fail(`${target.label}: proxy unreachable: ${reason}`, 'proxy-unreachable');
      else if (err.code === 'ECONNREFUSED') fail(`${target.label}: connection refused`, 'refused');
      else fail(`${target.label}: ${reason}`, 'network');
    });
  });
}
