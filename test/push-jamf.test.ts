// `holdfast-deploy push jamf` against the Jamf Pro contract test server: token, package record + multipart
// upload (file name = fileName), profiles and policy as escaped Classic XML scoped to the group, extension
// attributes; a 429 retry, a 401 error, --dry-run. Also the Intune macOS bodies for the same pkg and profiles.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadFleet } from '../fleet/load.js';
import { HttpError, type PushFleetResult, pushJamfFleet } from '../deployer/push/index.js';
import { intuneMacosTarget } from '../deployer/targets/intune.js';
import { jamfProfilesTarget } from '../deployer/targets/jamf-profiles.js';
import type { Artifact } from '../deployer/targets/target.js';
import { type JamfContractServer, startJamfContractServer, xmlDecode } from './helpers/jamf-contract-server.js';
import { deployBin, repoRoot } from './helpers/paths.js';

const run = promisify(execFile);
let work: string;
let outDir: string;
let fleetFile: string;
let server: JamfContractServer;
let pkgBytes: Buffer;
let artifacts: Artifact[];

const idOf = (r: PushFleetResult, kind: string) => r.outcome.items.find((i) => i.kind === kind)!.id;
const idsOf = (r: PushFleetResult, kind: string) => r.outcome.items.filter((i) => i.kind === kind).map((i) => i.id);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hf-push-jamf-'));
  outDir = join(work, 'dist');
  // A fleet whose product name needs escaping in Classic XML.
  const doc = JSON.parse(readFileSync(join(repoRoot, 'examples/fleets/acme.fleet.json'), 'utf8'));
  doc.branding.product = "R&D Backup's";
  doc.escrowPublicKey = undefined;
  fleetFile = join(work, 'acme.fleet.json');
  writeFileSync(fleetFile, JSON.stringify(doc));
  const loaded = await loadFleet(fleetFile);
  const fleetDir = join(outDir, 'acme');
  mkdirSync(fleetDir, { recursive: true });
  artifacts = await jamfProfilesTarget.make({ loaded, secrets: {}, outDir: fleetDir, cacheDir: work, previous: [], progress: () => {} });
  // The pkg target builds a 77 MB package; a stand-in of 300 kB exercises the same upload contract.
  pkgBytes = randomBytes(300_000);
  writeFileSync(join(fleetDir, 'holdfast-acme.pkg'), pkgBytes);
  artifacts.unshift({ target: 'pkg', path: join(fleetDir, 'holdfast-acme.pkg'), description: 'pkg' });
  writeFileSync(join(fleetDir, 'manifest.json'), JSON.stringify({ fleet: 'acme', artifacts: artifacts.map((a) => ({ ...a, path: basename(a.path) })) }));
  server = await startJamfContractServer();
});

