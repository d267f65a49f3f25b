// Authenticode signing with osslsigncode: the MSI and the executables inside it (signed before they are packaged).
// The key comes from PEM files, a PKCS#12 file, or a PKCS#11 token (osslsigncode's -pkcs11module/-pkcs11engine with
// a pkcs11: key URI). Signatures carry an RFC 3161 timestamp when the fleet names a time-stamping service, so they
// stay valid after the certificate expires.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from './tools.js';

export interface AuthenticodeIdentity {
  /** PEM certificate chain (signing certificate first); with `key`. */
  certificate?: string;
  /** PEM private key file, or a pkcs11: URI of a key on the token `pkcs11Module` reaches. */
  key?: string;
  /** PKCS#12 file holding key and chain, instead of certificate + key. */
  pkcs12?: string;
  pkcs11Module?: string;
  /** OpenSSL engine for PKCS#11 (osslsigncode finds the default pkcs11 engine without it). */
  pkcs11Engine?: string;
  /** Key password, PKCS#12 password or token PIN: handed over in a private file, never on a command line. */
  password?: string;
  /** RFC 3161 time-stamping service (osslsigncode -ts). */
  timestampUrl?: string;
}

export interface SignOptions extends AuthenticodeIdentity {
  description: string;
  url?: string;
}

/** osslsigncode's key and certificate options for an identity (the password goes through -readpass, see signFile). */
export function identityArgs(id: AuthenticodeIdentity): string[] {
  if (id.pkcs12) return ['-pkcs12', id.pkcs12];
  if (!id.certificate || !id.key) throw new Error('Authenticode signing needs a PKCS#12 file, or a certificate and a key');
  if (id.pkcs11Module)
    return [...(id.pkcs11Engine ? ['-pkcs11engine', id.pkcs11Engine] : []), '-pkcs11module', id.pkcs11Module, '-certs', id.certificate, '-key', id.key];
  return ['-certs', id.certificate, '-key', id.key];
}

/** Signs `input` (an MSI or a PE file: exe, dll) into `output` with SHA-256, and a timestamp when the identity names a TSA. */
export async function signFile(input: string, output: string, opts: SignOptions, workRoot: string): Promise<void> {
  const args = ['sign', ...identityArgs(opts), '-h', 'sha256', '-n', opts.description];
  if (opts.url) args.push('-i', opts.url);
  if (opts.timestampUrl) args.push('-ts', opts.timestampUrl);
  const work = await mkdtemp(join(workRoot, '.sign-'));
  try {
    if (opts.password !== undefined) {
      const passFile = join(work, 'pass');
      await writeFile(passFile, opts.password, { mode: 0o600 });
      args.push('-readpass', passFile);
    }
    await runTool('osslsigncode', [...args, '-in', input, '-out', output]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * What makes two signatures of the same file interchangeable: the certificate (or PKCS#12) bytes, which name the key,
 * whether a timestamp is asked for, and the description. Where the key lives (file, token) does not change the result.
 * Signed executables are cached under it, so the payload MSI is not rebuilt per fleet.
 */
export async function signerFingerprint(opts: SignOptions): Promise<string> {
  const h = createHash('sha256');
  const material = opts.pkcs12 ?? opts.certificate;
  if (material) h.update(await readFile(material));
  for (const part of [opts.timestampUrl, opts.description, opts.url]) h.update(`\0${part ?? ''}`);
  return h.digest('hex').slice(0, 20);
}

/** Checks the signature; `caFile` is the CA that must have issued the signing certificate (and the TSA's, if any). */
export async function verifyMsiSignature(msi: string, caFile: string): Promise<string> {
  return runTool('osslsigncode', ['verify', '-CAfile', caFile, '-TSA-CAfile', caFile, '-in', msi]);
}
