// `holdfast-deploy push jamf` against the Jamf Pro contract test server: token, package record + multipart
// upload (file name = fileName), profiles and policy as escaped Classic XML scoped to the group, extension
// attributes; a 429 retry, a 401 error, --dry-run. Also the Intune macOS bodies for the same pkg and profiles.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadFleet } from '../fleet/load.js';
import { HttpError, type PushFleetResult, pushJamfFleet } from '../deployer/push/index.js';
import { intuneMacosTarget } from '../deployer/targets/intune.js';
import { jamfProfilesTarget } from '../deployer/targets/jamf-profiles.js';
import type { Artifact } from '../deployer/targets/target.js';
import { LOG_FILE, PRODUCT_DIR, STDERR_LOG_FILE, daemonPlist } from '../installers/mac/layout.js';
import { render } from '../installers/mac/templates.js';
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
  // The pkg target's real uninstall script (rendered from its template), which the uninstall policy runs.
  const label = loaded.fleet.branding.bundleId;
  const uninstall = await render('uninstall.sh.hbs', {
    label,
    identifier: label,
    product: loaded.fleet.branding.product,
    scriptName: 'holdfast-acme-uninstall.sh',
    keepIdentity: true,
    productDir: PRODUCT_DIR,
    plist: daemonPlist(label),
    logFile: LOG_FILE,
    stderrLogFile: STDERR_LOG_FILE,
  });
  writeFileSync(join(fleetDir, 'holdfast-acme-uninstall.sh'), uninstall, { mode: 0o755 });
  artifacts.push({ target: 'pkg', path: join(fleetDir, 'holdfast-acme-uninstall.sh'), description: 'Uninstall script' });
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
    await expect(
      pushJamfFleet(fleetFile, {
        outDir,
        url: server.url,
        clientId: server.clientId,
        groupId: '7',
        uninstallGroupId: '7',
        env: { HOLDFAST_JAMF_CLIENT_SECRET: server.clientSecret },
      }),
    ).rejects.toThrow(/--uninstall-group: 7 is not allowed; it must differ from --group/);
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

