// Server endpoints as fleet files, agent and server configs and CLIs write them: IPv4:port or [IPv6]:port,
// never host names (agents connect by IP, no DNS); and the server subnets of fleet files (CIDR).
import { isIP } from 'node:net';

export type EndpointCheck = { fault: 'syntax' } | { fault: 'host' | 'port' | undefined; host: string; port: number };

/** Checks an endpoint: 'syntax' (not host:port), 'host' (not an IP of the bracketed/bare family), 'port', or no fault. */
export function checkEndpoint(s: string, allowPortZero = false): EndpointCheck {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s);
  if (!m) return { fault: 'syntax' };
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  if (m[1] !== undefined ? isIP(host) !== 6 : isIP(host) !== 4) return { fault: 'host', host, port };
  if (port > 65535 || (port === 0 && !allowPortZero)) return { fault: 'port', host, port };
  return { fault: undefined, host, port };
}

/** "1.2.3.4:16384" / "[::1]:16384" -> host, port; undefined when not allowed (port 0 only with `allowPortZero`). */
export function parseEndpoint(s: string, allowPortZero = false): { host: string; port: number } | undefined {
  const c = checkEndpoint(s, allowPortZero);
  return c.fault === undefined ? { host: c.host, port: c.port } : undefined;
}

/** host, port -> "1.2.3.4:16384" / "[::1]:16384". */
export function formatEndpoint(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** What is wrong with an endpoint beyond its syntax, for error messages; undefined when it is fine or just malformed. */
export function endpointFaultDetail(s: string): string | undefined {
  const c = checkEndpoint(s);
  if (c.fault === 'host') return `${JSON.stringify(c.host)} is not an IP address (agents connect by IP, no DNS)`;
  if (c.fault === 'port') return 'port must be 1-65535';
  return undefined;
}

/** "10.0.0.0/8" or "2001:db8::/32" -> address, prefix length and family. */
export function parseCidr(s: string): { address: string; prefix: number; family: 4 | 6 } | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const family = isIP(m[1]);
  const prefix = Number(m[2]);
  if (family === 4 && prefix <= 32) return { address: m[1], prefix, family: 4 };
  if (family === 6 && prefix <= 128) return { address: m[1], prefix, family: 6 };
  return undefined;
}
