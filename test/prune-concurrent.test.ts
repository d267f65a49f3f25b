// A backup that relied on an answer a prune then made false: the backup found chunk X on the server, a prune
// (marked after that answer) deleted X, so the snapshot's PUT is refused (stale-epoch), the backup checks its chunks
// again, finds X gone and runs once more, uploading X. Driven step by step through the engine against a real server:
// the prune runs exactly when the backup's HAS for X has been answered (no timing involved).
import { beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeAgent, type TestAgent } from './helpers/agent.js';
import { tempDir, useTestServer } from './helpers/server.js';
import { snapshotTree } from './helpers/engine-corpus.js';
import { randomBytesFor } from '../bench/prng.js';
import { loadAgentConfig } from '../agent/config.js';
import { openRemoteStore } from '../agent/remote-store.js';
import { runBackup } from '../agent/engine/agent-api.js';
import { runForget } from '../agent/engine/prune-api.js';
import { deriveKeys, loadDeviceKey } from '../agent/engine/keys.js';
import { loadSnapshot } from '../agent/engine/snapshot.js';
import { chunkFiles } from '../agent/engine/snapshot-chunks.js';

const server = useTestServer();
let agent: TestAgent;
let src: string;
let work: string;

beforeAll(async () => {
  work = await tempDir('holdfast-prune-concurrent-');
  src = join(work, 'Documents');
  mkdirSync(src, { recursive: true });
  agent = await makeAgent({ server, config: { backup: { include: [src], exclude: [], protectedPaths: [], schedule: { frequency: 'manual', at: '02:00' } } } });
  await agent.register();
});

describe('a prune during a backup', () => {
  it('deletes a chunk the backup found before the mark: the snapshot is refused, the backup runs again and uploads it', async () => {
    const a = randomBytesFor('concurrent', 'a', 700_000);
    const b = randomBytesFor('concurrent', 'b', 700_000);
    const write = (data: Buffer, mtime: number) => {
      writeFileSync(join(src, 'report.bin'), data);
      writeFileSync(join(src, 'note.txt'), `version ${mtime}\n`);
    };
    const backup = async () => {
      const r = await agent.run(['backup', '--json', '--quiet']);
      expect(r.code, r.output).toBe(0);
      return (JSON.parse(r.stdout) as { snapshotId: string }).snapshotId;
    };
    write(a, 1);
    const first = await backup();
    write(b, 2);
    const second = await backup();

    const loaded = await loadAgentConfig(agent.configPath);
    const keys = deriveKeys(loadDeviceKey(loaded.state.deviceKey, false));
    const store = await openRemoteStore(loaded);
    try {
      const aChunks = [...chunkFiles(await loadSnapshot(store, keys, first)).entries()].filter(([, f]) => f.includes('Documents/report.bin')).map(([id]) => id);
      expect(aChunks.length).toBeGreaterThan(0);
      const secondChunks = chunkFiles(await loadSnapshot(store, keys, second));
      const onlyFirst = [...chunkFiles(await loadSnapshot(store, keys, first)).keys()].filter((id) => !secondChunks.has(id));
      // Back to the first content: the backup finds its chunks on the server and sends none of them.
      write(a, 3);
      const tree = snapshotTree(src);
      const asked = store.has.bind(store);
      let pruned: Awaited<ReturnType<typeof runForget>> | undefined;
      store.has = async (ids: string[]) => {
        const present = await asked(ids);
        if (!pruned && aChunks.every((id) => present.has(id))) {
          // Now, with the answer given: forget the first snapshot and prune (a separate connection, as another agent).
          pruned = await runForget(loaded, { policy: { keepLast: 1 }, prune: { maxUnusedPercent: 0 } });
        }
        return present;
      };
      const warnings: string[] = [];
      const result = await runBackup(loaded, { store, onWarning: (w) => warnings.push(w) });
      expect(pruned?.forget.map((s) => s.id)).toEqual([first]);
      expect(pruned?.prune?.chunksDeleted).toBe(onlyFirst.length);
      expect(warnings.join('\n')).toMatch(new RegExp(`a prune deleted ${aChunks.length} chunk\\(s\\) this backup uses while it ran; the backup runs again`));
      // The second run read the file again and uploaded what the prune took.
      expect(result.chunksUploaded).toBe(aChunks.length);
      const have = await store.has(aChunks);
      expect(have.size).toBe(aChunks.length);

      const out = join(work, 'restored');
      const r = await agent.run(['restore', '--snapshot', result.snapshotId, '--to', out]);
      expect(r.code, r.output).toBe(0);
      expect(snapshotTree(join(out, 'Documents'))).toEqual(tree);
      const check = await agent.run(['check', '--read-data']);
      expect(check.code, check.output).toBe(0);
    } finally {
      await store.close();
    }
  });
});
