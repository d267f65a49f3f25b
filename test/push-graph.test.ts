// `holdfast-deploy push intune` against the Graph contract test server: the whole documented flow for the
// Win32 app, a 429 retry (Retry-After) and a 503 retry, 401 errors, a bad envelope, the macOS pkg app and
// profiles, and --dry-run.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { decryptContent, readIntuneWin } from '../installers/intune/intunewin.js';
import { loadFleet } from '../fleet/load.js';
import type { LoadedFleet } from '../fleet/types.js';
import { buildManifest, writeManifest } from '../deployer/manifest.js';
import { installTimeSecrets } from '../deployer/targets/target.js';
import { HttpError, type PushFleetResult, contentOfIntuneWin, pushIntuneApp, pushIntuneFleet } from '../deployer/push/index.js';
import { type GraphContractServer, startGraphContractServer } from './helpers/graph-contract-server.js';
import { deployBin, repoRoot } from './helpers/paths.js';
import { makeMac, makeWindows } from './helpers/push-fixtures.js';

const run = promisify(execFile);
const fleetFile = join(repoRoot, 'examples/fleets/demo.fleet.json');
let work: string;
let outDir: string;
let server: GraphContractServer;
let pkgBytes: Buffer;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hf-push-graph-'));
  outDir = join(work, 'dist');
  const loaded = await loadFleet(fleetFile);
  await makeWindows(work, loaded, join(outDir, 'demo'), '1.2.0');
  pkgBytes = randomBytes(200_000);
  await makeMac(work, loaded, join(outDir, 'demo'), pkgBytes);
  server = await startGraphContractServer();
});

afterAll(async () => {
  await server?.close();
  rmSync(work, { recursive: true, force: true });
});

const fast = { pollIntervalMs: 5, http: { baseDelayMs: 5, maxDelayMs: 50 } };
const idOf = (r: PushFleetResult, kind: string) => r.outcome.items.find((i) => i.kind === kind)!.id;
const itemsOf = (r: PushFleetResult, kind: string) => r.outcome.items.filter((i) => i.kind === kind);