describe('push jamf is a plan, then an update (sequences on one contract server)', () => {
  let seq: JamfContractServer;
  const pkgFile = () => join(outDir, 'acme', 'holdfast-acme.pkg');
  const push = (lines: string[] = []) =>
    pushJamfFleet(fleetFile, {
      outDir,
      url: seq.url,
      clientId: seq.clientId,
      groupId: '7',
      uninstallGroupId: '9',
      env: { HOLDFAST_JAMF_CLIENT_SECRET: seq.clientSecret },
      log: (l) => lines.push(l),
      http: { baseDelayMs: 5 },
    });
  const actions = (r: PushFleetResult) => r.plan.items.map((i) => `${i.action} ${i.kind}`);
  /** The push's result and the requests that changed something on the server meanwhile (its own write count). */
  const writesDuring = async <T>(fn: () => Promise<T>): Promise<{ result: T; writes: Array<{ method: string; path: string }> }> => {
    const [from, count] = [seq.requests.length, seq.writes()];
    const result = await fn();
    const writes = seq.requests.slice(from).filter((q) => q.method !== 'GET' && q.path !== '/api/oauth/token');
    expect(writes.length).toBe(seq.writes() - count);
    return { result, writes: writes.map(({ method, path }) => ({ method, path })) };
  };
  let first: PushFleetResult;

  beforeAll(async () => {
    seq = await startJamfContractServer();
  });
  afterAll(async () => {
    await seq?.close();
    writeFileSync(pkgFile(), pkgBytes);
  });

  it('first push creates every object, with the uninstall script and policy', async () => {
    first = await push();
    expect(actions(first)).toEqual([
      'create package',
      'create script',
      'create profile',
      'create profile',
      'create policy',
      'create uninstall policy',
      'create extension attribute',
      'create extension attribute',
      'create extension attribute',
      'create extension attribute',
    ]);
    const scriptId = idOf(first, 'script');
    const script = seq.scripts.get(scriptId)!;
    expect(script).toMatchObject({ name: "Uninstall R&D Backup's (acme)", priority: 'AFTER' });
    expect(String(script.scriptContents)).toMatch(/^#!\/bin\/sh\n# Jamf Pro: .*\nset -- \$\{4:\+"\$4"\}\n/);
    const uninstallPolicy = seq.policies.get(idOf(first, 'uninstall policy'))!;
    expect(uninstallPolicy).toContain(`<script><id>${scriptId}</id><priority>After</priority><parameter4></parameter4></script>`);
    expect(uninstallPolicy).toContain('<computer_groups><computer_group><id>9</id></computer_group></computer_groups>');
    expect(uninstallPolicy).toContain('<trigger_other>holdfast-acme-uninstall</trigger_other>');
    // The install policy leaves the uninstall group out, or it would reinstall what the uninstall removed.
    expect(seq.policies.get(idOf(first, 'policy'))).toContain(
      '<exclusions><computer_groups><computer_group><id>9</id></computer_group></computer_groups></exclusions>',
    );
    const pkg = seq.packages.get(idOf(first, 'package'))!;
    expect(pkg.body.hashValue).toBe(createHash('sha512').update(pkgBytes).digest('hex'));
  });

  it('the same push again leaves everything unchanged and writes nothing', async () => {
    const { result, writes } = await writesDuring(() => push());
    expect(new Set(actions(result))).toEqual(
      new Set([
        'unchanged package',
        'unchanged script',
        'unchanged profile',
        'unchanged policy',
        'unchanged uninstall policy',
        'unchanged extension attribute',
      ]),
    );
    expect(writes).toEqual([]);
    expect(result.outcome.items.map((i) => i.id)).toEqual(first.outcome.items.map((i) => i.id));
  });

  it('a new pkg is re-uploaded into the same package record: two writes, nothing else touched', async () => {
    const next = randomBytes(310_000);
    writeFileSync(pkgFile(), next);
    const { result, writes } = await writesDuring(() => push());
    expect(result.plan.items.filter((i) => i.action !== 'unchanged').map((i) => `${i.action} ${i.kind}`)).toEqual(['update package']);
    expect(result.plan.items[0].reason).toMatch(/pkg checksum differs/);
    const id = idOf(first, 'package');
    expect(writes).toEqual([
      { method: 'POST', path: `/api/v1/packages/${id}/upload` },
      { method: 'PUT', path: `/api/v1/packages/${id}` },
    ]);
    expect(seq.packages.get(id)!.uploaded!.bytes.equals(next)).toBe(true);
    expect(seq.packages.get(id)!.body.hashValue).toBe(createHash('sha512').update(next).digest('hex'));
  });

  it('objects deleted by hand are recreated; the rest stay', async () => {
    seq.policies.delete(idOf(first, 'policy'));
    seq.profiles.delete(idsOf(first, 'profile')[0]);
    seq.extensionAttributes.delete(idsOf(first, 'extension attribute')[1]);
    const { result, writes } = await writesDuring(() => push());
    expect(result.plan.items.filter((i) => i.action !== 'unchanged').map((i) => `${i.action} ${i.kind}`)).toEqual([
      'create profile',
      'create policy',
      'create extension attribute',
    ]);
    expect(writes.map((w) => w.method)).toEqual(['POST', 'POST', 'POST']);
    expect(seq.policies.size).toBe(2);
    expect(seq.profiles.size).toBe(2);
    expect(seq.extensionAttributes.size).toBe(4);
  });

  it('a 429, a 503 and an expired token in the middle of an update still succeed', async () => {
    const next = randomBytes(320_000);
    writeFileSync(pkgFile(), next);
    seq.fail('POST', /\/upload$/, 503, { retryAfter: '0' });
    seq.fail('PUT', /^\/api\/v1\/packages\/\d+$/, 429, { retryAfter: '0' });
    seq.expireTokensAt('POST', /\/upload$/);
    const tokens = seq.requests.filter((q) => q.path === '/api/oauth/token').length;
    const lines: string[] = [];
    const r = await push(lines);
    expect(r.outcome.retries).toBe(2);
    expect(lines.some((l) => /token rejected; renewing it once/.test(l))).toBe(true);
    // One token for this push, one renewal mid-update.
    expect(seq.requests.filter((q) => q.path === '/api/oauth/token').length - tokens).toBe(2);
    const pkg = seq.packages.get(idOf(first, 'package'))!;
    expect(pkg.uploaded!.bytes.equals(next)).toBe(true);
    expect(pkg.body.hashValue).toBe(createHash('sha512').update(next).digest('hex'));
  });

  it('the uninstall script runs as Jamf calls it ($1-$3 volume, computer, user; parameter 4 --purge)', async () => {
    const contents = String(seq.scripts.get(idOf(first, 'script'))!.scriptContents);
    const script = join(work, 'jamf-uninstall.sh');
    writeFileSync(script, contents);
    const root = join(work, 'mac-root');
    const installed = () => {
      for (const d of ['bin', 'lib', 'runtime']) mkdirSync(join(root, PRODUCT_DIR, d), { recursive: true });
      mkdirSync(join(root, '/Library/LaunchDaemons'), { recursive: true });
      writeFileSync(join(root, daemonPlist('com.acme.backup')), '<plist/>');
      writeFileSync(join(root, PRODUCT_DIR, 'agent.json'), '{}');
    };
    installed();
    const env = { ...process.env, HOLDFAST_UNINSTALL_ROOT: root };
    const kept = await run('sh', [script, '/', 'Mac-042', 'alice', ''], { env });
    expect(kept.stdout).toMatch(/removed the agent; kept/);
    expect(existsSync(join(root, PRODUCT_DIR, 'bin'))).toBe(false);
    expect(existsSync(join(root, daemonPlist('com.acme.backup')))).toBe(false);
    expect(existsSync(join(root, PRODUCT_DIR, 'agent.json'))).toBe(true);
    installed();
    const purged = await run('sh', [script, '/', 'Mac-042', 'alice', '--purge'], { env });
    expect(purged.stdout).toMatch(/removed the agent, its config and its state/);
    expect(existsSync(join(root, PRODUCT_DIR))).toBe(false);
  });
});
