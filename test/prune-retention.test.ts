// Retention policy rules (restic's forget semantics), backup.retention from the fleet file through configure into
// agent.json, forget/prune/check on a local store folder through the real agent CLI, and the service applying the
// policy after a backup against a real server.
import { describe, expect, it } from 'vitest';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyRetention, checkPolicy } from '../agent/engine/retention.js';
import { configureAgent } from '../agent/configure.js';
import { agentConfigFromFleet } from '../fleet/agent-config.js';
import { loadFleet } from '../fleet/load.js';
import { makeAgent } from './helpers/agent.js';
import { tempDir, useTestServer } from './helpers/server.js';
import { snapshotTree } from './helpers/engine-corpus.js';
import { randomBytesFor } from '../bench/prng.js';
import { repoRoot } from './helpers/paths.js';

const server = useTestServer();
const NO_SERVER = { primary: '127.0.0.1:1', alternate: '127.0.0.1:2' };
const PIN = Array(32).fill('AB').join(':');

const snap = (id: string, time: string) => ({ id, time, size: 1 });

describe('retention rules', () => {
  // Newest first: two on 12-06, one on 12-05, one on 12-01 (same ISO week as 12-05? no: 12-01 is a Tuesday of W49),
  // one on 11-28 (W48), one on 10-15.
  const list = [
    snap('a', '2026-12-06T20:00:00.000Z'),
    snap('b', '2026-12-06T08:00:00.000Z'),
    snap('c', '2026-12-05T08:00:00.000Z'),
    snap('d', '2026-12-01T08:00:00.000Z'),
    snap('e', '2026-11-28T08:00:00.000Z'),
    snap('f', '2026-10-15T08:00:00.000Z'),
  ];
  const kept = (policy: Parameters<typeof applyRetention>[1]) =>
    applyRetention(list, policy)
      .keep.map((s) => s.id)
      .join('');

  it('keep-last, keep-daily, keep-weekly, keep-monthly keep the newest of each period, as restic does', () => {
    expect(kept({ keepLast: 2 })).toBe('ab');
    expect(kept({ keepDaily: 3 })).toBe('acd');
    expect(kept({ keepWeekly: 2 })).toBe('ae');
    expect(kept({ keepMonthly: 3 })).toBe('aef');
    expect(kept({ keepLast: 1, keepMonthly: 2 })).toBe('ae');
    const r = applyRetention(list, { keepLast: 1, keepDaily: 2 });
    expect(r.keep.find((s) => s.id === 'a')?.reasons).toEqual(['last 1', 'daily 2026-12-06']);
    expect(r.forget.map((s) => s.id)).toEqual(['b', 'd', 'e', 'f']);
  });

  it('a policy that keeps nothing is refused, naming the rules', () => {
    expect(() => checkPolicy({})).toThrow(/keeps no snapshot: set at least one of keepLast, keepDaily, keepWeekly, keepMonthly/);
    expect(() => checkPolicy({ keepLast: 0 })).toThrow(/keeps no snapshot/);
    expect(() => checkPolicy({ keepDaily: -1 })).toThrow(/retention keepDaily -1 is not allowed: a whole number from 0 to 100000/);
  });
});

