// The server's TLS identity: the configured PEM files, or a certificate of its own kept in the data folder.
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../common/fs-atomic.js';

export interface TlsIdentity {
  cert: string;
  key: string;
  /** SHA-256 fingerprint, AA:BB:... — what agent configs and fleets pin. */
  pin: string;
  generated: boolean;
}

export function certificatePin(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

export async function loadTlsIdentity(dataDir: string, files?: { cert: string; key: string }): Promise<TlsIdentity> {
  if (files) {
    const [cert, key] = await Promise.all([readFile(files.cert, 'utf8'), readFile(files.key, 'utf8')]);
    return { cert, key, pin: certificatePin(cert), generated: false };
  }
  const dir = join(dataDir, 'tls');
  const certFile = join(dir, 'server.crt');
  const keyFile = join(dir, 'server.key');
  try {
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    return { cert, key, pin: certificatePin(cert), generated: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const { generate } = await import('selfsigned');
  const notAfter = new Date(Date.now() + 10 * 365 * 24 * 3600 * 1000);
  const pems = await generate([{ name: 'commonName', value: 'holdfast-server' }], { keySize: 2048, algorithm: 'sha256', notAfterDate: notAfter });
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(keyFile, pems.private, 0o600);
  await writeFileAtomic(certFile, pems.cert, 0o644);
  return { cert: pems.cert, key: pems.private, pin: certificatePin(pems.cert), generated: true };
}
