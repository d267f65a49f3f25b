// Fleet health and storage quotas with real processes: agents report after every backup attempt, `holdfast-server
// report` lists devices with last success, storage and failures and flags stale ones (time injected with --now, no
// sleeps); a backup over a device or fleet quota fails at the agent with an error naming the quota, and the server
// keeps nothing of the refused upload. The sidebar's Devices view is built from the same report.
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { parse as parseCsv } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';
import { RemoteStore, ServerRefusedError } from '../agent/remote-store.js';
import type { DeviceHealthRow } from '../protocol/health.js';
import { validateServerConfig } from '../server/config.js';
import { devicesTree, loadDeviceReport } from '../extension/src/core/devices.js';
import { makeAgent, manualBackup, type TestAgent } from './helpers/agent.js';
import { serverBin, repoRoot } from './helpers/paths.js';
import { runProcess } from './helpers/process.js';
import { tempDir, TEST_TECHNICIAN_ID, useTestServer } from './helpers/server.js';

const OTHER_TECHNICIAN_ID = 'TEST-TECH-BETA-SECRET-0002';
const KiB = 1024;
const DEVICE_QUOTA = 400 * KiB;

function report(dataDir: string, args: string[] = []) {
  return runProcess(process.execPath, [serverBin, 'report', '--data', dataDir, ...args], { cwd: repoRoot });
}

async function reportJson(dataDir: string, args: string[] = []): Promise<DeviceHealthRow[]> {
  const r = await report(dataDir, ['--json', ...args]);
  expect(r.code, r.output).toBe(0);
  return JSON.parse(r.stdout) as DeviceHealthRow[];
}

/** A folder of `bytes` random (incompressible) bytes in files of at most 256 KiB. */
async function randomFolder(bytes: number): Promise<string> {
  const root = join(await tempDir('holdfast-health-'), 'data');
  await mkdir(root, { recursive: true });
  for (let i = 0; bytes > 0; i++) {
    const n = Math.min(bytes, 256 * KiB);
    await writeFile(join(root, `f${i}.bin`), randomBytes(n));
    bytes -= n;
  }
  return root;
}

/** What a device keeps on the server: snapshot files, and per pack file its size and the bytes index.log places in it. */
async function deviceStorage(dataDir: string, deviceId: string) {
  const dir = join(dataDir, 'devices', deviceId);
  const snapshots = await readdir(join(dir, 'snapshots')).catch(() => []);
  const packs: Record<string, { size: number; indexed: number }> = {};
  for (const name of await readdir(join(dir, 'packs')).catch(() => [])) packs[name] = { size: (await stat(join(dir, 'packs', name))).size, indexed: 0 };
  const log = await readFile(join(dir, 'index.log'), 'latin1').catch(() => '');
  for (const line of log.split('\n')) {
    const [, pack, offset, length] = line.split(' ');
    if (pack && packs[pack]) packs[pack].indexed = Math.max(packs[pack].indexed, Number(offset) + Number(length));
  }
  return { snapshots, packs };
}

