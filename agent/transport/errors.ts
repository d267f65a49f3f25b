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

/**
 * Messages are built from our own words and fields that are not secret (addresses, the user name), so they never
 * hold the proxy password. Text from elsewhere (a SOCKS library's error, an HTTP proxy's status line, a socket
 * error) goes through this first, in case it echoes a secret: a secret of MASK_ANYWHERE_LENGTH characters or more
 * is masked wherever it occurs, a shorter one only where it stands as a whole token (not inside a word). Masking
 * every occurrence of a short password would garble the text and reveal the password (with "on": "c***necti***").
 */
export function maskForeign(text: string, secrets: Array<string | undefined>): string {
  let out = text;
  for (const secret of secrets) {
    if (!secret) continue;
    if (secret.length >= MASK_ANYWHERE_LENGTH) out = out.split(secret).join('***');
    else out = out.replace(new RegExp(`(?<![\\p{L}\\p{N}_])${escapeRegExp(secret)}(?![\\p{L}\\p{N}_])`, 'gu'), '***');
  }
  return out;
}

/** A secret this long is never a coincidence inside other text. */
export const MASK_ANYWHERE_LENGTH = 8;

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}

/** `user "name"`, how messages name the proxy user, unless the password is part of the name (user = password). */
export function describeUser(proxy: AgentProxy): string {
  const user = proxy.username ?? '';
  return maskForeign(user, [proxy.password]) === user ? `user ${JSON.stringify(user)}` : 'the configured user';
}
