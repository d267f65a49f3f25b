// The server's config file: where it listens, its TLS identity, the Technician IDs it accepts and the
// backup-server pair it assigns to newly registered devices, and its connection limits.
import { dirname, resolve } from 'node:path';
import { parseEndpoint } from '../common/endpoint.js';
import { JsonFileError, readJsonFile } from '../common/json-file.js';
import { problemsMessage } from '../common/problems.js';
import type { ServerPair } from '../protocol/messages.js';
import { type ConnectionLimits, validateLimits } from './limits.js';
import { validateRegistrationLimits, type RegistrationLimits } from './registration-limits.js';
import { validateQuotas, type QuotaConfig } from './quota.js';

export interface ServerConfig {
  /** IP:port addresses to listen on; port 0 picks a free port. Default ["127.0.0.1:16384"]. */
  listen: string[];
  /** PEM files (relative to the config file). Without them the server makes its own in the data folder. */
  tls?: { cert: string; key: string };
  /** Technician IDs accepted at registration. */
  technicianIds: string[];
  /** Pair assigned to newly registered devices; default: the first two listen addresses as bound. */
  assign?: ServerPair;
  /** Connection, memory and registration limits (server/limits.ts, server/registration-limits.ts); a key left out keeps its default. */
  limits?: Partial<ConnectionLimits> & { registration?: RegistrationLimits };
  /** Storage quotas per device and per fleet (server/quota.ts); none: unlimited. */
  quotas?: QuotaConfig;
}

function registrationOf(limits: unknown): unknown {
  return limits && typeof limits === 'object' && !Array.isArray(limits) ? (limits as Record<string, unknown>).registration : undefined;
}

export class ServerConfigError extends Error {
  constructor(file: string, problems: string[]) {
    super(problemsMessage(file, problems));
    this.name = 'ServerConfigError';
  }
}

/** Validates a parsed config; relative TLS paths are resolved against `baseDir`. */
export function validateServerConfig(raw: unknown, file: string, baseDir: string): ServerConfig {
  const problems: string[] = [];
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ServerConfigError(file, ['the file must hold a JSON object']);
  const r = raw as Record<string, unknown>;
  const known = new Set(['$schema', 'listen', 'tls', 'technicianIds', 'assign', 'limits', 'quotas']);
  for (const k of Object.keys(r)) if (!known.has(k)) problems.push(`/${k}: unknown field (allowed: listen, tls, technicianIds, assign, limits, quotas)`);

  const listen = r.listen ?? ['127.0.0.1:16384'];
  if (!Array.isArray(listen) || listen.length === 0) problems.push(`/listen: ${JSON.stringify(listen)} is not allowed; expected a non-empty list of IP:port`);
  else
    listen.forEach((a, i) => {
      if (typeof a !== 'string' || !parseEndpoint(a, true))
        problems.push(`/listen/${i}: ${JSON.stringify(a)} is not allowed; expected IPv4:port or [IPv6]:port (no host names)`);
    });

  let tls: ServerConfig['tls'];
  if (r.tls !== undefined) {
    const t = r.tls as Record<string, unknown>;
    if (!t || typeof t !== 'object' || typeof t.cert !== 'string' || typeof t.key !== 'string')
      problems.push('/tls: expected { "cert": "<PEM file>", "key": "<PEM file>" }');
    else tls = { cert: resolve(baseDir, t.cert), key: resolve(baseDir, t.key) };
  }

  const ids = r.technicianIds;
  if (!Array.isArray(ids) || ids.length === 0) problems.push('/technicianIds: expected a non-empty list of Technician IDs');
  else
    ids.forEach((id, i) => {
      if (typeof id !== 'string' || id.trim().length < 4) problems.push(`/technicianIds/${i}: expected a string of at least 4 characters`);
    });

  let assign: ServerPair | undefined;
  if (r.assign !== undefined) {
    const a = r.assign as Record<string, unknown>;
    for (const k of ['primary', 'alternate'] as const) {
      const v = a?.[k];
      if (typeof v !== 'string' || !parseEndpoint(v))
        problems.push(`/assign/${k}: ${JSON.stringify(v)} is not allowed; expected IPv4:port or [IPv6]:port (agents connect by IP, no DNS)`);
    }
    assign = { primary: String(a?.primary), alternate: String(a?.alternate) };
  }
  const registration = validateRegistrationLimits(registrationOf(r.limits), '/limits/registration', problems);
  const limits = { ...validateLimits(r.limits, problems), registration };
  const quotas = validateQuotas(r.quotas, problems);
  if (problems.length) throw new ServerConfigError(file, problems);
  return { listen: listen as string[], tls, technicianIds: ids as string[], assign, limits, ...(quotas && { quotas }) };
}

export async function loadServerConfig(file: string): Promise<ServerConfig> {
  const path = resolve(file);
  let raw: unknown;
  try {
    raw = await readJsonFile(path);
  } catch (err) {
    if (err instanceof JsonFileError) throw new ServerConfigError(path, [err.problem]);
    throw err;
  }
  return validateServerConfig(raw, path, dirname(path));
}
