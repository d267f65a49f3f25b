// The two files an admin hands around for a lost or replaced machine, written by holdfast-server and read by the
// agent (one format each, here): the admin credential (`holdfast-server admin-credential`) that opens any device's
// data read-only over the pinned TLS connection, and the one-time replace token (`holdfast-server replace-token`)
// with which a new machine takes over a device. Both are secrets: written 0600, never printed.
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseEndpoint } from '../common/endpoint.js';
import { ADMIN_NAME_RE, DEVICE_ID_RE } from '../protocol/messages.js';

export interface AdminCredentialFile {
  v: 1;
  /** The admin's name on the server (DATA/admins/<name>.json holds the credential's hash). */
  admin: string;
  credential: string;
  /** Where to connect (the server's addresses, IP:port) and the certificate to pin, when the server knew them. */
  servers?: string[];
  tlsPin?: string;
}

export interface ReplaceTokenFile {
  v: 1;
  deviceId: string;
  token: string;
  expiresAt: string;
}

export class AdminFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AdminFileError';
  }
}

/** Reads a secret file, refusing one other users may read (as ssh does with keys): the secret may already be out. */
async function readSecretFile(path: string, what: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new AdminFileError(`${what} ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (process.platform !== 'win32' && (statSync(path).mode & 0o077) !== 0)
    throw new AdminFileError(`${what} ${path} is readable by other users (mode ${(statSync(path).mode & 0o777).toString(8)}): chmod 600 it`);
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // below
  }
  throw new AdminFileError(`${what} ${path} is not a Holdfast ${what} (JSON written by holdfast-server)`);
}

function field(v: Record<string, unknown>, name: string, ok: (x: unknown) => boolean, path: string, allowed: string): void {
  if (!ok(v[name])) throw new AdminFileError(`${path}: field ${name} is not allowed (expected ${allowed})`);
}

export async function readAdminCredential(path: string): Promise<AdminCredentialFile> {
  const v = await readSecretFile(path, 'admin credential');
  const str = (x: unknown) => typeof x === 'string';
  field(v, 'v', (x) => x === 1, path, '1');
  field(v, 'admin', (x) => str(x) && ADMIN_NAME_RE.test(x as string), path, ADMIN_NAME_RE.source);
  field(v, 'credential', (x) => str(x) && (x as string).length >= 32 && (x as string).length <= 256, path, 'the credential holdfast-server wrote');
  field(v, 'servers', (x) => x === undefined || (Array.isArray(x) && x.every((s) => str(s) && parseEndpoint(s) !== undefined)), path, 'a list of IP:port');
  field(v, 'tlsPin', (x) => x === undefined || (str(x) && /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/.test(x as string)), path, 'AA:BB:... (32 hex pairs)');
  return v as unknown as AdminCredentialFile;
}

export async function readReplaceToken(path: string): Promise<ReplaceTokenFile> {
  const v = await readSecretFile(path, 'replace token');
  field(v, 'v', (x) => x === 1, path, '1');
  field(v, 'deviceId', (x) => typeof x === 'string' && DEVICE_ID_RE.test(x), path, DEVICE_ID_RE.source);
  field(v, 'token', (x) => typeof x === 'string' && x.length >= 32 && x.length <= 256, path, 'the token holdfast-server wrote');
  field(v, 'expiresAt', (x) => typeof x === 'string' && !Number.isNaN(Date.parse(x)), path, 'an ISO 8601 time');
  return v as unknown as ReplaceTokenFile;
}
