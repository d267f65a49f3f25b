// Building fleet MSIs without Wine: shared work done once (20 fleets within 3x one), hostile fleet values escaped
// in every output (WXS, MSI tables, fleet-defaults.json, manifest), secrets kept out of manifest, progress and tables,
// Authenticode signing verified against a test CA.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFleets, type GenerateProgress } from '../deployer/generate.js';
import { nodeRuntime } from '../installers/runtimes.js';
import { exportTable, formattedLiteral } from '../installers/win/msi-tables.js';
import { verifyMsiSignature } from '../installers/win/sign.js';
import { PAYLOADS_KEPT, prunePayloads } from '../installers/win/payload.js';
import { renderWxs } from '../installers/win/wxs.js';
import { repoRoot } from './helpers/paths.js';
import { tempDir } from './helpers/server.js';

// Everything a fleet value might carry that breaks XML, MSI formatted strings, shells or JSON.
const HOSTILE = `A"B'C <x>&amp; ]]> $(touch /tmp/pwn) \`id\` [ProductName] [\\[] {a} %PATH% \\ ünï`;
const SECRET_TECH = 'SECRET-TECH-4411';
const SECRET_PROXY = 'secret-proxy-pw-9931';

let work: string;
const demo = async () => JSON.parse(await readFile(join(repoRoot, 'examples/fleets/demo.fleet.json'), 'utf8'));

async function writeFleet(dir: string, name: string, changes: Record<string, unknown>): Promise<string> {
  await mkdir(dir, { recursive: true });
  const fleet = { ...(await demo()), $schema: undefined, fleet: name, ...changes };
  const file = join(dir, `${name}.fleet.json`);
  await writeFile(file, JSON.stringify(fleet, null, 2));
  return file;
}

function extractFleetDefaults(msi: string, dir: string): unknown {
  execFileSync('sh', ['-c', `msiinfo extract "$1" fleet.cab > fleet.cab && gcab -x fleet.cab`, 'sh', msi], { cwd: dir });
  return readFile(join(dir, 'FleetDefaults'), 'utf8').then((t) => JSON.parse(t));
}

