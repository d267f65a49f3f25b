// Two server processes share a device folder (primary and alternate). Each learns the other's chunks by
// re-reading the shared index log; overlapping lookups must not read the same tail twice.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { DeviceStore } from '../server/storage/device-store.js';
import { tempDir } from './helpers/server.js';

describe('device store shared by two servers', () => {
  it('answers many overlapping lookups for chunks the other server stored, without errors', async () => {
    const dir = await tempDir('holdfast-index-');
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
