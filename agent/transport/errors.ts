// Transport failures as the admin needs to read them: what failed, through which proxy, never a secret.
import type { AgentProxy } from '../config-types.js';

export const transportErrorKinds = [
  'refused',
  'timeout',
  'proxy-unreachable',
  'proxy-auth',
  'proxy-refused',
  'proxy-error',
  'tls-pin',
  'tls-error',
  'network',
  'bad-address',
] as const;
export type TransportErrorKind = (typeof transportErrorKinds)[number];

export class TransportError extends Error {
  constructor(
    message: string,
    readonly kind: TransportErrorKind,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

/** "socks5 proxy 10.0.0.1:1080" — how every message names the proxy (no credentials). */
export function describeProxy(proxy: AgentProxy): string {
  const host = proxy.host ?? '?';
  const shown = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  const kind = proxy.type === 'http' ? 'HTTP CONNECT' : proxy.type;
  return `${kind} proxy ${shown}:${proxy.port ?? '?'}`;
}

/** Defence in depth: a message must never carry the proxy password, whatever a library put in it. */
export function redact(message: string, secrets: Array<string | undefined>): string {
  let out = message;
  for (const secret of secrets) {
    if (secret && secret.length >= 1) out = out.split(secret).join('***');
  }
  return out;
}
