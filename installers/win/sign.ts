// Authenticode signing of the MSI with osslsigncode (no timestamp: that needs a network time-stamping service).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from './tools.js';

export interface SignOptions {
  certificate: string;
  key: string;
  /** Key password; handed to osslsigncode in a private file, never on its command line. */
  password?: string;
  description: string;
  url?: string;
}

export async function signMsi(input: string, output: string, opts: SignOptions, workRoot: string): Promise<void> {
  const args = ['sign', '-certs', opts.certificate, '-key', opts.key, '-h', 'sha256', '-n', opts.description];
  if (opts.url) args.push('-i', opts.url);
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

/** Checks the signature; `caFile` is the CA that must have issued the signing certificate. */
export async function verifyMsiSignature(msi: string, caFile: string): Promise<string> {
  return runTool('osslsigncode', ['verify', '-CAfile', caFile, '-in', msi]);
}
