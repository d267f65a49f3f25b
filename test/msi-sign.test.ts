// Authenticode done properly: RFC 3161 timestamps from a local time-stamping authority (openssl ts -reply on
// 127.0.0.1), the executables inside the MSI signed before packaging, and keys from PEM, PKCS#12 and a PKCS#11 token
// (SoftHSM). `osslsigncode verify` is the independent check throughout.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFleets } from '../deployer/generate.js';
import { nodeRuntime } from '../installers/runtimes.js';
import { identityArgs } from '../installers/win/sign.js';
import { repoRoot } from './helpers/paths.js';
import { tempDir } from './helpers/server.js';
import { makeTestPki, type TestPki } from './helpers/test-pki.js';
import { startTsa, type LocalTsa } from './helpers/tsa.js';

let work: string;
let pki: TestPki;
let tsa: LocalTsa;
const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const PKCS11_ENGINE = '/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so';

beforeAll(async () => {
  work = await tempDir('holdfast-msi-sign-');
  process.env.HOLDFAST_RUNTIME_WIN_X64 ??= await nodeRuntime('win-x64');
  mkdirSync(join(work, 'pki'));
  pki = makeTestPki(join(work, 'pki'), '/O=Holdfast Test/CN=Holdfast Test Code Signing', 'codeSigning');
  mkdirSync(join(work, 'tsa'));
  tsa = await startTsa(join(work, 'tsa'), { cert: pki.tsaCert, key: pki.tsaKey });
}, 300_000);

afterAll(async () => {
  await tsa?.close();
  await rm(work, { recursive: true, force: true });
});

async function writeFleet(dir: string, name: string, windows: Record<string, unknown>, files: string[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const f of files) await copyFile(f, join(dir, f.split('/').at(-1)!));
  const demo = JSON.parse(await readFile(join(repoRoot, 'examples/fleets/demo.fleet.json'), 'utf8'));
  const fleet = {
    ...demo,
    $schema: undefined,
    fleet: name,
    branding: { vendor: 'Holdfast', product: `Signed ${name}`, upgradeCode: randomUUID() },
    signing: { windows },
  };
  const file = join(dir, `${name}.fleet.json`);
  await writeFile(file, JSON.stringify(fleet, null, 2));
  return file;
}

