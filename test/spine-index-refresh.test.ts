// Two server processes share a device folder (primary and alternate). Each learns the other's chunks by
// re-reading the shared index log; overlapping lookups must not read the same tail twice.
import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceStore } from '../server/storage/device-store.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('device store shared by two servers', () => {
  it('answers many overlapping lookups for chunks the other server stored, without errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'holdfast-index-'));
    dirs.push(dir);
    const primary = await DeviceStore.open(dir);
    const alternate = await DeviceStore.open(dir);
    try {
      for (let round = 0; round < 5; round++) {
        const ids = Array.from({ length: 200 }, () => randomBytes(32).toString('hex'));
        await alternate.put(ids, ids.map(() => randomBytes(64)));
        // All lookups start before any refresh finishes: each must see the whole new tail exactly once.
        const answers = await Promise.all(ids.map((id) => primary.has([id])));
        expect(answers.every(([present]) => present)).toBe(true);
        const got = await primary.get(ids.slice(0, 3), 1 << 20);
        expect('data' in got && got.data.map((b) => b.length)).toEqual([64, 64, 64]);
      }
      expect(primary.chunkCount).toBe(1000);
    } finally {
      await primary.close();
      await alternate.close();
    }
  });
});