describe('fleet health report and the device quota', () => {
  const server = useTestServer({ technicianIds: [TEST_TECHNICIAN_ID, OTHER_TECHNICIAN_ID], quotas: { deviceBytes: DEVICE_QUOTA } });
  let healthy: TestAgent;
  let overQuota: TestAgent;
  let idle: TestAgent;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    healthy = await makeAgent({ server, config: { fleet: 'alpha', backup: manualBackup([await randomFolder(100 * KiB)]) } });
    overQuota = await makeAgent({
      server,
      technicianId: OTHER_TECHNICIAN_ID,
      config: { fleet: 'beta', backup: manualBackup([await randomFolder(1024 * KiB)]) },
    });
    idle = await makeAgent({ server, config: { fleet: 'alpha' } });
    ids.healthy = await healthy.register();
    ids.overQuota = await overQuota.register();
    ids.idle = await idle.register();
  });

  it('a backup over the device quota fails at the agent naming the quota, and the server keeps nothing of it', async () => {
    const ok = await healthy.run(['backup', '--quiet']);
    expect(ok.code, ok.output).toBe(0);

    const refused = await overQuota.run(['backup', '--quiet']);
    expect(refused.code, refused.output).toBe(1);
    expect(refused.stderr).toMatch(
      /storage quota exceeded: device dev-[0-9a-f]{24} holds .* over its quota of 400 KiB \(quotas\.deviceBytes in the server config\)/,
    );
    expect(refused.stderr).toContain('nothing of it was stored');
    const status = await overQuota.status();
    expect(status.lastError).toMatch(/quotas\.deviceBytes/);

    const kept = await deviceStorage(server.dataDir, ids.overQuota);
    expect(kept.snapshots).toEqual([]);
    // Every pack byte is a whole, indexed chunk: no half-written upload.
    for (const [name, p] of Object.entries(kept.packs)) expect(p.size, name).toBe(p.indexed);
    const stored = Object.values(kept.packs).reduce((n, p) => n + p.size, 0);
    expect(stored).toBeLessThanOrEqual(DEVICE_QUOTA);
  });

  it('report lists every device with last success, storage and failures, flags stale ones, and never shows a Technician ID', async () => {
    const rows = await reportJson(server.dataDir);
    const by = Object.fromEntries(rows.map((r) => [r.deviceId, r]));
    expect(Object.keys(by).sort()).toEqual(Object.values(ids).sort());

    const h = by[ids.healthy];
    expect(h.lastOutcome).toBe('completed');
    expect(Date.now() - Date.parse(h.lastSuccess!)).toBeLessThan(120_000);
    expect(h).toMatchObject({ failures: 0, stale: false, fleetName: 'alpha', files: 1, backupBytes: 100 * KiB, warnings: 0, skipped: 0 });
    expect(h.storedBytes).toBeGreaterThan(100 * KiB);
    expect(h.agentVersion).toMatch(/^\d+\.\d+/);
    expect(h.freeBytes).toBeGreaterThan(0);

    const q = by[ids.overQuota];
    expect(q).toMatchObject({ lastOutcome: 'failed', failures: 1, stale: true, lastSuccess: null, fleetName: 'beta' });
    expect(q.lastError).toMatch(/quotas\.deviceBytes/);
    expect(q.fleetId).not.toBe(h.fleetId);

    expect(by[ids.idle]).toMatchObject({ lastSuccess: null, lastReport: null, failures: 0, stale: true, fleetId: h.fleetId });

    // Four days on, the healthy device is stale too (--stale 3d); with --stale 5d it is not.
    const later = new Date(Date.now() + 4 * 86_400_000).toISOString();
    expect((await reportJson(server.dataDir, ['--now', later])).find((r) => r.deviceId === ids.healthy)!.stale).toBe(true);
    expect((await reportJson(server.dataDir, ['--now', later, '--stale', '5d'])).find((r) => r.deviceId === ids.healthy)!.stale).toBe(false);

    const text = await report(server.dataDir, ['--now', later]);
    expect(text.code, text.output).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`STALE +${ids.healthy}`));
    expect(text.stdout).toContain('3 devices, 3 stale');
    expect(text.stdout).toContain('quotas.deviceBytes');
    for (const out of [text.output, JSON.stringify(rows)]) {
      expect(out).not.toContain(TEST_TECHNICIAN_ID);
      expect(out).not.toContain(OTHER_TECHNICIAN_ID);
    }

    const csv = await report(server.dataDir, ['--csv']);
    expect(csv.code, csv.output).toBe(0);
    const records = parseCsv(csv.stdout, { columns: true }) as Record<string, string>[];
    expect(records.map((r) => r.deviceId).sort()).toEqual(Object.values(ids).sort());
    expect(records.find((r) => r.deviceId === ids.overQuota)).toMatchObject({ failures: '1', stale: 'true', lastSuccess: '' });

    // --fleet takes the fleet name the agents report or the server's fleet id.
    expect((await reportJson(server.dataDir, ['--fleet', 'alpha'])).map((r) => r.deviceId).sort()).toEqual([ids.healthy, ids.idle].sort());
    expect((await reportJson(server.dataDir, ['--fleet', q.fleetId])).map((r) => r.deviceId)).toEqual([ids.overQuota]);

    const bad = await report(server.dataDir, ['--stale', '3 days']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--stale "3 days" is not allowed: expected a positive whole number and a unit s, m, h, d or w');
  });

  it('the server refuses malformed, oversized and hostile reports with an error naming the field, and keeps the last good one', async () => {
    const reg = JSON.parse(await readFile(join(idle.stateDir, 'registration.json'), 'utf8'));
    const store = new RemoteStore({ servers: reg.servers, deviceId: reg.deviceId, credential: reg.credential, tlsPin: server.pin });
    const good = {
      time: new Date().toISOString(),
      outcome: 'failed' as const,
      lastSuccess: null,
      files: 0,
      bytes: 0,
      warnings: 0,
      skipped: 0,
      agentVersion: '9.9.9',
      freeBytes: 1,
      fleet: 'alpha',
      error: 'disk full',
    };
    try {
      const refusal = async (r: unknown) => {
        const err = await store.report(r as typeof good).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(ServerRefusedError);
        expect((err as ServerRefusedError).code).toBe('bad-request');
        return (err as Error).message;
      };
      expect(await refusal({ ...good, outcome: 'great' })).toContain('report.outcome "great" is not allowed: expected one of completed');
      expect(await refusal({ ...good, files: -1 })).toContain('report.files -1 is not allowed');
      expect(await refusal({ ...good, fleet: 'red\x1b[31m' })).toContain('report.fleet is not allowed');
      expect(await refusal({ ...good, extra: 1 })).toContain('report.extra: unknown field');
      expect(await refusal({ ...good, error: 'x'.repeat(5000) })).toMatch(/report is \d+ bytes: at most 4096 allowed/);
      await store.report(good);
    } finally {
      await store.close();
    }
    const row = (await reportJson(server.dataDir)).find((r) => r.deviceId === ids.idle)!;
    expect(row).toMatchObject({ failures: 1, lastError: 'disk full', agentVersion: '9.9.9', lastOutcome: 'failed' });
  });

  it("the sidebar's Devices view lists the report's devices, stale ones first and marked", async () => {
    const rows = await loadDeviceReport(serverBin, server.dataDir);
    const nodes = devicesTree(rows);
    expect(nodes).toHaveLength(3);
    const healthyNode = nodes.find((n) => n.id === `device:${ids.healthy}`)!;
    expect(healthyNode.description).toMatch(/^last success today/);
    expect(healthyNode.contextValue).toBe('holdfast.device');
    const stale = nodes.filter((n) => n.contextValue === 'holdfast.device.stale');
    expect(stale.map((n) => n.id).sort()).toEqual([`device:${ids.overQuota}`, `device:${ids.idle}`].sort());
    expect(nodes.slice(0, 2).every((n) => n.description!.startsWith('STALE · '))).toBe(true);
    expect(stale.every((n) => n.icon?.id === 'warning')).toBe(true);
    expect(nodes.find((n) => n.id === `device:${ids.overQuota}`)!.tooltip).toContain('quotas\\.deviceBytes');
  });
});

