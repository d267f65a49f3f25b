// The signing identities a fleet names (signing.windows: Authenticode; signing.macos.installer: the pkg): which
// combinations are complete, and what each named file must look like. fleet/load.ts runs these checks.
import type { SchemaIssue } from '../common/json-schema.js';
import type { Fleet } from './types.js';

/** A file the fleet names and what its first bytes must show. */
export interface ReferencedFile {
  path: string;
  rel: string | undefined;
  accepts: (content: Buffer) => boolean;
  /** Named in the error: "is not in the expected <format> format". */
  format: string;
  allowed: string;
}

const pem = (marker: RegExp) => (content: Buffer) => marker.test(content.toString('latin1'));
/** PKCS#12 is DER: an outer SEQUENCE with a long-form length (PFX files are never under 128 bytes). */
const isDerSequence = (content: Buffer) => content[0] === 0x30 && content[1] >= 0x81 && content[1] <= 0x84;

const PEM_CERT = pem(/-----BEGIN CERTIFICATE-----/);
const PEM_KEY = pem(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
export const isPkcs11Uri = (key: string): boolean => key.startsWith('pkcs11:');

/** Files named under /signing, with the format each must have. */
export function signingFiles(fleet: Fleet): ReferencedFile[] {
  const win = fleet.signing?.windows;
  const mac = fleet.signing?.macos?.installer;
  const winKey = win?.key !== undefined && !isPkcs11Uri(win.key) ? win.key : undefined;
  return [
    {
      path: '/signing/windows/certificate',
      rel: win?.certificate,
      accepts: PEM_CERT,
      format: 'PEM',
      allowed: 'a readable PEM certificate file, relative to the fleet file',
    },
    { path: '/signing/windows/key', rel: winKey, accepts: PEM_KEY, format: 'PEM', allowed: 'a readable PEM private key file, relative to the fleet file' },
    {
      path: '/signing/windows/pkcs12',
      rel: win?.pkcs12,
      accepts: isDerSequence,
      format: 'PKCS#12',
      allowed: 'a readable PKCS#12 (.p12/.pfx) file, relative to the fleet file',
    },
    {
      path: '/signing/macos/installer/certificate',
      rel: mac?.certificate,
      accepts: PEM_CERT,
      format: 'PEM',
      allowed: 'a readable PEM certificate file, relative to the fleet file',
    },
    {
      path: '/signing/macos/installer/key',
      rel: mac?.key,
      accepts: PEM_KEY,
      format: 'PEM',
      allowed: 'a readable PEM private key file, relative to the fleet file',
    },
    {
      path: '/signing/macos/installer/pkcs12',
      rel: mac?.pkcs12,
      accepts: isDerSequence,
      format: 'PKCS#12',
      allowed: 'a readable PKCS#12 (.p12) file, relative to the fleet file',
    },
  ];
}

function issue(path: string, value: unknown, allowed: string, problem: string): SchemaIssue {
  const shown = JSON.stringify(value);
  return { path, value: shown, allowed, message: `${path}: ${shown === undefined ? 'missing' : `${shown} ${problem}`}; expected ${allowed}` };
}

/** Incomplete or contradictory identities: a key without a certificate, PKCS#12 next to PEM, a token key without its module. */
export function signingIssues(fleet: Fleet): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const identity = (at: string, id: { certificate?: string; key?: string; pkcs12?: string } | undefined) => {
    if (!id) return;
    if (id.pkcs12 !== undefined && (id.certificate !== undefined || id.key !== undefined))
      issues.push(issue(`${at}/pkcs12`, id.pkcs12, 'either pkcs12 or certificate and key, not both', 'is given together with certificate/key'));
    else if (id.pkcs12 === undefined && (id.certificate === undefined || id.key === undefined)) {
      const missing = id.certificate === undefined ? 'certificate' : 'key';
      issues.push({
        path: `${at}/${missing}`,
        allowed: 'certificate and key together, or pkcs12 alone',
        message: `${at}/${missing}: required field is missing; expected certificate and key together, or pkcs12 alone`,
      });
    }
  };
  const win = fleet.signing?.windows;
  identity('/signing/windows', win);
  identity('/signing/macos/installer', fleet.signing?.macos?.installer);
  if (win?.key !== undefined && isPkcs11Uri(win.key) !== (win.pkcs11Module !== undefined))
    issues.push(
      win.pkcs11Module === undefined
        ? issue('/signing/windows/key', win.key, 'a PEM key file, or a pkcs11: URI together with pkcs11Module', 'is a token URI but pkcs11Module is missing')
        : issue(
            '/signing/windows/pkcs11Module',
            win.pkcs11Module,
            'pkcs11Module only with a key given as a pkcs11: URI',
            'is set but the key is not a pkcs11: URI',
          ),
    );
  if (win?.pkcs11Engine !== undefined && win.pkcs11Module === undefined)
    issues.push(issue('/signing/windows/pkcs11Engine', win.pkcs11Engine, 'pkcs11Engine only together with pkcs11Module', 'is set without pkcs11Module'));
  return issues;
}