beforeAll(async () => {
  work = await tempDir('holdfast-msi-build-');
  // Cold-cache builds below reuse the already fetched runtime instead of downloading it again.
  process.env.HOLDFAST_RUNTIME_WIN_X64 ??= await nodeRuntime('win-x64');
}, 300_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('MSI build', () => {
  it('20 fleets take at most 3x the time of one: the payload is built once, fleets only patch tables', async () => {
    const files: string[] = [];
    for (let i = 0; i < 20; i++) {
      files.push(
        await writeFleet(join(work, 'many'), `f${String(i).padStart(2, '0')}`, {
          branding: { vendor: 'Holdfast', product: `Fleet ${i}`, upgradeCode: randomUUID() },
        }),
      );
    }
    const t1 = performance.now();
    const one = await generateFleets([files[0]], { outDir: join(work, 'out-one'), targets: ['msi'], cacheDir: join(work, 'cache-one') });
    const oneMs = performance.now() - t1;
    const lines: string[] = [];
    const t20 = performance.now();
    const twenty = await generateFleets(files, {
      outDir: join(work, 'out-20'),
      targets: ['msi'],
      cacheDir: join(work, 'cache-20'),
      progress: (e) => lines.push(e.text),
    });
    const twentyMs = performance.now() - t20;
    console.log(`msi build: 1 fleet ${(oneMs / 1000).toFixed(1)} s, 20 fleets ${(twentyMs / 1000).toFixed(1)} s (x${(twentyMs / oneMs).toFixed(2)})`);
    expect(one.fleets).toHaveLength(1);
    expect(twenty.fleets).toHaveLength(20);
    expect(lines.filter((l) => l.includes('building payload'))).toHaveLength(1);
    expect(twentyMs).toBeLessThanOrEqual(3 * oneMs);
    // Each fleet is its own product: distinct codes, its own name.
    const codes = new Set<string>();
    for (const f of twenty.fleets) {
      const prop = Object.fromEntries((await exportTable(join(f.outDir, `holdfast-${f.fleet}.msi`), 'Property')).rows.map((r) => [r[0], r[1]]));
      codes.add(prop.ProductCode);
      expect(prop.ProductName).toBe(`Fleet ${Number(f.fleet.slice(1))}`);
    }
    expect(codes.size).toBe(20);
    // A second run reuses the cached payload.
    const again: GenerateProgress[] = [];
    await generateFleets([files[0]], { outDir: join(work, 'out-again'), targets: ['msi'], cacheDir: join(work, 'cache-one'), progress: (e) => again.push(e) });
    expect(again.some((e) => /payload \w+ from cache/.test(e.message))).toBe(true);
  }, 300_000);

  it('keeps only the most recently used payloads in the cache (each is ~35 MB)', async () => {
    const root = join(work, 'prune-cache', 'msi-payload');
    const names = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'];
    for (const [i, n] of names.entries()) {
      await mkdir(join(root, n), { recursive: true });
      const t = new Date(Date.now() - (10 - i) * 60_000); // p5 newest
      await utimes(join(root, n), t, t);
    }
    await mkdir(join(root, '.build-in-progress'), { recursive: true });
    await prunePayloads(join(work, 'prune-cache'), 'p0'); // the payload just used stays, however old
    expect((await readdir(root)).sort()).toEqual(['.build-in-progress', 'p0', ...names.slice(names.length - (PAYLOADS_KEPT - 1))].sort());
  });

  it('escapes hostile fleet values in the WXS, the MSI tables, fleet-defaults.json and the manifest', async () => {
    const file = await writeFleet(join(work, 'hostile'), 'hostile', {
      customer: HOSTILE,
      technicianId: { env: 'HF_TEST_TECH' },
      proxy: { type: 'socks5', host: '127.0.0.1', port: 1080, username: HOSTILE, password: { env: 'HF_TEST_PROXY' } },
      backup: { include: [HOSTILE], exclude: ['**/*.tmp', HOSTILE], protectedPaths: [HOSTILE], schedule: { frequency: 'daily', at: '02:00' } },
      branding: {
        vendor: "O'Brien & Sons (IT), Ltd",
        product: 'Backup-Agent 2.0 (QA)',
        upgradeCode: randomUUID(),
        supportUrl: 'https://example.test/a?b=1&c=[x]',
      },
    });
    const lines: string[] = [];
    const result = await generateFleets([file], {
      outDir: join(work, 'out-hostile'),
      targets: ['msi'],
      env: { HF_TEST_TECH: SECRET_TECH, HF_TEST_PROXY: SECRET_PROXY },
      progress: (e) => lines.push(e.text),
    });
    const [fleet] = result.fleets;
    const msi = join(fleet.outDir, 'holdfast-hostile.msi');

    // MSI tables: plain properties hold the value as is; the Formatted registry value escapes [ ] { }.
    const prop = Object.fromEntries((await exportTable(msi, 'Property')).rows.map((r) => [r[0], r[1]]));
    expect(prop.ARPCOMMENTS).toBe(`Backup-Agent 2.0 (QA) for ${HOSTILE}`);
    expect(prop.Manufacturer).toBe("O'Brien & Sons (IT), Ltd");
    expect(prop.ARPHELPLINK).toBe('https://example.test/a?b=1&c=[x]');
    const customer = (await exportTable(msi, 'Registry')).rows.find((r) => r[3] === 'Customer')![4];
    expect(customer).toBe(formattedLiteral(HOSTILE));
    expect(customer).not.toMatch(/\[ProductName\]/);
    expect(customer.replace(/\[\\(.)\]/g, '$1')).toBe(HOSTILE);

    // fleet-defaults.json in fleet.cab: JSON round-trips every value, secrets included (it is the installer's payload).
    const defaults = (await extractFleetDefaults(msi, await mkdtemp(join(work, 'cab-')))) as Record<string, any>;
    expect(defaults.backup.include).toEqual([HOSTILE]);
    expect(defaults.backup.exclude).toEqual(['**/*.tmp', HOSTILE]);
    expect(defaults.proxy.username).toBe(HOSTILE);
    expect(defaults.technicianId).toBe(SECRET_TECH);
    expect(defaults.proxy.password).toBe(SECRET_PROXY);
    // Only there: no table holds a secret (Windows caches the package without its embedded cabinets, readable by users).
    const tables = execFileSync('msiinfo', ['tables', msi], { encoding: 'utf8' }).split('\n').filter(Boolean);
    expect(tables).toContain('MsiLockPermissionsEx');
    const exportDir = await mkdtemp(join(work, 'tables-')); // exporting the Binary table writes its streams there
    for (const t of tables) {
      const text = execFileSync('msiinfo', ['export', msi, t], { encoding: 'utf8', cwd: exportDir });
      expect(text, t).not.toContain(SECRET_TECH);
      expect(text, t).not.toContain(SECRET_PROXY);
    }

    // Manifest: valid JSON with the value intact, and never a secret.
    const manifestText = await readFile(fleet.manifestPath, 'utf8');
    expect(JSON.parse(manifestText).customer).toBe(HOSTILE);
    expect(fleet.manifest.technicianId).toBe('embedded');
    for (const text of [manifestText, lines.join('\n')]) {
      expect(text).not.toContain(SECRET_TECH);
      expect(text).not.toContain(SECRET_PROXY);
    }
    const artifact = fleet.manifest.artifacts[0];
    expect(artifact).toMatchObject({ target: 'msi', path: 'holdfast-hostile.msi' });
    expect(artifact.sha256).toBe(execFileSync('sha256sum', [msi], { encoding: 'utf8' }).split(' ')[0]);
    expect(fleet.manifest.installCommands.msiexec).toBe('msiexec /i holdfast-hostile.msi /qn /norestart /l*v holdfast-hostile-install.log');
  }, 120_000);

  it('renders the WXS as well-formed XML whatever the values (handlebars escaping, checked by xmllint)', async () => {
    const wxs = await renderWxs({
      productCode: randomUUID(),
      upgradeCode: randomUUID(),
      product: HOSTILE,
      vendor: HOSTILE,
      version: '1.0.0',
      fleet: 'x',
      customerFormatted: formattedLiteral(HOSTILE),
      keepIdentity: '1',
      serviceName: 'X',
      guids: { runtime: randomUUID(), agent: randomUUID(), service: randomUUID(), fleet: randomUUID(), registry: randomUUID(), data: randomUUID() },
      payload: { nodeExe: 'node.exe', agentBundle: 'a.mjs', serviceExe: 's.exe', configureDll: 'c.dll' },
    });
    const file = join(work, 'hostile.wxs');
    await writeFile(file, wxs);
    execFileSync('xmllint', ['--noout', file]);
    const customer = execFileSync('xmllint', ['--xpath', 'string(//*[local-name()="RegistryValue"][@Name="Customer"]/@Value)', file], {
      encoding: 'utf8',
    }).replace(/\n$/, '');
    expect(customer).toBe(formattedLiteral(HOSTILE));
    const product = execFileSync('xmllint', ['--xpath', 'string(//*[local-name()="Product"]/@Name)', file], { encoding: 'utf8' }).replace(/\n$/, '');
    expect(product).toBe(HOSTILE);
  });

  it('without the Technician ID variable the MSI carries none and the manifest and install line say so', async () => {
    const file = await writeFleet(join(work, 'notech'), 'notech', {
      technicianId: { env: 'HF_UNSET_TECH_VAR' },
      branding: { vendor: 'Holdfast', product: 'No Tech', upgradeCode: randomUUID() },
    });
    const lines: string[] = [];
    await expect(generateFleets([file], { outDir: join(work, 'out-notech'), targets: ['msi'], env: {} })).rejects.toThrow(
      /HF_UNSET_TECH_VAR is not set: .*1603.*--technician-id-at-install/,
    );
    const result = await generateFleets([file], {
      outDir: join(work, 'out-notech'),
      targets: ['msi'],
      env: {},
      atInstall: ['technicianId'],
      progress: (e) => lines.push(e.text),
    });
    const [fleet] = result.fleets;
    expect(fleet.manifest.technicianId).toBe('required at install');
    expect(fleet.manifest.installCommands.msiexec).toContain('TECHNICIANID=<Technician ID>');
    expect(fleet.manifest.artifacts[0].needsAtInstall).toEqual(['TECHNICIANID']);
    expect(lines.join('\n')).toMatch(/HF_UNSET_TECH_VAR is not set.*TECHNICIANID/);
    const defaults = (await extractFleetDefaults(join(fleet.outDir, 'holdfast-notech.msi'), await mkdtemp(join(work, 'cab-')))) as Record<string, unknown>;
    expect(defaults.technicianId).toBeUndefined();
  }, 120_000);

  it('signs with osslsigncode when the fleet names a certificate; the signature verifies against the test CA', async () => {
    const dir = join(work, 'signed');
    await mkdir(dir, { recursive: true });
    const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    ossl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=Holdfast Test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
    ossl('req', '-newkey', 'rsa:2048', '-passout', 'pass:key-pass-123', '-keyout', 'signer.key', '-out', 'signer.csr', '-subj', '/CN=Holdfast Test Signer');
    await writeFile(join(dir, 'ext.cnf'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n');
    ossl(
      'x509',
      '-req',
      '-in',
      'signer.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'signer.pem',
      '-days',
      '2',
      '-extfile',
      'ext.cnf',
    );
    const file = await writeFleet(dir, 'signed', {
      branding: { vendor: 'Holdfast', product: 'Signed', upgradeCode: randomUUID() },
      signing: { windows: { certificate: 'signer.pem', key: 'signer.key', password: { env: 'HF_SIGN_PASS' } } },
    });
    const lines: string[] = [];
    const result = await generateFleets([file], {
      outDir: join(dir, 'out'),
      targets: ['msi'],
      env: { HF_SIGN_PASS: 'key-pass-123' },
      progress: (e) => lines.push(e.text),
    });
    const msi = join(result.fleets[0].outDir, 'holdfast-signed.msi');
    const verify = await verifyMsiSignature(msi, join(dir, 'ca.pem'));
    expect(verify).toMatch(/Signature verification: ok/);
    expect(verify).toContain('Holdfast Test Signer');
    expect(result.fleets[0].manifest.artifacts[0].description).toContain('Authenticode-signed');
    expect(lines.join('\n')).not.toContain('key-pass-123');
    // The signature covers the content: a copy signed by another CA does not verify against this one.
    ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'other.key', '-out', 'other.pem', '-days', '2', '-subj', '/CN=Other CA');
    await expect(verifyMsiSignature(msi, join(dir, 'other.pem'))).rejects.toThrow();
    // A missing signing password fails before anything is built, naming the variable.
    await expect(generateFleets([file], { outDir: join(dir, 'out2'), targets: ['msi'], env: {} })).rejects.toThrow(/HF_SIGN_PASS/);
  }, 120_000);
});
