// A backup that loses its servers ends: "cannot reach any backup server", the failure recorded, and the process
// exits, even when a server comes back while a connection attempt is still running (a connection made after the
// store was closed used to be kept, and the agent never exited).
import { beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registeredDevice, type TestDevice } from './helpers/device.js';
import { storedChunkIds, tempDir, useTestServer, waitForStoredChunks } from './helpers/server.js';

const server = useTestServer();
let device: TestDevice;
let src: string;

beforeAll(async () => {
  const work = await tempDir('holdfast-exit-');
  src = join(work, 'data');
  mkdirSync(src);
  device = await registeredDevice({
    server,
    config: { backup: { include: [src], exclude: [], protectedPaths: [], schedule: { frequency: 'manual', at: '02:00' } } },
  });
});

describe('the agent exits when its servers go away', () => {
  it('a connection attempt still running when the store closes is abandoned, even if the server comes back', async () => {
    await server.kill9();
    const store = await device.store({ retryRounds: 3 });
    // The first attempt is refused at once; the store then waits to try again.
    const outcome = store.ping().then(
      () => 'connected',
      (err: Error) => err.message,
    );
    await store.close();
    // The server is back within the store's retry rounds: an attempt that ran on would now connect.
    const [message] = await Promise.all([outcome, server.restart()]);
    expect(message).toBe('remote store is closed');
    expect(store.stats.connections).toBe(0);
  });

  it('backup killed at many points: exits 1 within the deadline with "cannot reach any backup server", recorded for status', async () => {
    // Kill points, in chunks committed by this run; each run backs up new data so it has something to send.
    for (const killAt of [1, 3, 6, 10, 15]) {
      for (let i = 0; i < 8; i++) writeFileSync(join(src, `file${i}.bin`), randomBytes(4 * 1024 * 1024));
      const before = (await storedChunkIds(server.dataDir, device.deviceId)).length;
      const backup = device.agent.spawn(['backup']);
      await waitForStoredChunks(server.dataDir, device.deviceId, before + killAt);
      await server.kill9();
      const failed = await backup.waitForOutput('cannot reach any backup server', 30_000);
      // Back up again while any attempt the failed run might have left would still be trying.
      await server.restart();
      const deadline = new Promise<'still running'>((resolve) => {
        const t = setTimeout(() => resolve('still running'), 10_000);
        void backup.exited.then(() => clearTimeout(t));
      });
      const exit = await Promise.race([backup.exited, deadline]);
      if (exit === 'still running') await backup.kill9();
      expect(exit, `kill after ${killAt} chunks:\n${failed}`).toEqual({ code: 1, signal: null });
      const status = await device.agent.status();
      expect(status.lastError).toMatch(/^cannot reach any backup server/);
    }
  });
});
