// Retention, prune and check with a real holdfast-server and real agent processes on 127.0.0.1: forgetting frees
// exactly the bytes of the chunks only forgotten snapshots used; kept snapshots restore byte-identical; SIGKILLs of
// the pruning agent and of the server (at seeded moments: the k-th change in the device's folders) while a backup
// runs lose nothing; check names a missing and a damaged chunk with the files that use them.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  cpSync,
  type FSWatcher,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  watch,
  writeFileSync,
  openSync,
  writeSync,
  readSync,
  closeSync,
} from 'node:fs';
import { join } from 'node:path';
import { makeAgent, type TestAgent } from './helpers/agent.js';
import { tempDir, useTestServer } from './helpers/server.js';
import { snapshotTree, type TreeEntry } from './helpers/engine-corpus.js';
import { Prng, randomBytesFor } from '../bench/prng.js';
import { loadAgentConfig } from '../agent/config.js';
import { openRemoteStore } from '../agent/remote-store.js';
import { deriveKeys, loadDeviceKey } from '../agent/engine/keys.js';
import { listSnapshots, loadSnapshot } from '../agent/engine/snapshot.js';
import { chunkFiles } from '../agent/engine/snapshot-chunks.js';

const server = useTestServer();
/** A second server process on the same data folder (as a primary and an alternate on one host). */
const second = useTestServer(() => ({ dataDir: server.dataDir, listen: ['127.0.0.1:0'] }));
let agent: TestAgent;
let work: string;
let src: string;
let deviceDir: string;
/** The tree each snapshot was taken of. */
const trees = new Map<string, Record<string, TreeEntry>>();

/** Generation `gen` of the corpus: files 0..7 stay, the rest change with every generation (new bytes, new chunks). */
function writeGeneration(gen: number): void {
  rmSync(src, { recursive: true, force: true });
  mkdirSync(join(src, 'stable'), { recursive: true });
  mkdirSync(join(src, 'changing'), { recursive: true });
  const rnd = new Prng(`prune-sizes-${gen}`);
  for (let i = 0; i < 8; i++) writeFileSync(join(src, 'stable', `s${i}.bin`), randomBytesFor('prune-stable', `s${i}`, 200_000 + i * 50_000));
  for (let i = 0; i < 6; i++) writeFileSync(join(src, 'changing', `c${i}.bin`), randomBytesFor(`prune-gen-${gen}`, `c${i}`, 300_000 + rnd.int(900_000)));
}

async function backup(): Promise<string> {
  const r = await agent.run(['backup', '--json', '--quiet']);
  expect(r.code, r.output).toBe(0);
  const id = (JSON.parse(r.stdout) as { snapshotId: string }).snapshotId;
  trees.set(id, snapshotTree(src));
  return id;
}