describe('backup.retention from the fleet to agent.json', () => {
  it('the fleet value reaches agent.json through configure; --set overrides one rule; a bad value names the setting', async () => {
    const dir = await tempDir('holdfast-retention-');
    const fleet = JSON.parse(readFileSync(join(repoRoot, 'examples', 'fleets', 'demo.fleet.json'), 'utf8'));
    fleet.backup = { ...fleet.backup, retention: { keepDaily: 7, keepMonthly: 6 } };
    const fleetFile = join(dir, 'demo.fleet.json');
    writeFileSync(fleetFile, JSON.stringify(fleet));
    for (const f of readdirSync(join(repoRoot, 'examples', 'fleets')))
      if (f.endsWith('.pem')) writeFileSync(join(dir, f), readFileSync(join(repoRoot, 'examples', 'fleets', f)));
    const loaded = await loadFleet(fleetFile);
    const defaults = await agentConfigFromFleet(loaded, { technicianId: 'TECH-1' });
    expect(defaults.backup.retention).toEqual({ keepDaily: 7, keepMonthly: 6 });
    const defaultsPath = join(dir, 'fleet-defaults.json');
    writeFileSync(defaultsPath, JSON.stringify(defaults));
    const configPath = join(dir, 'agent', 'agent.json');
    const r = await configureAgent({ configPath, defaultsPath, overrides: { 'backup.retention.keepLast': '3' } });
    expect(r.sources['backup.retention.keepLast']).toBe('given');
    expect(r.sources['backup.retention.keepDaily']).toBe('fleet default');
    expect(JSON.parse(readFileSync(configPath, 'utf8')).backup.retention).toEqual({ keepDaily: 7, keepMonthly: 6, keepLast: 3 });
    await expect(configureAgent({ configPath, defaultsPath, overrides: { 'backup.retention.keepWeekly': 'many' } })).rejects.toThrow(
      /backup\.retention\.keepWeekly|keepWeekly/,
    );
  });
});

describe('forget, prune and check on a local store folder', () => {
  it('forget --prune frees what only the forgotten snapshots used; the kept ones restore; check passes', async () => {
    const work = await tempDir('holdfast-local-prune-');
    const src = join(work, 'Documents');
    const store = join(work, 'store');
    const agent = await makeAgent({
      registration: NO_SERVER,
      tlsPin: PIN,
      config: { backup: { include: [src], exclude: [], protectedPaths: [], schedule: { frequency: 'manual', at: '02:00' } } },
    });
    mkdirSync(src, { recursive: true });
    const trees: Record<string, ReturnType<typeof snapshotTree>> = {};
    const ids: string[] = [];
    for (let gen = 0; gen < 3; gen++) {
      writeFileSync(join(src, 'stable.bin'), randomBytesFor('local-prune', 'stable', 400_000));
      writeFileSync(join(src, 'changing.bin'), randomBytesFor(`local-prune-${gen}`, 'changing', 900_000));
      const b = await agent.run(['backup', '--store', store, '--json', '--quiet']);
      expect(b.code, b.output).toBe(0);
      const id = (JSON.parse(b.stdout) as { snapshotId: string }).snapshotId;
      ids.push(id);
      trees[id] = snapshotTree(src);
    }
    const packBytes = () => readdirSync(join(store, 'packs')).reduce((n, f) => n + (f.endsWith('.pack') ? statSync(join(store, 'packs', f)).size : 0), 0);
    const before = packBytes();
    const help = await agent.run(['forget', '--help']);
    expect(help.stdout).toMatch(/--keep-last <n>[\s\S]*--dry-run[\s\S]*--json/);
    const r = await agent.run(['forget', '--store', store, '--keep-last', '1', '--prune', '--max-unused', '0', '--json']);
    expect(r.code, r.output).toBe(0);
    const result = JSON.parse(r.stdout) as {
      forget: Array<{ id: string }>;
      prune: { chunkBytesDeleted: number; packBytesBefore: number; packBytesAfter: number };
    };
    expect(result.forget.map((s) => s.id).sort()).toEqual(ids.slice(0, 2).sort());
    // Two generations of the 900 kB file, sealed (incompressible: 30 bytes of overhead per chunk, 1-4 chunks each).
    expect(result.prune.chunkBytesDeleted).toBeGreaterThan(1_800_000);
    expect(result.prune.chunkBytesDeleted).toBeLessThan(1_801_000);
    expect(before - packBytes()).toBe(result.prune.packBytesBefore - result.prune.packBytesAfter);
    expect(before - packBytes()).toBe(result.prune.chunkBytesDeleted);
    const out = join(work, 'restored');
    const restore = await agent.run(['restore', '--store', store, '--snapshot', ids[2], '--to', out]);
    expect(restore.code, restore.output).toBe(0);
    expect(snapshotTree(join(out, 'Documents'))).toEqual(trees[ids[2]]);
    const check = await agent.run(['check', '--store', store, '--read-data']);
    expect(check.code, check.output).toBe(0);
    expect(check.stdout).toMatch(/Checked 1 snapshot\(s\), \d+ chunks, \d+ read and authenticated\nNo problems found\./);
  });
});