describe('the fleet quota', () => {
  const server = useTestServer({ quotas: { fleetBytes: 1024 * KiB } });

  it('counts every device of the fleet: the second device over it is refused naming quotas.fleetBytes', async () => {
    const first = await makeAgent({ server, config: { backup: manualBackup([await randomFolder(600 * KiB)]) } });
    const second = await makeAgent({ server, config: { backup: manualBackup([await randomFolder(600 * KiB)]) } });
    await first.register();
    const secondId = await second.register();
    const ok = await first.run(['backup', '--quiet']);
    expect(ok.code, ok.output).toBe(0);
    const refused = await second.run(['backup', '--quiet']);
    expect(refused.code, refused.output).toBe(1);
    expect(refused.stderr).toMatch(
      /storage quota exceeded: fleet fleet-[0-9a-f]{10} holds .* over its quota of 1\.0 MiB \(quotas\.fleetBytes in the server config\)/,
    );
    const kept = await deviceStorage(server.dataDir, secondId);
    expect(kept.snapshots).toEqual([]);
    for (const [name, p] of Object.entries(kept.packs)) expect(p.size, name).toBe(p.indexed);
    // The first device, alone in a fleet under its quota, backs up again (nothing new to send).
    const again = await first.run(['backup', '--quiet']);
    expect(again.code, again.output).toBe(0);
  });

  it('a backup that fails before it reaches the store (an unreadable device key) is reported too', async () => {
    const broken = await makeAgent({ server, config: { backup: manualBackup([await randomFolder(10 * KiB)]) } });
    const id = await broken.register();
    await mkdir(join(broken.stateDir, 'device.key'));
    const r = await broken.run(['backup', '--quiet']);
    expect(r.code, r.output).toBe(1);
    const row = (await reportJson(server.dataDir)).find((d) => d.deviceId === id)!;
    expect(row).toMatchObject({ lastOutcome: 'failed', failures: 1, stale: true });
    expect(row.lastError).toMatch(/device\.key|EISDIR/);
  });
});