/** `osslsigncode verify` against the test root (signing and TSA certificates both chain to it); throws when it fails. */
function verify(file: string): string {
  const r = spawnSync('osslsigncode', ['verify', '-CAfile', pki.rootCert, '-TSA-CAfile', pki.rootCert, '-in', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`osslsigncode verify ${file} failed:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

function expectTimestamped(output: string, what: string): void {
  expect(output, what).toMatch(/Timestamp time: .*\d{4}/);
  expect(output, what).toContain('Timestamp Server Signature verification: ok');
  expect(output, what).toContain('Holdfast Test TSA');
  expect(output, what).toContain('Holdfast Test Code Signing');
  expect(output, what).toMatch(/Signature verification: ok/);
}

/** The MSI's installed files (msiextract) and the Binary-table DLL the configure action runs. */
function innerExecutables(msi: string, dir: string): { serviceExe: string; configureDll: string } {
  execFileSync('msiextract', ['-C', dir, msi], { stdio: 'pipe' });
  const found = execFileSync('find', [dir, '-name', 'holdfast-service.exe'], { encoding: 'utf8' }).trim();
  execFileSync('sh', ['-c', 'msiinfo extract "$1" Binary.ConfigureTool > "$2"', 'sh', msi, join(dir, 'configure.dll')]);
  return { serviceExe: found, configureDll: join(dir, 'configure.dll') };
}

describe('Authenticode with RFC 3161 timestamps', () => {
  it('PEM chain + encrypted key: the MSI and the executables inside are signed and timestamped by the local TSA', async () => {
    const dir = join(work, 'pem');
    const file = await writeFleet(
      dir,
      'pem',
      { certificate: 'chain.pem', key: 'leaf-encrypted.key', password: { env: 'HF_TEST_SIGN_PW' }, timestampUrl: tsa.url },
      [pki.chainCert, pki.leafKeyEncrypted],
    );
    const before = tsa.replies;
    const lines: string[] = [];
    const result = await generateFleets([file], {
      outDir: join(dir, 'out'),
      cacheDir: join(work, 'cache'),
      targets: ['msi'],
      env: { HF_TEST_SIGN_PW: pki.password },
      progress: (e) => lines.push(e.text),
    });
    const msi = join(result.fleets[0].outDir, 'holdfast-pem.msi');
    expectTimestamped(verify(msi), 'MSI');
    const inner = innerExecutables(msi, join(dir, 'x'));
    expectTimestamped(verify(inner.serviceExe), 'holdfast-service.exe');
    expectTimestamped(verify(inner.configureDll), 'configure DLL (Binary table)');
    // node.exe keeps its publisher's signature (its chain ends in roots this machine does not hold, so only the signer is read).
    const nodeExe = join(inner.serviceExe, '..', 'node.exe');
    expect(spawnSync('osslsigncode', ['verify', '-in', nodeExe], { encoding: 'utf8' }).stdout).toMatch(/Signer's certificate:[\s\S]*OpenJS Foundation/);
    // MSI + service wrapper + configure DLL.
    expect(tsa.replies - before).toBe(3);
    expect(lines.join('\n')).toMatch(/signing holdfast-service\.exe before packaging \(timestamped\)/);
    expect(lines.join('\n')).not.toContain(pki.password);

    // A second fleet with the same identity reuses the signed executables and the payload: only the MSI is stamped.
    const again = await writeFleet(
      join(work, 'pem2'),
      'pem2',
      { certificate: 'chain.pem', key: 'leaf-encrypted.key', password: { env: 'HF_TEST_SIGN_PW' }, timestampUrl: tsa.url },
      [pki.chainCert, pki.leafKeyEncrypted],
    );
    const beforeAgain = tsa.replies;
    await generateFleets([again], {
      outDir: join(work, 'pem2', 'out'),
      cacheDir: join(work, 'cache'),
      targets: ['msi'],
      env: { HF_TEST_SIGN_PW: pki.password },
    });
    expect(tsa.replies - beforeAgain).toBe(1);
  }, 300_000);

  it('PKCS#12: accepted with its password from the environment; signed, timestamped, inner executables too', async () => {
    const dir = join(work, 'p12');
    const file = await writeFleet(dir, 'p12', { pkcs12: 'leaf.p12', password: { env: 'HF_TEST_P12_PW' }, timestampUrl: tsa.url }, [pki.pkcs12]);
    const result = await generateFleets([file], {
      outDir: join(dir, 'out'),
      cacheDir: join(work, 'cache'),
      targets: ['msi'],
      env: { HF_TEST_P12_PW: pki.password },
    });
    const msi = join(result.fleets[0].outDir, 'holdfast-p12.msi');
    expectTimestamped(verify(msi), 'MSI');
    expectTimestamped(verify(innerExecutables(msi, join(dir, 'x')).serviceExe), 'holdfast-service.exe');
  }, 300_000);

  it('an unreachable time-stamping service fails the build, naming osslsigncode, and leaves no MSI', async () => {
    const closed = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const { port } = s.address() as { port: number };
        s.close(() => resolve(port));
      });
    });
    const dir = join(work, 'deadtsa');
    const file = await writeFleet(dir, 'deadtsa', { pkcs12: 'leaf.p12', password: { env: 'HF_TEST_P12_PW' }, timestampUrl: `http://127.0.0.1:${closed}/` }, [
      pki.pkcs12,
    ]);
    const err = await generateFleets([file], {
      outDir: join(dir, 'out'),
      cacheDir: join(work, 'cache'),
      targets: ['msi'],
      env: { HF_TEST_P12_PW: pki.password },
    }).catch((e: Error) => e);
    expect(String(err)).toMatch(/osslsigncode failed/);
    expect(String(err)).not.toContain(pki.password);
    expect(existsSync(join(dir, 'out', 'deadtsa', 'holdfast-deadtsa.msi'))).toBe(false);
  }, 300_000);

  it('a fleet naming an incomplete identity is refused with the field named', async () => {
    const dir = join(work, 'incomplete');
    const file = await writeFleet(dir, 'incomplete', { certificate: 'chain.pem' }, [pki.chainCert]);
    await expect(generateFleets([file], { outDir: join(dir, 'out'), cacheDir: join(work, 'cache'), targets: ['msi'], env: {} })).rejects.toThrow(
      /\/signing\/windows\/key: required field is missing; expected certificate and key together, or pkcs12 alone/,
    );
    const token = await writeFleet(join(work, 'token-no-module'), 'tok', { certificate: 'chain.pem', key: 'pkcs11:token=x;object=y' }, [pki.chainCert]);
    await expect(generateFleets([token], { outDir: join(dir, 'out'), cacheDir: join(work, 'cache'), targets: ['msi'], env: {} })).rejects.toThrow(
      /\/signing\/windows\/key: "pkcs11:token=x;object=y" is a token URI but pkcs11Module is missing/,
    );
  });
});

