// How the agent reaches a server: TCP by IP (directly or through a SOCKS4/4a/5 or HTTP CONNECT proxy),
// then TLS with a pinned certificate. This file is the transport's public face; the steps live beside it.
import { isIPv4, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { AgentProxy } from '../config-types.js';
import { inWords, PROXY_TYPES } from '../config-schema.js';
import { describeProxy, maskForeign, TransportError } from './errors.js';
import { mappedEndpoint, proxyHost, splitEndpoint } from './address.js';
import { openTcp } from './tcp.js';
import { httpConnectTunnel } from './http-connect.js';
import { pinnedTls } from './tls.js';

export { TransportError, transportErrorKinds, describeProxy, type TransportErrorKind } from './errors.js';
export { splitEndpoint, joinHostPort, mappedEndpoint } from './address.js';
export { normalisePin } from './tls.js';

export interface ConnectOptions {
  tlsPin: string;
  /** Absent or type "none": connect directly. */
  proxy?: AgentProxy;
  /** Deadline for each phase (TCP connect, proxy handshake, TLS handshake); default 10 s. */
  timeoutMs?: number;
  /** Mapped proxy firewall: server address -> the firewall address dialled instead (agent-config.schema.json). */
  addressMap?: Record<string, string>;
}

export const defaultTimeoutMs = 10_000;

export function usesProxy(proxy: AgentProxy | undefined): proxy is AgentProxy {
  return proxy !== undefined && proxy.type !== 'none';
}

/** Checks the proxy settings are usable before any connection; the message names the field. */
export function checkProxy(proxy: AgentProxy): void {
  const label = describeProxy(proxy);
  if (proxy.type === 'none' || !PROXY_TYPES.includes(proxy.type)) {
    throw new TransportError(`proxy.type ${JSON.stringify(proxy.type)} is not supported: use ${inWords(PROXY_TYPES)}`, 'proxy-error');
  }
  if (!proxy.host) throw new TransportError(`${label}: proxy.host is missing: set the proxy's IP address or DNS name`, 'proxy-error');
  if (!Number.isInteger(proxy.port) || (proxy.port ?? 0) < 1 || (proxy.port ?? 0) > 65535) {
    throw new TransportError(`${label}: proxy.port ${JSON.stringify(proxy.port)} is not valid: use an integer from 1 to 65535`, 'proxy-error');
  }
  if (proxy.password !== undefined && proxy.username === undefined) {
    throw new TransportError(`${label}: proxy.password is set without proxy.username`, 'proxy-error');
  }
  if ((proxy.type === 'socks4' || proxy.type === 'socks4a') && proxy.password !== undefined) {
    throw new TransportError(`${label}: SOCKS4 has no passwords (only a user id): use socks5 or http for username/password`, 'proxy-error');
  }
}

/** A plain TCP stream to `endpoint`, tunnelled through the proxy when one is configured. */
export async function openTunnel(server: string, options: Omit<ConnectOptions, 'tlsPin'>): Promise<Socket> {
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  // Behind a mapped firewall every server address has its own firewall port: dial that instead.
  const dialed = mappedEndpoint(server, options.addressMap);
  const endpoint = dialed === server ? server : `${server} via firewall ${dialed}`;
  const target = splitEndpoint(dialed);
  const proxy = options.proxy;
  if (!usesProxy(proxy)) return openTcp({ ...target, label: endpoint, isProxy: false }, timeoutMs);
  checkProxy(proxy);
  const label = `${endpoint} via ${describeProxy(proxy)}`;
  if (proxy.type === 'socks4' && !isIPv4(target.host)) {
    throw new TransportError(`${label}: SOCKS4 reaches IPv4 addresses only; use socks4a, socks5 or http for ${target.host}`, 'bad-address');
  }
  try {
    const socket = await openTcp({ host: proxyHost(proxy.host ?? ''), port: proxy.port ?? 0, label, isProxy: true }, timeoutMs);
    return proxy.type === 'http'
      ? await httpConnectTunnel(socket, proxy, target, label, timeoutMs)
      : // Loaded on first use: most agents never use a SOCKS proxy, and every run pays for start-up.
        await (await import('./socks.js')).socksTunnel(socket, proxy, target, label, timeoutMs);
  } catch (err) {
    // Our own messages carry no secret; only text from elsewhere is masked (errors.ts, maskForeign).
    if (err instanceof TransportError) throw err;
    throw new TransportError(`${label}: ${maskForeign((err as Error).message, [proxy.password])}`, 'proxy-error');
  }
}

/** A TLS connection to `endpoint` whose certificate matches the pin; any other certificate is refused. */
export async function openConnection(endpoint: string, options: ConnectOptions): Promise<TLSSocket> {
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const raw = await openTunnel(endpoint, options);
  const label = usesProxy(options.proxy) ? `${endpoint} via ${describeProxy(options.proxy)}` : endpoint;
  return pinnedTls(raw, options.tlsPin, label, timeoutMs);
}
