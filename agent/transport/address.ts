// Server endpoints are IP:port only: agents never resolve server names.
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
