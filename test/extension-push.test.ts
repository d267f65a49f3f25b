// The extension's "Push to Intune/Jamf (plan first)" without the editor: the settings it asks for, the plan it
// shows in the confirmation modal, the apply, and the plan of a second run (up to date: nothing to confirm).
// The same deployer functions as `holdfast-deploy push`, against the Graph contract test server.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { applyPush, planConfirmation, planPush, pushOutcomeLines, pushSettingsToAsk } from '../extension/src/core/push.js';
import { loadFleet } from '../fleet/load.js';
import { type GraphContractServer, startGraphContractServer } from './helpers/graph-contract-server.js';
import { repoRoot } from './helpers/paths.js';
import { makeMac, makeWindows } from './helpers/push-fixtures.js';

const fleetFile = join(repoRoot, 'examples/fleets/demo.fleet.json');
let work: string;
let server: GraphContractServer;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hf-ext-push-'));
  const loaded = await loadFleet(fleetFile);
  await makeWindows(work, loaded, join(work, 'out', 'demo'), '3.0.0');
  await makeMac(work, loaded, join(work, 'out', 'demo'), randomBytes(30_000));
  server = await startGraphContractServer();
});
afterAll(async () => {
  await server?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('extension push (plan first)', () => {
  it('asks only for the required settings the environment lacks; secrets as passwords', async () => {
    const jamf = await pushSettingsToAsk('jamf', {});
    expect(jamf.map((s) => [s.variable, s.secret])).toEqual([
      ['HOLDFAST_JAMF_URL', false],
      ['HOLDFAST_JAMF_CLIENT_ID', false],
      ['HOLDFAST_JAMF_CLIENT_SECRET', true],
      ['HOLDFAST_JAMF_GROUP_ID', false],
    ]);
    expect(await pushSettingsToAsk('intune', { HOLDFAST_GRAPH_TENANT_ID: 't', HOLDFAST_GRAPH_CLIENT_ID: 'c' })).toEqual([
      expect.objectContaining({ variable: 'HOLDFAST_GRAPH_CLIENT_SECRET', secret: true }),
    ]);
  });

  it('shows the plan (writing nothing), applies it when confirmed, and the next plan is up to date', async () => {
    const env = {
      HOLDFAST_GRAPH_TENANT_ID: server.tenantId,
      HOLDFAST_GRAPH_CLIENT_ID: server.clientId,
      HOLDFAST_GRAPH_CLIENT_SECRET: server.clientSecret,
      HOLDFAST_GRAPH_GROUP_ID: 'grp-ext',
      HOLDFAST_GRAPH_URL: server.graphUrl,
      HOLDFAST_GRAPH_AUTHORITY_URL: server.authorityUrl,
    };
    const lines: string[] = [];
    const options = { service: 'intune' as const, fleetFile, outDir: join(work, 'out'), env, onLine: (l: string) => lines.push(l) };
    const plan = await planPush(options);
    expect(server.writes()).toBe(0);
    const confirm = await planConfirmation(plan);
    expect(confirm.upToDate).toBe(false);
    expect(confirm.message).toBe('Apply to Microsoft Intune for demo? 8 to create, 0 to update, 0 unchanged.');
    expect(confirm.detail.split('\n')).toHaveLength(8);
    expect(confirm.detail).toMatch(/^create +Win32 app +Holdfast Backup: not found/m);

    const result = await applyPush(plan);
    expect(server.apps.size).toBe(2);
    expect(server.configurations.size).toBe(2);
    expect((await pushOutcomeLines(result)).at(-1)).toBe('Microsoft Intune, fleet demo: 8 created, 0 updated, 0 unchanged; 0 retries');
    expect(lines.join('\n')).not.toContain(server.clientSecret);

    const writes = server.writes();
    const again = await planConfirmation(await planPush(options));
    expect(again).toMatchObject({ upToDate: true, message: 'Microsoft Intune is up to date for demo: 8 object(s) unchanged.' });
    expect(server.writes()).toBe(writes);
  });
});
