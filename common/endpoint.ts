// Server endpoints as fleet files, server configs and CLIs write them: IPv4:port or [IPv6]:port, never host names.
import { isIP } from 'node:net';

/** "1.2.3.4:16384" / "[::1]:16384" -> host, port; undefined when not allowed (port 0 only with `allowPortZero`). */
export function parseEndpoint(s: string, allowPortZero = false): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  if (m[1] !== undefined ? isIP(host) !== 6 : isIP(host) !== 4) return undefined;
  if (port > 65535 || (port === 0 && !allowPortZero)) return undefined;
  return { host, port };
}

/** host, port -> "1.2.3.4:16384" / "[::1]:16384". */
export function formatEndpoint(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
