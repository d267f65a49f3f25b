// Server endpoints as fleet files, agent and server configs and CLIs write them: IPv4:port or [IPv6]:port,
// never host names (agents connect by IP, no DNS).
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