afterAll(async () => {
  await server?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('push jamf (Jamf Pro contract test server)', () => {
  it('uploads package, profiles, policy and extension attributes, retrying a 429', async () => {
    server.fail('POST', /\/upload$/, 429, { retryAfter: '0' });
    const lines: string[] = [];
    const r = await pushJamfFleet(fleetFile, {
      outDir,
      url: server.url,
      clientId: server.clientId,
      groupId: '7',
      env: { HOLDFAST_JAMF_CLIENT_SECRET: server.clientSecret },
      log: (l) => lines.push(l),
      http: { baseDelayMs: 5 },
    });
    expect(r.outcome.retries).toBe(1);
    expect(lines.some((l) => /answered 429/.test(l))).toBe(true);
    const packageId = idOf(r, 'package');
    const pkg = server.packages.get(packageId)!;
    expect(pkg.body).toMatchObject({ packageName: "R&D Backup's (acme)", fileName: 'holdfast-acme.pkg', hashType: 'SHA_512' });
    expect(pkg.uploaded!.filename).toBe('holdfast-acme.pkg');
    expect(pkg.uploaded!.bytes.equals(pkgBytes)).toBe(true);

    // Profiles: the mobileconfig goes escaped inside <payloads> and comes back byte-identical; scoped to group 7.
    const mobileconfigs = artifacts.filter((a) => a.path.endsWith('.mobileconfig')).sort((a, b) => a.path.localeCompare(b.path));
    expect(idsOf(r, 'profile')).toHaveLength(mobileconfigs.length);
    for (const [i, id] of idsOf(r, 'profile').entries()) {
      const xml = server.profiles.get(id)!;
      const payload = xmlDecode(/<payloads>([\s\S]*)<\/payloads>/.exec(xml)![1]);
      expect(payload).toBe(readFileSync(mobileconfigs[i].path, 'utf8'));
      expect(xml).toContain('<computer_groups><computer_group><id>7</id></computer_group></computer_groups>');
      expect(xmlDecode(/<name>([^<]*)<\/name>/.exec(xml)![1])).toMatch(/^R&D Backup's \(acme\) – /);
    }
    const policy = server.policies.get(idOf(r, 'policy'))!;
    expect(xmlDecode(/<name>([^<]*)<\/name>/.exec(policy)![1])).toBe("Install R&D Backup's (acme)");
    expect(policy).toContain(`<package><id>${packageId}</id><action>Install</action></package>`);
    expect(policy).toContain('<trigger_other>holdfast-acme</trigger_other>');
    expect(policy).toContain('<computer_group><id>7</id></computer_group>');

    const eas = idsOf(r, 'extension attribute').map((id) => server.extensionAttributes.get(id)!);
    expect(eas.map((e) => e.name).sort()).toEqual([
      'Holdfast Agent Version',
      'Holdfast Backup Health',
      'Holdfast Last Successful Backup',
      'Holdfast Skipped Files',
    ]);
    for (const ea of eas) expect(ea).toMatchObject({ inputType: 'SCRIPT', dataType: 'STRING', enabled: true, scriptContents: expect.stringMatching(/^#!/) });
    // Bearer token on every call after the token request.
    expect(server.requests.filter((q) => q.path !== '/api/oauth/token').every((q) => /^Bearer /.test(q.headers.authorization ?? ''))).toBe(true);
  });

  it('reports 401 clearly without printing the secret', async () => {
    const wrong = 'wrong-jamf-secret-9876';
    const err = await pushJamfFleet(fleetFile, {
      outDir,
      url: server.url,
      clientId: server.clientId,
      groupId: '7',
      env: { HOLDFAST_JAMF_CLIENT_SECRET: wrong },
      http: { baseDelayMs: 5 },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).status).toBe(401);
    expect((err as Error).message).toMatch(/Jamf Pro: token: 401 Unauthorized/);
    expect((err as Error).message).not.toContain(wrong);
  });

  it('renews an expired token once on a 401 and carries on, updating the scope in place', async () => {
    server.fail('GET', /^\/api\/v1\/packages$/, 401);
    const tokensBefore = server.requests.filter((q) => q.path === '/api/oauth/token').length;
    const lines: string[] = [];
    const r = await pushJamfFleet(fleetFile, {
      outDir,
      url: server.url,
      clientId: server.clientId,
      groupId: '8',
      env: { HOLDFAST_JAMF_CLIENT_SECRET: server.clientSecret },
      log: (l) => lines.push(l),
      http: { baseDelayMs: 5 },
    });
    expect(lines.some((l) => /token rejected; renewing it once/.test(l))).toBe(true);
    expect(server.requests.filter((q) => q.path === '/api/oauth/token').length - tokensBefore).toBe(2);
    // Same names: found and updated (scope 7 -> 8), not duplicated.
    expect(r.outcome.items.filter((i) => i.kind === 'profile').map((i) => i.action)).toEqual(['update', 'update']);
    expect(r.outcome.items.find((i) => i.kind === 'package')!.action).toBe('unchanged');
    expect(server.packages.size).toBe(1);
    expect(server.policies.get(idOf(r, 'policy'))).toContain('<computer_group><id>8</id></computer_group>');
  });

  it('rejects a non-numeric group id with a clear error', async () => {
    await expect(
      pushJamfFleet(fleetFile, {
        outDir,
        url: server.url,
        clientId: server.clientId,
        groupId: 'All Macs',
        env: { HOLDFAST_JAMF_CLIENT_SECRET: server.clientSecret },
      }),
    ).rejects.toThrow(/--group: "All Macs" is not allowed; expected the numeric id/);
  });

  it('--dry-run reads the state, prints the plan and every change with the secret masked, and changes nothing', async () => {
    const fresh = await startJamfContractServer();
    try {
      const { stdout } = await run(
        process.execPath,
        [deployBin, 'push', 'jamf', fleetFile, '--out', outDir, '--url', fresh.url, '--client-id', fresh.clientId, '--group', '7', '--dry-run'],
        { env: { ...process.env, HOLDFAST_JAMF_CLIENT_SECRET: fresh.clientSecret } },
      );
      expect(fresh.writes()).toBe(0);
      expect(stdout).not.toContain(fresh.clientSecret);
      expect(stdout).toMatch(/plan for Jamf Pro, fleet acme: \d+ to create, 0 to update, 0 unchanged/);
      for (const step of [
        'create package',
        'upload package',
        'package checksum',
        'profile holdfast-acme-settings.mobileconfig',
        'policy',
        'extension attribute Holdfast Agent Version',
      ])
        expect(stdout).toContain(`[dry-run] ${step}: `);
      expect(stdout).toContain('multipart file=holdfast-acme.pkg <300000 bytes>');
      expect(stdout).toContain('dry run: nothing was changed');
    } finally {
      await fresh.close();
    }
  });

  it('intune-macos writes macOSPkgApp and macOSCustomConfiguration bodies for the same pkg and profiles', async () => {
    const loaded = await loadFleet(fleetFile);
    const out = join(work, 'intune-macos');
    const made = await intuneMacosTarget.make({ loaded, secrets: {}, outDir: out, cacheDir: work, previous: artifacts, progress: () => {} });
    const pkgApp = JSON.parse(readFileSync(made.find((a) => a.path.endsWith('macOSPkgApp.json'))!.path, 'utf8'));
    expect(pkgApp).toMatchObject({
      '@odata.type': '#microsoft.graph.macOSPkgApp',
      fileName: 'holdfast-acme.pkg',
      primaryBundleId: 'com.acme.backup',
      primaryBundleVersion: '1.2.0',
      displayName: "R&D Backup's",
    });
    const profiles = made.filter((a) => a.path.includes('macOSCustomConfiguration-'));
    expect(profiles).toHaveLength(2);
    for (const p of profiles) {
      const body = JSON.parse(readFileSync(p.path, 'utf8'));
      expect(body['@odata.type']).toBe('#microsoft.graph.macOSCustomConfiguration');
      const source = artifacts.find((a) => basename(a.path) === body.payloadFileName)!;
      expect(Buffer.from(body.payload, 'base64').equals(readFileSync(source.path))).toBe(true);
    }
  });
});
