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
import { HttpError, type PushFleetResult, contentOfIntuneWin, pushIntuneApp, pushIntuneFleet } from '../deployer/push/index.js';
import { intuneMacosTarget, intuneTarget } from '../deployer/targets/intune.js';
import { jamfProfilesTarget } from '../deployer/targets/jamf-profiles.js';
import { type GraphContractServer, startGraphContractServer } from './helpers/graph-contract-server.js';
import { deployBin, repoRoot } from './helpers/paths.js';
import { buildTinyMsi } from './helpers/tiny-msi.js';

const run = promisify(execFile);
const fleetFile = join(repoRoot, 'examples/fleets/demo.fleet.json');
let work: string;
let outDir: string;
let server: GraphContractServer;
let pkgBytes: Buffer;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hf-push-graph-'));
  outDir = join(work, 'dist');
  const msi = buildTinyMsi(work, { fileName: 'holdfast-demo.msi' });
  const loaded = await loadFleet(fleetFile);
  const fleetDir = join(outDir, 'demo');
  await intuneTarget.make({
    loaded,
    secrets: {},
    outDir: fleetDir,
    cacheDir: work,
    previous: [{ target: 'msi', path: msi, description: 'msi' }],
    progress: () => {},
  });
  // macOS: the real profiles; a 200 kB stand-in for the 77 MB pkg exercises the same upload.
  const profiles = await jamfProfilesTarget.make({ loaded, secrets: {}, outDir: fleetDir, cacheDir: work, previous: [], progress: () => {} });
  pkgBytes = randomBytes(200_000);
  writeFileSync(join(fleetDir, 'holdfast-demo.pkg'), pkgBytes);
  await intuneMacosTarget.make({
    loaded,
    secrets: {},
    outDir: fleetDir,
    cacheDir: work,
    previous: [{ target: 'pkg', path: join(fleetDir, 'holdfast-demo.pkg'), description: 'pkg' }, ...profiles],
    progress: () => {},
  });
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