describe('push intune (Graph contract test server)', () => {
  it('runs the documented flow, retries 429 and 503, and commits bytes that match Detection.xml', async () => {
    server.fail('POST', /\/deviceAppManagement\/mobileApps$/, 429, { retryAfter: '0' });
    server.fail('PUT', /^\/blob\//, 503);
    const lines: string[] = [];
    const all = await pushIntuneFleet(fleetFile, {
      outDir,
      platform: 'windows',
      graphUrl: server.graphUrl,
      authorityUrl: server.authorityUrl,
      tenantId: server.tenantId,
      clientId: server.clientId,
      groupId: 'a6b2c3d4-0000-4000-8000-000000000001',
      env: { HOLDFAST_GRAPH_CLIENT_SECRET: server.clientSecret },
      blockSize: 4096,
      log: (l) => lines.push(l),
      ...fast,
    });
    expect(itemsOf(all, 'macOS pkg app')).toEqual([]);
    expect(all.outcome.retries).toBe(2);
    expect(lines.some((l) => /answered 429/.test(l))).toBe(true);
    expect(lines.some((l) => /answered 503/.test(l))).toBe(true);
    const app = server.apps.get(idOf(all, 'Win32 app'))!;
    const result = { contentVersionId: app.committedContentVersion!, blocks: server.requests.filter((r) => r.query.get('comp') === 'block').length - 1 };
    expect(result.contentVersionId).toBe('1');
    expect(app.assignments).toEqual([
      expect.objectContaining({ intent: 'required', target: expect.objectContaining({ groupId: 'a6b2c3d4-0000-4000-8000-000000000001' }) }),
    ]);
    expect(app.body.installCommandLine).toBe('msiexec /i "holdfast-demo.msi" /qn /norestart');
    expect(app.body.uninstallCommandLine).toMatch(/^msiexec \/x "\{[0-9A-F-]{36}\}" \/qn \/norestart$/);
    expect((app.body.installExperience as { runAsAccount: string }).runAsAccount).toBe('system');
    expect((app.body.returnCodes as Array<{ returnCode: number }>).map((r) => r.returnCode)).toEqual([0, 1707, 3010, 1641, 1618]);
    const file = [...app.contentVersions.get(result.contentVersionId)!.values()][0];
    expect(file.uploadState).toBe('commitFileSuccess');
    const pkg = await readIntuneWin(join(outDir, 'demo/intune/holdfast-demo.intunewin'));
    // One block was answered 503 and sent again.
    expect(result.blocks).toBe(Math.ceil(pkg.encrypted.length / 4096));
    expect(result.blocks).toBeGreaterThan(1);
    expect(file.committedBlob!.equals(pkg.encrypted)).toBe(true);
    expect(file.fileEncryptionInfo).toMatchObject({
      encryptionKey: pkg.info.encryptionInfo.encryptionKey,
      macKey: pkg.info.encryptionInfo.macKey,
      mac: pkg.info.encryptionInfo.mac,
      fileDigest: pkg.info.encryptionInfo.fileDigest,
    });
    // Block ids all have one length; binary blocks went as bytes.
    const ids = server.requests.filter((r) => r.query.get('comp') === 'block').map((r) => r.query.get('blockid')!);
    expect(new Set(ids.map((i) => i.length)).size).toBe(1);
  });

  it('fails with commitFileFailed when the encryption info does not match the uploaded bytes', async () => {
    const pkg = await readIntuneWin(join(outDir, 'demo/intune/holdfast-demo.intunewin'));
    const tampered = { ...pkg, info: { ...pkg.info, encryptionInfo: { ...pkg.info.encryptionInfo, mac: Buffer.alloc(32).toString('base64') } } };
    await expect(
      pushIntuneApp(
        contentOfIntuneWin(tampered),
        {
          '@odata.type': '#microsoft.graph.win32LobApp',
          displayName: 'x',
          publisher: 'x',
          fileName: 'x.intunewin',
          setupFilePath: 'x.msi',
          installCommandLine: 'x',
          uninstallCommandLine: 'x',
          installExperience: {},
          rules: [],
          returnCodes: [],
        },
        {
          graphUrl: server.graphUrl,
          authorityUrl: server.authorityUrl,
          tenantId: server.tenantId,
          clientId: server.clientId,
          clientSecret: server.clientSecret,
          ...fast,
        },
      ),
    ).rejects.toThrow(/commitFileFailed/);
  });

  it('reports 401 clearly without printing the secret (bad secret, and a rejected token)', async () => {
    const wrong = 'not-the-secret-1234';
    const err = await pushIntuneFleet(fleetFile, {
      outDir,
      graphUrl: server.graphUrl,
      authorityUrl: server.authorityUrl,
      tenantId: server.tenantId,
      clientId: server.clientId,
      env: { HOLDFAST_GRAPH_CLIENT_SECRET: wrong },
      ...fast,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).status).toBe(401);
    expect((err as Error).message).toMatch(/token: 401 Unauthorized .*client secret/);
    expect((err as Error).message).not.toContain(wrong);

    // A token rejected once is renewed; rejected again, the push stops with the step named.
    server.fail('GET', /\/deviceAppManagement\/mobileApps$/, 401, { times: 2 });
    const err2 = await pushIntuneFleet(fleetFile, {
      outDir,
      graphUrl: server.graphUrl,
      authorityUrl: server.authorityUrl,
      tenantId: server.tenantId,
      clientId: server.clientId,
      env: { HOLDFAST_GRAPH_CLIENT_SECRET: server.clientSecret },
      ...fast,
    }).catch((e: unknown) => e);
    expect((err2 as HttpError).status).toBe(401);
    expect((err2 as Error).message).toMatch(/find apps: 401/);
  });

  it('pushes the macOS pkg app (pkg encrypted like a .intunewin) and the custom configuration profiles', async () => {
    const r = await pushIntuneFleet(fleetFile, {
      outDir,
      platform: 'macos',
      graphUrl: server.graphUrl,
      authorityUrl: server.authorityUrl,
      tenantId: server.tenantId,
      clientId: server.clientId,
      groupId: 'g-mac',
      env: { HOLDFAST_GRAPH_CLIENT_SECRET: server.clientSecret },
      blockSize: 64 * 1024,
      ...fast,
    });
    expect(itemsOf(r, 'Win32 app')).toEqual([]);
    const app = server.apps.get(idOf(r, 'macOS pkg app'))!;
    expect(app.body).toMatchObject({ '@odata.type': '#microsoft.graph.macOSPkgApp', fileName: 'holdfast-demo.pkg', primaryBundleId: 'com.holdfast.agent' });
    const file = [...app.contentVersions.get(app.committedContentVersion!)!.values()][0];
    expect(file.uploadState).toBe('commitFileSuccess');
    expect(file.committedBlob!.length).toBeGreaterThan(2 * 64 * 1024);
    const info = file.fileEncryptionInfo!;
    expect(
      decryptContent(file.committedBlob!, { ...info, profileIdentifier: 'ProfileVersion1', fileDigestAlgorithm: 'SHA256' } as Parameters<
        typeof decryptContent
      >[1]).equals(pkgBytes),
    ).toBe(true);
    expect(itemsOf(r, 'macOS profile')).toHaveLength(2);
    for (const p of itemsOf(r, 'macOS profile')) {
      const conf = server.configurations.get(p.id)!;
      expect(conf.body['@odata.type']).toBe('#microsoft.graph.macOSCustomConfiguration');
      const source = join(outDir, 'demo', String(conf.body.payloadFileName));
      expect(Buffer.from(String(conf.body.payload), 'base64').equals(readFileSync(source))).toBe(true);
      expect(conf.assignments).toEqual([expect.objectContaining({ target: expect.objectContaining({ groupId: 'g-mac' }) })]);
    }
  });

  it('--dry-run reads the state, prints the plan and every change with secrets masked, and changes nothing', async () => {
    const fresh = await startGraphContractServer();
    try {
      const { stdout } = await run(
        process.execPath,
        [
          deployBin,
          'push',
          'intune',
          fleetFile,
          '--out',
          outDir,
          '--dry-run',
          '--graph-url',
          fresh.graphUrl,
          '--authority-url',
          fresh.authorityUrl,
          '--tenant',
          fresh.tenantId,
          '--client-id',
          fresh.clientId,
          '--group',
          'g-1',
        ],
        { env: { ...process.env, HOLDFAST_GRAPH_CLIENT_SECRET: fresh.clientSecret } },
      );
      expect(fresh.writes()).toBe(0);
      expect(fresh.requests.filter((r) => r.method === 'GET').length).toBeGreaterThan(0);
      expect(stdout).not.toContain(fresh.clientSecret);
      expect(stdout).toMatch(/plan for Microsoft Intune, fleet demo: 8 to create, 0 to update, 0 unchanged/);
      expect(stdout).toMatch(/create +Win32 app +Holdfast Backup: not found/);
      for (const step of ['create app', 'content version', 'file entry', 'upload block 1/1', 'block list', 'commit', 'committed version', 'assign']) {
        expect(stdout).toContain(`[dry-run] ${step}: `);
      }
      expect(stdout).toMatch(/"encryptionKey":"\*\*\*"/);
      expect(stdout).toMatch(/authorization: Bearer \*\*\*/);
      expect(stdout).toContain('dry run: nothing was changed');
    } finally {
      await fresh.close();
    }
  });

  it('push --help documents the flags and the secret variable', async () => {
    const { stdout } = await run(process.execPath, [deployBin, 'push', 'intune', '--help']);
    for (const s of ['--tenant', '--client-id', '--group', '--graph-url', '--dry-run', 'HOLDFAST_GRAPH_CLIENT_SECRET']) expect(stdout).toContain(s);
  });
});

describe('push intune is a plan, then an update (sequences on one contract server)', () => {
  let seq: GraphContractServer;
  let seqOut: string;
  let loaded: LoadedFleet;
  let first: PushFleetResult;
  const group = 'c0ffee00-0000-4000-8000-00000000000a';
  const fleetDir = () => join(seqOut, 'demo');
  const push = (lines: string[] = []) =>
    pushIntuneFleet(fleetFile, {
      outDir: seqOut,
      graphUrl: seq.graphUrl,
      authorityUrl: seq.authorityUrl,
      tenantId: seq.tenantId,
      clientId: seq.clientId,
      groupId: group,
      env: { HOLDFAST_GRAPH_CLIENT_SECRET: seq.clientSecret },
      blockSize: 8192,
      log: (l) => lines.push(l),
      ...fast,
    });
  /** The push's result and the requests that changed something on the server meanwhile (its own write count). */
  const writesDuring = async (fn: () => Promise<PushFleetResult>) => {
    const [from, count] = [seq.requests.length, seq.writes()];
    const result = await fn();
    const writes = seq.requests.slice(from).filter((q) => q.method !== 'GET' && !/\/token$/.test(q.path));
    expect(writes.length).toBe(seq.writes() - count);
    return {
      result,
      writes: writes.map((q) => `${q.method} ${q.path.replace(/[0-9a-f-]{36}/g, '{id}')}${q.query.get('comp') ? `?comp=${q.query.get('comp')}` : ''}`),
    };
  };
  const changes = (r: PushFleetResult) => r.plan.items.filter((i) => i.action !== 'unchanged').map((i) => `${i.action} ${i.kind}`);
  const winApp = (r: PushFleetResult) => seq.apps.get(idOf(r, 'Win32 app'))!;

  beforeAll(async () => {
    seq = await startGraphContractServer();
    seqOut = join(work, 'seq');
    loaded = await loadFleet(fleetFile);
    await makeWindows(work, loaded, fleetDir(), '2.0.0');
    await makeMac(work, loaded, fleetDir(), randomBytes(50_000));
  });
  afterAll(async () => {
    await seq?.close();
  });

  it('first push creates both apps, both profiles and their assignments', async () => {
    first = await push();
    expect(first.plan.items.map((i) => `${i.action} ${i.kind}`)).toEqual([
      'create Win32 app',
      'create assignment',
      'create macOS pkg app',
      'create assignment',
      'create macOS profile',
      'create assignment',
      'create macOS profile',
      'create assignment',
    ]);
    expect(seq.apps.size).toBe(2);
    expect(seq.configurations.size).toBe(2);
    for (const app of seq.apps.values()) {
      expect(app.committedContentVersion).toBe('1');
      expect(app.body.notes).toMatch(/^\[holdfast fleet=demo object=(windows|macos)-app content=[0-9a-f]{64} settings=[0-9a-f]{64}\]$/);
      expect(app.assignments).toEqual([expect.objectContaining({ target: expect.objectContaining({ groupId: group }) })]);
    }
  });

  it('the same push again leaves everything unchanged and writes nothing', async () => {
    const { result, writes } = await writesDuring(() => push());
    expect(result.plan.items.every((i) => i.action === 'unchanged')).toBe(true);
    expect(result.plan.items).toHaveLength(8);
    expect(writes).toEqual([]);
    expect(result.outcome.items.map((i) => i.id)).toEqual(first.outcome.items.map((i) => i.id));
  });

  it('a new version becomes a new content version of the same app, with its assignments kept', async () => {
    // An admin added an assignment by hand in the meantime: the update must keep it.
    const app = winApp(first);
    app.assignments!.push({ id: 'by-hand', intent: 'available', target: { '@odata.type': '#microsoft.graph.groupAssignmentTarget', groupId: 'helpdesk' } });
    const assignmentsBefore = structuredClone(app.assignments);
    await makeWindows(work, loaded, fleetDir(), '2.1.0');
    const { result, writes } = await writesDuring(() => push());
    expect(changes(result)).toEqual(['update Win32 app']);
    expect(result.plan.items[0].reason).toMatch(/content changed \(sha256 [0-9a-f]{12} -> [0-9a-f]{12}\), settings changed/);
    expect(idOf(result, 'Win32 app')).toBe(app.id);
    expect(app.committedContentVersion).toBe('2');
    expect(app.body.displayVersion).toBe('2.1.0');
    expect((app.body.rules as Array<{ productVersion: string }>)[0].productVersion).toBe('2.1.0');
    expect(app.assignments).toEqual(assignmentsBefore);
    const pkg = await readIntuneWin(join(fleetDir(), 'intune/holdfast-demo.intunewin'));
    const file = [...app.contentVersions.get('2')!.values()][0];
    expect(file.uploadState).toBe('commitFileSuccess');
    expect(file.committedBlob!.equals(pkg.encrypted)).toBe(true);
    const blocks = Math.ceil(pkg.encrypted.length / 8192);
    expect(writes).toEqual([
      'POST /beta/deviceAppManagement/mobileApps/{id}/microsoft.graph.win32LobApp/contentVersions',
      'POST /beta/deviceAppManagement/mobileApps/{id}/microsoft.graph.win32LobApp/contentVersions/2/files',
      ...Array.from({ length: blocks }, () => 'PUT /blob/{id}?comp=block'),
      'PUT /blob/{id}?comp=blocklist',
      'POST /beta/deviceAppManagement/mobileApps/{id}/microsoft.graph.win32LobApp/contentVersions/2/files/{id}/commit',
      'PATCH /beta/deviceAppManagement/mobileApps/{id}',
    ]);
  });

  it('objects deleted by hand are recreated; the rest stay', async () => {
    const mac = seq.apps.get(idOf(first, 'macOS pkg app'))!;
    seq.apps.delete(mac.id);
    seq.configurations.delete(itemsOf(first, 'macOS profile')[1].id);
    const { result } = await writesDuring(() => push());
    expect(changes(result)).toEqual(['create macOS pkg app', 'create assignment', 'create macOS profile', 'create assignment']);
    const recreated = seq.apps.get(idOf(result, 'macOS pkg app'))!;
    expect(recreated.id).not.toBe(mac.id);
    expect(recreated.committedContentVersion).toBe('1');
    expect(seq.configurations.size).toBe(2);
    expect(idOf(result, 'Win32 app')).toBe(idOf(first, 'Win32 app'));
  });

  it('a 429, a 503 and an expired token in the middle of an update still succeed', async () => {
    await makeWindows(work, loaded, fleetDir(), '2.2.0');
    seq.fail('PUT', /^\/blob\//, 503);
    seq.fail('PATCH', /^\/beta\/deviceAppManagement\/mobileApps\/[^/]+$/, 429, { retryAfter: '0' });
    seq.expireTokensAt('POST', /\/commit$/);
    const tokens = seq.requests.filter((q) => /\/token$/.test(q.path)).length;
    const lines: string[] = [];
    const r = await push(lines);
    expect(changes(r)).toEqual(['update Win32 app']);
    expect(r.outcome.retries).toBe(2);
    expect(lines.some((l) => /commit: token rejected; renewing it once/.test(l))).toBe(true);
    // One token for this push, one renewal mid-update.
    expect(seq.requests.filter((q) => /\/token$/.test(q.path)).length - tokens).toBe(2);
    const app = winApp(first);
    expect(app.committedContentVersion).toBe('3');
    expect(app.body.displayVersion).toBe('2.2.0');
    expect(app.assignments).toHaveLength(2);
  });

  it('refuses a Win32 app whose install line waits for the Technician ID, naming it, unless allowed', async () => {
    const doc = JSON.parse(readFileSync(join(repoRoot, 'examples/fleets/acme.fleet.json'), 'utf8'));
    doc.escrowPublicKey = undefined;
    const acmeFile = join(work, 'acme.fleet.json');
    writeFileSync(acmeFile, JSON.stringify(doc));
    const acme = await loadFleet(acmeFile);
    const dir = join(work, 'at-install', 'acme');
    const made = await makeWindows(work, acme, dir, '1.0.0');
    await writeManifest(dir, await buildManifest(acme.fleet, dir, made, installTimeSecrets(acme.fleet, {})));
    const options = {
      outDir: join(work, 'at-install'),
      graphUrl: seq.graphUrl,
      authorityUrl: seq.authorityUrl,
      tenantId: seq.tenantId,
      clientId: seq.clientId,
      env: { HOLDFAST_GRAPH_CLIENT_SECRET: seq.clientSecret },
      platform: 'windows' as const,
      ...fast,
    };
    const before = seq.requests.length;
    const err = (await pushIntuneFleet(acmeFile, options).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(
      /win32LobApp\.json installs with TECHNICIANID=<Technician ID> \(generated with --technician-id-at-install; its value comes from ACME_TECHNICIAN_ID\)/,
    );
    expect(err.message).toContain('--allow-install-time-placeholders');
    expect(seq.requests.length).toBe(before);
    const allowed = await pushIntuneFleet(acmeFile, { ...options, allowInstallTimePlaceholders: true, dryRun: true });
    expect(allowed.plan.items.map((i) => `${i.action} ${i.kind}`)).toEqual(['create Win32 app']);
  });
});