describe('per-fleet quota overrides', () => {
  const fleetId = `fleet-${createHash('sha256').update(TEST_TECHNICIAN_ID).digest('hex').slice(0, 10)}`;
  const server = useTestServer({ quotas: { deviceBytes: 64 * 1024 * KiB, fleets: { [fleetId]: { deviceBytes: 100 * KiB } } } });

  it("a fleet's own device quota replaces the default and the error names it", async () => {
    const agent = await makeAgent({ server, config: { backup: manualBackup([await randomFolder(300 * KiB)]) } });
    await agent.register();
    const r = await agent.run(['backup', '--quiet']);
    expect(r.code, r.output).toBe(1);
    expect(r.stderr).toContain(`over its quota of 100 KiB (quotas.fleets.${fleetId}.deviceBytes in the server config)`);
    const rows = await reportJson(server.dataDir);
    expect(rows.map((d) => d.fleetId)).toEqual([fleetId]);
  });

  it('bad quota settings are refused naming the JSON path, the value and what is allowed', () => {
    const bad = (quotas: unknown) => {
      try {
        validateServerConfig({ technicianIds: [TEST_TECHNICIAN_ID], quotas }, 'server.json', '.');
      } catch (err) {
        return (err as Error).message;
      }
      return 'accepted';
    };
    expect(bad({ deviceBytes: 0 })).toContain('/quotas/deviceBytes: 0 is not allowed; expected a whole number of bytes from 1 to');
    expect(bad({ fleetBytes: '1GB' })).toContain('/quotas/fleetBytes: "1GB" is not allowed');
    expect(bad({ devices: 1 })).toContain('/quotas/devices: unknown field (allowed: deviceBytes, fleetBytes, fleets)');
    expect(bad({ fleets: { [TEST_TECHNICIAN_ID]: { deviceBytes: 1 } } })).toContain('not a fleet id; expected fleet-<10 hex digits>');
    expect(bad({ fleets: { [fleetId]: { deviceBytes: -5 } } })).toContain(`/quotas/fleets/${fleetId}/deviceBytes: -5 is not allowed`);
    expect(bad({ deviceBytes: 1024, fleets: { [fleetId]: { fleetBytes: 4096 } } })).toBe('accepted');
  });
});

describe('the device quota after a prune', () => {
  const server = useTestServer({ quotas: { deviceBytes: 400 * KiB } });

  it('forget --prune frees quota: a backup refused for the quota succeeds once the forgotten data is deleted', async () => {
    const folder = await randomFolder(250 * KiB);
    await writeFile(join(folder, 'notes.txt'), 'kept in every snapshot\n');
    const agent = await makeAgent({ server, config: { backup: manualBackup([folder]) } });
    await agent.register();
    const backup = () => agent.run(['backup', '--quiet']);
    expect((await backup()).code).toBe(0);
    await rm(join(folder, 'f0.bin'));
    expect((await backup()).code).toBe(0);
    await writeFile(join(folder, 'g0.bin'), randomBytes(250 * KiB));

    const refused = await backup();
    expect(refused.code, refused.output).toBe(1);
    expect(refused.stderr).toContain('quotas.deviceBytes');

    const fp = await agent.run(['forget', '--keep-last', '1', '--prune', '--json']);
    expect(fp.code, fp.output).toBe(0);
    const result = JSON.parse(fp.stdout) as { forget: unknown[]; prune: { packBytesBefore: number; packBytesAfter: number } };
    expect(result.forget).toHaveLength(1);
    expect(result.prune.packBytesBefore - result.prune.packBytesAfter).toBeGreaterThanOrEqual(250 * KiB);
    const again = await backup();
    expect(again.code, again.output).toBe(0);
  });
});
