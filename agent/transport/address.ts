// Server endpoints are IP:port only: agents never resolve server names.
import { BlockList, isIPv6 } from 'node:net';
import { TransportError } from './errors.js';
import { parseEndpoint } from '../../common/endpoint.js';

export interface HostPort {
  host: string;
  port: number;
}

/** "1.2.3.4:16384" / "[::1]:16384" -> host, port. Host names are not accepted. */
export function splitEndpoint(endpoint: string): HostPort {
  const parsed = parseEndpoint(endpoint);
  if (!parsed) {
    throw new TransportError(
      `server address ${JSON.stringify(endpoint)} is not valid: expected IPv4:port or [IPv6]:port with a port from 1 to 65535 (agents connect by IP, no DNS)`,
      'bad-address',
    );
  }
  return parsed;
}

/** host:port with IPv6 literals bracketed, as HTTP CONNECT and messages want it. */
export { formatEndpoint as joinHostPort } from '../../common/endpoint.js';

/** A proxy host as configured: IP (bracketed or not) or DNS name. */
export function proxyHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * The address to dial for a server address: its mapped-firewall address when the map names it (compared as parsed
 * host and port, so "[::1]:1" and "[0:0::1]:1" match), else the address itself.
 */
export function mappedEndpoint(endpoint: string, map: Record<string, string> | undefined): string {
  if (!map) return endpoint;
  if (map[endpoint] !== undefined) return map[endpoint];
  const want = parseEndpoint(endpoint);
  if (!want) return endpoint;
  for (const [server, firewall] of Object.entries(map)) {
    const e = parseEndpoint(server);
    if (e && e.port === want.port && sameHost(e.host, want.host)) return firewall;
  }
  return endpoint;
}

function sameHost(a: string, b: string): boolean {
  if (a === b) return true;
  if (!isIPv6(a) || !isIPv6(b)) return false;
  const list = new BlockList();
  list.addAddress(a, 'ipv6');
  return list.check(b, 'ipv6');
}