describe('forget keeps every kept snapshot whole', () => {
  it('a kept delta whose base is forgotten is stored again in full: it still restores, and the next backup builds on it', async () => {
    const work = await tempDir('holdfast-forget-delta-');
    const src = join(work, 'Documents');
    const store = join(work, 'store');
    mkdirSync(src, { recursive: true });
    const agent = await makeAgent({
      registration: NO_SERVER,
      tlsPin: PIN,
      config: { backup: { include: [src], exclude: [], protectedPaths: [], schedule: { frequency: 'manual', at: '02:00' } } },
    });
    for (let i = 0; i < 20; i++) writeFileSync(join(src, `stable-${i}.txt`), `stable file ${i}\n`);
    const trees: Record<string, ReturnType<typeof snapshotTree>> = {};
    const backup = async (gen: number) => {
      writeFileSync(join(src, 'changing.bin'), randomBytesFor(`forget-delta-${gen}`, 'changing', 50_000));
      const b = await agent.run(['backup', '--store', store, '--json', '--quiet']);
      expect(b.code, b.output).toBe(0);
      const id = (JSON.parse(b.stdout) as { snapshotId: string }).snapshotId;
      trees[id] = snapshotTree(src);
      return id;
    };
    const ids = [await backup(0), await backup(1), await backup(2)];
    const r = await agent.run(['forget', '--store', store, '--keep-last', '1', '--prune', '--json']);
    expect(r.code, r.output).toBe(0);
    const result = JSON.parse(r.stdout) as { rewritten: string[]; forget: Array<{ id: string }> };
    // The newest is a delta of the one before (one entry of 21 changed): stored again in full before its base goes.
    expect(result.rewritten).toEqual([ids[2]]);
    expect(result.forget.map((s) => s.id).sort()).toEqual(ids.slice(0, 2).sort());
    const next = await backup(3);
    for (const id of [ids[2], next]) {
      const out = join(work, `restored-${id}`);
      const restore = await agent.run(['restore', '--store', store, '--snapshot', id, '--to', out]);
      expect(restore.code, restore.output).toBe(0);
      expect(snapshotTree(join(out, 'Documents'))).toEqual(trees[id]);
    }
    const check = await agent.run(['check', '--store', store, '--read-data', '--json']);
    expect(check.code, check.output).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({ ok: true, snapshots: 2, brokenSnapshots: [] });
  });
});

describe('the service applies the fleet policy after a backup', () => {
  it('service --once --backup-now with backup.retention.keepLast 2 leaves the two newest snapshots and prunes', async () => {
    const work = await tempDir('holdfast-service-retention-');
    const src = join(work, 'Documents');
    mkdirSync(src, { recursive: true });
    const agent = await makeAgent({
      server,
      config: {
        backup: { include: [src], exclude: [], protectedPaths: [], schedule: { frequency: 'manual', at: '02:00' }, retention: { keepLast: 2 } },
      },
    });
    for (let gen = 0; gen < 3; gen++) {
      writeFileSync(join(src, 'file.bin'), randomBytesFor(`service-retention-${gen}`, 'file', 600_000));
      const r = await agent.run(['service', '--once', '--backup-now']);
      expect(r.code, r.output).toBe(0);
      if (gen < 2) expect(r.output).toMatch(/retention: kept \d snapshot\(s\), forgot 0\n/);
      else {
        // The forgotten snapshot's 600,000 bytes (1-2 chunks, 30 bytes of sealing each) are gone from the packs.
        const m = /retention: kept 2 snapshot\(s\), forgot 1; prune deleted [12] chunks, packs (\d+) -> (\d+) bytes/.exec(r.output);
        expect(m, r.output).not.toBeNull();
        expect(Number(m![1]) - Number(m![2])).toBeGreaterThanOrEqual(600_030);
        expect(Number(m![1]) - Number(m![2])).toBeLessThanOrEqual(600_060);
      }
    }
    const list = await agent.run(['snapshots', '--json']);
    expect(JSON.parse(list.stdout)).toHaveLength(2);
  });
});