describe('Authenticode with a PKCS#11 token (SoftHSM)', () => {
  it('passes module, engine, certificate and key URI to osslsigncode; the PIN never on the command line', () => {
    const args = identityArgs({ certificate: '/c.pem', key: 'pkcs11:token=t;object=k', pkcs11Module: '/m.so', pkcs11Engine: '/e.so', password: '1234' });
    expect(args).toEqual(['-pkcs11engine', '/e.so', '-pkcs11module', '/m.so', '-certs', '/c.pem', '-key', 'pkcs11:token=t;object=k']);
  });

  it('signs the MSI and its executables with a key that lives on a SoftHSM token, PIN from the environment', async () => {
    for (const f of [SOFTHSM_MODULE, PKCS11_ENGINE])
      if (!existsSync(f)) throw new Error(`${f} missing: sudo apt-get install -y softhsm2 libengine-pkcs11-openssl opensc`);
    const dir = join(work, 'hsm');
    const tokens = join(dir, 'tokens');
    await mkdir(tokens, { recursive: true });
    await writeFile(join(dir, 'softhsm2.conf'), `directories.tokendir = ${tokens}\nobjectstore.backend = file\n`);
    process.env.SOFTHSM2_CONF = join(dir, 'softhsm2.conf');
    const pin = '8642';
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'hf-test', '--pin', pin, '--so-pin', '97531'], { stdio: 'pipe' });
    execFileSync('softhsm2-util', ['--import', pki.leafKey, '--token', 'hf-test', '--label', 'signer', '--id', '01', '--pin', pin], { stdio: 'pipe' });
    const file = await writeFleet(
      dir,
      'hsm',
      {
        certificate: 'chain.pem',
        key: 'pkcs11:token=hf-test;object=signer;type=private',
        pkcs11Module: SOFTHSM_MODULE,
        pkcs11Engine: PKCS11_ENGINE,
        password: { env: 'HF_TEST_PIN' },
        timestampUrl: tsa.url,
      },
      [pki.chainCert],
    );
    const result = await generateFleets([file], { outDir: join(dir, 'out'), cacheDir: join(work, 'cache'), targets: ['msi'], env: { HF_TEST_PIN: pin } });
    const msi = join(result.fleets[0].outDir, 'holdfast-hsm.msi');
    expectTimestamped(verify(msi), 'MSI signed on the token');
    expectTimestamped(verify(innerExecutables(msi, join(dir, 'x')).serviceExe), 'holdfast-service.exe signed on the token');
    // A wrong PIN fails.
    const wrong = await writeFleet(
      join(dir, 'wrong'),
      'hsmwrong',
      {
        certificate: 'chain.pem',
        key: 'pkcs11:token=hf-test;object=signer;type=private',
        pkcs11Module: SOFTHSM_MODULE,
        pkcs11Engine: PKCS11_ENGINE,
        password: { env: 'HF_TEST_PIN' },
      },
      [pki.chainCert],
    );
    await expect(
      generateFleets([wrong], { outDir: join(dir, 'out2'), cacheDir: join(work, 'cache'), targets: ['msi'], env: { HF_TEST_PIN: '0000' } }),
    ).rejects.toThrow(/osslsigncode failed/);
  }, 300_000);
});
