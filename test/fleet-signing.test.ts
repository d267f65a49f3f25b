// The fleet's signing identities (fleet/signing.ts through loadFleet): complete combinations only, files of the right
// format, a time-stamping URL, and passwords only from the environment, never shown.
import { writeFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetValidationError, loadFleet, resolveSecrets } from '../fleet/load.js';
import { repoRoot } from './helpers/paths.js';
import { tempDir } from './helpers/server.js';
import { makeTestPki, type TestPki } from './helpers/test-pki.js';

let dir: string;
let pki: TestPki;
let demo: Record<string, unknown>;

beforeAll(async () => {
  dir = await tempDir('holdfast-fleet-signing-');
  pki = makeTestPki(dir, '/CN=Fleet Signing Test', 'codeSigning');
  demo = JSON.parse(await readFile(join(repoRoot, 'examples/fleets/demo.fleet.json'), 'utf8'));
  delete demo.$schema;
}, 60_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

let n = 0;
async function issues(signing: unknown): Promise<FleetValidationError['issues']> {
  const file = join(dir, `f${++n}.fleet.json`);
  writeFileSync(file, JSON.stringify({ ...demo, signing }));
  try {
    await loadFleet(file);
    return [];
  } catch (err) {
    if (err instanceof FleetValidationError) return err.issues;
    throw err;
  }
}

describe('fleet signing identities', () => {
  it('accepts PEM, PKCS#12 and token identities for Windows and PEM or PKCS#12 for the pkg', async () => {
    expect(
      await issues({ windows: { certificate: 'chain.pem', key: 'leaf-encrypted.key', password: { env: 'W' }, timestampUrl: 'http://127.0.0.1:9/' } }),
    ).toEqual([]);
    expect(await issues({ windows: { pkcs12: 'leaf.p12', password: { env: 'W' } } })).toEqual([]);
    expect(await issues({ windows: { certificate: 'chain.pem', key: 'pkcs11:token=t;object=k', pkcs11Module: '/usr/lib/softhsm/libsofthsm2.so' } })).toEqual(
      [],
    );
    expect(await issues({ macos: { installer: { pkcs12: 'leaf.p12', password: { env: 'M' } }, codeRequirement: 'anchor apple generic' } })).toEqual([]);
    expect(await issues({ macos: { installer: { certificate: 'chain.pem', key: 'leaf.key' } } })).toEqual([]);
  });

  it.each([
    [
      'PKCS#12 next to PEM',
      { macos: { installer: { pkcs12: 'leaf.p12', certificate: 'chain.pem' } } },
      '/signing/macos/installer/pkcs12',
      /either pkcs12 or certificate and key/,
    ],
    ['a key without its certificate', { macos: { installer: { key: 'leaf.key' } } }, '/signing/macos/installer/certificate', /required field is missing/],
    ['a certificate without its key', { windows: { certificate: 'chain.pem' } }, '/signing/windows/key', /certificate and key together, or pkcs12 alone/],
    ['a PEM file named as PKCS#12', { windows: { pkcs12: 'chain.pem' } }, '/signing/windows/pkcs12', /is not in the expected PKCS#12 format/],
    [
      'a PKCS#12 file named as PEM key',
      { macos: { installer: { certificate: 'chain.pem', key: 'leaf.p12' } } },
      '/signing/macos/installer/key',
      /not in the expected PEM format/,
    ],
    ['a token key without the module', { windows: { certificate: 'chain.pem', key: 'pkcs11:object=k' } }, '/signing/windows/key', /pkcs11Module is missing/],
    [
      'a module with a file key',
      { windows: { certificate: 'chain.pem', key: 'leaf.key', pkcs11Module: '/m.so' } },
      '/signing/windows/pkcs11Module',
      /not a pkcs11: URI/,
    ],
    ['an engine without a module', { windows: { pkcs12: 'leaf.p12', pkcs11Engine: '/e.so' } }, '/signing/windows/pkcs11Engine', /without pkcs11Module/],
    [
      'a timestamp URL that is not http(s)',
      { windows: { pkcs12: 'leaf.p12', timestampUrl: 'ftp://tsa.example/' } },
      '/signing/windows/timestampUrl',
      /RFC 3161/,
    ],
    ['an unknown field', { macos: { installer: { pkcs12: 'leaf.p12', pin: '1' } } }, '/signing/macos/installer', /./],
  ])('refuses %s, naming the field', async (_name, signing, path, message) => {
    const found = await issues(signing);
    const issue = found.find((i) => i.path === path || i.path.startsWith(`${path}/`));
    expect(issue, JSON.stringify(found)).toBeDefined();
    expect(`${issue!.message} ${issue!.allowed}`).toMatch(message);
  });

  it('a password typed into the file is refused without being shown; from the environment it is read, and required when named', async () => {
    const typed = await issues({ macos: { installer: { pkcs12: 'leaf.p12', password: 'typed-secret-77' } } });
    expect(typed.map((i) => i.path)).toContain('/signing/macos/installer/password');
    expect(JSON.stringify(typed)).not.toContain('typed-secret-77');
    const file = join(dir, 'env.fleet.json');
    writeFileSync(file, JSON.stringify({ ...demo, signing: { macos: { installer: { pkcs12: 'leaf.p12', password: { env: 'HF_PKG_PW' } } } } }));
    const { fleet } = await loadFleet(file);
    expect(resolveSecrets(fleet, { HF_PKG_PW: pki.password }).installerSigningPassword).toBe(pki.password);
    expect(() => resolveSecrets(fleet, {}, ['installerSigningPassword'])).toThrow(/HF_PKG_PW is not set/);
    expect(() => resolveSecrets(fleet, { HF_PKG_PW: 'line\nbreak' })).toThrow(
      /\/signing\/macos\/installer\/password: the value of environment variable HF_PKG_PW is not allowed/,
    );
  });
});