function packBytes(): number {
  const dir = join(deviceDir, 'packs');
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

/** index.log as the server reads it: id -> [pack, offset, length] (first line of an id wins). */
function indexLines(): Map<string, [string, number, number]> {
  const out = new Map<string, [string, number, number]>();
  for (const line of readFileSync(join(deviceDir, 'index.log'), 'latin1').split('\n')) {
    const m = /^([0-9a-f]{64}) (\S+\.pack) (\d+) (\d+)$/.exec(line);
    if (m && !out.has(m[1])) out.set(m[1], [m[2], Number(m[3]), Number(m[4])]);
  }
  return out;
}

/** Each snapshot's chunk ids (with the files using them), read the agent's way through the real server. */
async function snapshotChunks(): Promise<Map<string, Map<string, string[]>>> {
  const loaded = await loadAgentConfig(agent.configPath);
  const keys = deriveKeys(loadDeviceKey(loaded.state.deviceKey, false));
  const store = await openRemoteStore(loaded);
  try {
    const out = new Map<string, Map<string, string[]>>();
    for (const s of await listSnapshots(store)) out.set(s.id, chunkFiles(await loadSnapshot(store, keys, s.id)));
    return out;
  } finally {
    await store.close();
  }
}

async function expectRestoresIdentical(ids: string[]): Promise<void> {
  for (const id of ids) {
    const out = join(work, `restore-${id}-${Math.random().toString(36).slice(2)}`);
    const r = await agent.run(['restore', '--snapshot', id, '--to', out]);
    expect(r.code, r.output).toBe(0);
    expect(snapshotTree(join(out, 'Documents')), `snapshot ${id}`).toEqual(trees.get(id));
    rmSync(out, { recursive: true, force: true });
  }
}

async function listIds(): Promise<string[]> {
  const r = await agent.run(['snapshots', '--json']);
  expect(r.code, r.output).toBe(0);
  return (JSON.parse(r.stdout) as Array<{ id: string }>).map((s) => s.id);
}

beforeAll(async () => {
  work = await tempDir('holdfast-prune-');
  src = join(work, 'Documents');
  writeGeneration(0);
  agent = await makeAgent({
    server,
    config: { backup: { include: [src], exclude: [], protectedPaths: [], schedule: { frequency: 'manual', at: '02:00' } } },
  });
  const deviceId = await agent.register();
  deviceDir = join(server.dataDir, 'devices', deviceId);
});

describe('forget and prune against the real server', () => {
  it('storage goes down by exactly the chunks only forgotten snapshots used; kept snapshots restore byte-identical', async () => {
    const ids: string[] = [];
    for (let gen = 0; gen < 4; gen++) {
      writeGeneration(gen);
      ids.push(await backup());
    }
    const chunks = await snapshotChunks();
    const kept = new Set(ids.slice(2));
    const keptIds = new Set([...kept].flatMap((id) => [...chunks.get(id)!.keys()]));
    const index = indexLines();
    let expected = 0;
    for (const [id, [, , length]] of index) if (!keptIds.has(id)) expected += length;
    expect(expected).toBeGreaterThan(2_000_000);

    const dry = await agent.run(['forget', '--keep-last', '2', '--prune', '--max-unused', '0', '--dry-run', '--json']);
    expect(dry.code, dry.output).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, forget: [{ id: ids[1] }, { id: ids[0] }], prune: { chunkBytesDeleted: expected } });
    expect(await listIds()).toHaveLength(4);

    const before = packBytes();
    const r = await agent.run(['forget', '--keep-last', '2', '--prune', '--max-unused', '0', '--json']);
    expect(r.code, r.output).toBe(0);
    const result = JSON.parse(r.stdout) as { forget: Array<{ id: string }>; keep: Array<{ id: string; reasons: string[] }>; prune: Record<string, number> };
    expect(result.forget.map((s) => s.id).sort()).toEqual(ids.slice(0, 2).sort());
    expect(result.keep.map((s) => s.id).sort()).toEqual(ids.slice(2).sort());
    expect(result.prune.chunkBytesDeleted).toBe(expected);
    expect(before - packBytes()).toBe(expected);
    expect(new Set(indexLines().keys())).toEqual(keptIds);

    expect((await listIds()).sort()).toEqual(ids.slice(2).sort());
    await expectRestoresIdentical(ids.slice(2));
    const check = await agent.run(['check', '--read-data', '--json']);
    expect(check.code, check.output).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({ ok: true, snapshots: 2, chunks: keptIds.size, chunksRead: keptIds.size });

    // Nothing more to delete: a second prune changes nothing.
    const again = await agent.run(['prune', '--max-unused', '0', '--json']);
    expect(again.code, again.output).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ chunksDeleted: 0, packBytesBefore: packBytes(), packBytesAfter: packBytes() });
  });

  it('10 SIGKILLs of the pruning agent or the server at seeded moments, with a backup running meanwhile, lose nothing', async () => {
    const rnd = new Prng('prune-kills');
    const survived: string[] = [];
    for (let round = 0; round < 10; round++) {
      writeGeneration(10 + round * 2);
      await backup();
      writeGeneration(11 + round * 2);
      const tree = snapshotTree(src);
      // The k-th change in the device's folders (snapshots deleted, packs written or deleted, index replaced, ...).
      const k = 1 + rnd.int(8);
      const victim = round % 2 === 0 ? 'agent' : 'server';
      const watchers: FSWatcher[] = [];
      let events = 0;
      let fire: () => void = () => undefined;
      const reached = new Promise<void>((resolve) => {
        fire = resolve;
      });
      for (const dir of [deviceDir, join(deviceDir, 'packs'), join(deviceDir, 'snapshots')])
        watchers.push(
          watch(dir, () => {
            if (++events === k) fire();
          }),
        );
      const pruner = agent.spawn(['forget', '--keep-last', '2', '--prune', '--max-unused', '0', '--json']);
      const backuper = agent.spawn(['backup', '--json', '--quiet']);
      let prunerDone = false;
      void pruner.exited.then(() => {
        prunerDone = true;
      });
      const done = Promise.all([pruner.exited, backuper.exited]);
      await Promise.race([reached, done]);
      for (const w of watchers) w.close();
      const midPrune = !prunerDone;
      if (victim === 'agent') await pruner.kill9();
      else await server.kill9();
      if (victim === 'server') await server.restart();
      const [, b] = await Promise.all([pruner.exited, backuper.exited]);
      // A backup cut off by the server's kill may have failed: it is run again, as the service would.
      const snap = b.code === 0 ? (JSON.parse(backuper.stdout()) as { snapshotId: string }).snapshotId : await backup();
      trees.set(snap, tree);
      const prune = await agent.run(['forget', '--keep-last', '2', '--prune', '--max-unused', '0', '--json']);
      expect(prune.code, prune.output).toBe(0);
      const check = await agent.run(['check', '--json']);
      expect(check.code, `round ${round} (${victim} killed at change ${k}): ${check.output}`).toBe(0);
      survived.push(`${victim}@${k}${midPrune ? ' mid-prune' : ''}`);
    }
    expect(survived).toHaveLength(10);
    // The moments are the k-th file change of the prune or the backup: most land while the prune still runs.
    expect(survived.filter((s) => s.endsWith('mid-prune')).length, survived.join(', ')).toBeGreaterThanOrEqual(5);
    process.stdout.write(`kills survived: ${survived.join(', ')}\n`);
    const check = await agent.run(['check', '--read-data', '--json']);
    expect(check.code, check.output).toBe(0);
    const kept = await listIds();
    expect(kept).toHaveLength(2);
    await expectRestoresIdentical(kept);
  });

  it('a backup through a second server process on the same data folder while the first prunes loses nothing', async () => {
    await backup();
    // The same device through the other process: a copy of the agent's state whose every dial of the first server's
    // addresses goes to the second (the mapped-firewall setting), so pushed server pairs cannot move it back.
    const other = await makeAgent({
      server,
      config: { backup: agent.config.backup, addressMap: Object.fromEntries(server.addresses.map((a) => [a, second.addresses[0]])) },
    });
    cpSync(agent.stateDir, other.stateDir, { recursive: true });
    const otherRun = async (args: string[]) => {
      const r = await other.run(args);
      expect(r.code, r.output).toBe(0);
      return r;
    };
    await otherRun(['check']);
    for (let round = 0; round < 3; round++) {
      writeGeneration(40 + round);
      await backup();
      writeGeneration(50 + round);
      const tree = snapshotTree(src);
      // A restore of the newest snapshot runs meanwhile too: the sweep moves its chunks to a new pack under it.
      const [newest] = await listIds();
      const out = join(work, `restore-during-prune-${round}`);
      const [prune, b, restore] = await Promise.all([
        agent.run(['forget', '--keep-last', '2', '--prune', '--max-unused', '0', '--json']),
        other.run(['backup', '--json', '--quiet']),
        agent.run(['restore', '--snapshot', newest, '--to', out]),
      ]);
      expect(prune.code, prune.output).toBe(0);
      expect(b.code, b.output).toBe(0);
      expect(restore.code, restore.output).toBe(0);
      expect(snapshotTree(join(out, 'Documents'))).toEqual(trees.get(newest));
      rmSync(out, { recursive: true, force: true });
      trees.set((JSON.parse(b.stdout) as { snapshotId: string }).snapshotId, tree);
      // Both processes answer from the index as it is after the sweep (the second reloads it: the epoch grew).
      await otherRun(['check']);
      const check = await agent.run(['check']);
      expect(check.code, check.output).toBe(0);
    }
    expect(second.output().match(/session start/g)?.length).toBeGreaterThanOrEqual(7);
    await otherRun(['check', '--read-data']);
    const kept = await listIds();
    for (const id of kept) {
      const out = join(work, `restore-second-${id}`);
      await otherRun(['restore', '--snapshot', id, '--to', out]);
      expect(snapshotTree(join(out, 'Documents')), `snapshot ${id} through the second server`).toEqual(trees.get(id));
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('check names a missing and a damaged chunk with the files that use them', async () => {
    const chunks = await snapshotChunks();
    const [latest] = await listIds();
    const byChunk = chunks.get(latest)!;
    const pick = (re: RegExp) => [...byChunk].find(([, files]) => files.length === 1 && re.test(files[0]))!;
    const [missingId, [missingFile]] = pick(/stable\/s1\.bin$/);
    const [damagedId, [damagedFile]] = pick(/stable\/s2\.bin$/);
    await server.stop();
    const index = indexLines();
    const [pack, offset, length] = index.get(damagedId)!;
    const fd = openSync(join(deviceDir, 'packs', pack), 'r+');
    const one = Buffer.alloc(1);
    readSync(fd, one, 0, 1, offset + Math.floor(length / 2));
    one[0] ^= 0x40;
    writeSync(fd, one, 0, 1, offset + Math.floor(length / 2));
    closeSync(fd);
    const log = readFileSync(join(deviceDir, 'index.log'), 'latin1');
    writeFileSync(
      join(deviceDir, 'index.log'),
      log
        .split('\n')
        .filter((l) => !l.startsWith(`${missingId} `))
        .join('\n'),
      'latin1',
    );
    await server.restart();

    const quick = await agent.run(['check']);
    expect(quick.code).toBe(1);
    expect(quick.stdout).toContain(`missing chunk ${missingId}`);
    expect(quick.stdout).toContain(`${latest}: ${missingFile}`);
    expect(quick.stdout).not.toContain(damagedId);

    const full = await agent.run(['check', '--read-data', '--json']);
    expect(full.code).toBe(1);
    const r = JSON.parse(full.stdout) as {
      ok: boolean;
      missing: Array<{ id: string; files: string[] }>;
      damaged: Array<{ id: string; files: string[]; error: string }>;
    };
    expect(r.ok).toBe(false);
    expect(r.missing.map((m) => m.id)).toEqual([missingId]);
    expect(r.missing[0].files).toContain(`${latest}: ${missingFile}`);
    expect(r.damaged.map((d) => d.id)).toEqual([damagedId]);
    expect(r.damaged[0].files).toContain(`${latest}: ${damagedFile}`);
    expect(r.damaged[0].error).toMatch(/failed authentication/);
  });
});
