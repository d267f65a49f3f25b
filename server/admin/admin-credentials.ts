// Admin credentials: distinct from device credentials, one per admin name, kept as a SHA-256 hash in
// DATA/admins/<name>.json (0600). An admin credential opens any one device's data read-only over the same pinned
// TLS as agents use (ADMIN_AUTH), which is what an escrow restore of a lost machine needs. Made on the server host
// (`holdfast-server admin-credential`), which writes the credential into a 0600 file for the admin and never prints it.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AdminCredentialFile } from '../../agent/admin-files.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import { ADMIN_NAME_RE } from '../../protocol/messages.js';

interface AdminRecord {
  admin: string;
  credentialHash: string;
  createdAt: string;
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

function adminFile(dataDir: string, name: string): string {
  if (!ADMIN_NAME_RE.test(name)) throw new Error(`admin name ${JSON.stringify(name)} is not allowed (expected ${ADMIN_NAME_RE.source})`);
  return join(dataDir, 'admins', `${name}.json`);
}

/**
 * A new credential for `name` (replacing any earlier one, which stops working at once), written with where to
 * connect into `out` (0600). Returns the file's content; the caller must not print the credential.
 */
export async function createAdminCredential(
  dataDir: string,
  name: string,
  out: string,
  where: { servers?: string[]; tlsPin?: string } = {},
): Promise<AdminCredentialFile> {
  const file = adminFile(dataDir, name);
  const credential = `hfa1-${randomBytes(32).toString('base64url')}`;
  await mkdir(join(dataDir, 'admins'), { recursive: true, mode: 0o700 });
  const record: AdminRecord = { admin: name, credentialHash: sha256(credential).toString('hex'), createdAt: new Date().toISOString() };
  const handed: AdminCredentialFile = {
    v: 1,
    admin: name,
    credential,
    ...(where.servers?.length ? { servers: where.servers } : {}),
    ...(where.tlsPin ? { tlsPin: where.tlsPin } : {}),
  };
  // The admin's copy first: a credential the server accepts but nobody holds would only be a risk.
  await writeFileAtomic(out, `${JSON.stringify(handed, null, 2)}\n`, 0o600);
  await writeFileAtomic(file, `${JSON.stringify(record, null, 2)}\n`, 0o600);
  return handed;
}

/** True when `credential` is the current credential of admin `name` (compared as hashes, in constant time). */
export async function verifyAdminCredential(dataDir: string, name: string, credential: string): Promise<boolean> {
  if (!ADMIN_NAME_RE.test(name)) return false;
  let rec: AdminRecord;
  try {
    rec = JSON.parse(await readFile(adminFile(dataDir, name), 'utf8')) as AdminRecord;
  } catch {
    return false;
  }
  const want = Buffer.from(String(rec.credentialHash), 'hex');
  const got = sha256(credential);
  return want.length === got.length && timingSafeEqual(want, got);
}
