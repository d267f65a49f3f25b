// SOCKS4 / SOCKS4a / SOCKS5 (no auth or username/password) over an already open TCP socket to the proxy.
import type { Socket } from 'node:net';
import { SocksClient, type SocksProxy } from 'socks';
import type { AgentProxy } from '../config-types.js';
import { describeUser, maskForeign, TransportError, type TransportErrorKind } from './errors.js';
import type { HostPort } from './address.js';

/** How a SOCKS library error reads to an admin, and which kind it is. */
function classify(message: string, proxy: AgentProxy): { kind: TransportErrorKind; reason: string } {
  if (message.startsWith('Socks5 Authentication failed')) {
    return { kind: 'proxy-auth', reason: `proxy authentication failed (wrong user or password for ${describeUser(proxy)})` };
  }
  if (message.includes('no accepted authentication type')) {
    return proxy.username
      ? { kind: 'proxy-auth', reason: 'proxy accepts none of the offered authentication methods (username/password, none)' }
      : { kind: 'proxy-auth', reason: 'proxy requires authentication but no username/password is configured' };
  }
  if (message.startsWith('Socks5 proxy rejected connection')) {
    const code = message.split(' - ')[1] ?? '';
    switch (code) {
      case 'NotAllowed':
        return { kind: 'proxy-refused', reason: 'proxy refused the destination (not allowed by its rule set)' };
      case 'ConnectionRefused':
        return { kind: 'refused', reason: 'server refused the connection (reported by the proxy)' };
      case 'HostUnreachable':
      case 'NetworkUnreachable':
        return { kind: 'network', reason: `proxy cannot reach the server (${code})` };
      case 'TTLExpired':
        return { kind: 'timeout', reason: 'proxy timed out reaching the server (TTLExpired)' };
      default:
        return { kind: 'proxy-error', reason: `proxy failed the request (${code || 'general failure'})` };
    }
  }
  if (message.startsWith('Socks4 Proxy rejected connection')) {
    // SOCKS4 has a single "rejected or failed" reply: a rule, or the server refusing, look the same.
    return {
      kind: 'proxy-refused',
      reason: 'proxy rejected the request (SOCKS4 gives no reason: its rules do not allow the destination, or the server refused)',
    };
  }
  if (message.startsWith('Proxy connection timed out')) return { kind: 'timeout', reason: 'proxy did not complete the SOCKS handshake in time' };
  if (message.startsWith('Socket closed'))
    return { kind: 'proxy-error', reason: 'proxy closed the connection during the SOCKS handshake (wrong proxy type or port?)' };
  return { kind: 'proxy-error', reason: `SOCKS handshake failed: ${maskForeign(message, [proxy.password])}` };
}

export async function socksTunnel(socket: Socket, proxy: AgentProxy, target: HostPort, label: string, timeoutMs: number): Promise<Socket> {
  const socksProxy: SocksProxy = {
    host: proxy.host ?? '',
    port: proxy.port ?? 0,
    type: proxy.type === 'socks5' ? 5 : 4,
    ...(proxy.username !== undefined && { userId: proxy.username }),
    ...(proxy.type === 'socks5' && proxy.password !== undefined && { password: proxy.password }),
  };
  try {
    const { socket: tunnel } = await SocksClient.createConnection({
      proxy: socksProxy,
      command: 'connect',
      // Always the IP as given: SOCKS4a sends non-IPv4 strings (IPv6 literals) in its hostname field.
      destination: { host: target.host, port: target.port },
      timeout: timeoutMs,
      existing_socket: socket,
    });
    return tunnel;
  } catch (err) {
    socket.destroy();
    const { kind, reason } = classify((err as Error).message ?? String(err), proxy);
    throw new TransportError(`${label}: ${reason}`, kind);
  }
}
