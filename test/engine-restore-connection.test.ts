// A restore stops when the connection to the backup servers fails (servers unreachable, a refused
// credential) and rejects with that error: per-file failures are for problems of one chunk (missing,
// tampered; see engine-integrity.test.ts). The agent reaches a real test server through a TCP relay in
// this process, which the test cuts (or points at another server) once the snapshot is loaded and
// before any chunk is fetched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { backupFolders } from '../agent/engine/backup.js';
import { restoreSnapshot } from '../agent/engine/restore.js';
import { ServerRefusedError, ServersUnreachableError } from '../agent/remote-store.js';
import { registeredDevice, type TestDevice } from './helpers/device.js';
import { removeTempDirs, startTestServer, tempDir, type TestServer } from './helpers/server.js';

let relay: Relay;
let server: TestServer;
/** A second server with the same certificate that has never heard of the device. */
let stranger: TestServer;
let device: TestDevice;
let work: string;
const deviceKey = randomBytes(32);

interface Relay {
  address: string;
  /** Drop every relayed connection; later ones go to `target` (host:port), or are dropped at once (undefined). */
  switchTo(target: string | undefined): void;
  close(): Promise<void>;
}

/** A TCP relay on 127.0.0.1, the address the server assigns the device as its backup-server pair. */
async function startRelay(): Promise<Relay> {
  let to: string | undefined;
  const sockets = new Set<Socket>();
  const relay = createServer((client) => {
    if (!to) {
      client.destroy();
      return;
    }
    const at = to.lastIndexOf(':');
    const upstream = connect(Number(to.slice(at + 1)), to.slice(0, at));
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ]) {
      sockets.add(a);
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const { port } = relay.address() as { port: number };
  return {
    address: `127.0.0.1:${port}`,
    switchTo(target) {
      to = target;
      for (const s of sockets) s.destroy();
    },
    close: () => new Promise((resolve) => relay.close(() => resolve())),
  };
}

/** Restore the latest snapshot into `out`, calling `onStart` once the snapshot is loaded, before any chunk is fetched. */
async function restoreWith(out: string, onStart: () => void): Promise<unknown> {
  relay.switchTo(server.addresses[0]);
  const store = await device.store();
  let started = false;
  try {
    return await restoreSnapshot({
      store,
      deviceKey,
      snapshot: 'latest',
      target: out,
      workers: 1,
      // The first report comes after the snapshot is loaded and the folders exist, before any chunk is fetched.
      onProgress: () => {
        if (started) return;
        started = true;
        onStart();
      },
    });
  } finally {
    expect(started).toBe(true);
    await store.close();
  }
}

beforeAll(async () => {
  relay = await startRelay();
  // The device's backup-server pair is the relay: every connection of its store goes through it.
  server = await startTestServer({ assign: { primary: relay.address, alternate: relay.address } });
  relay.switchTo(server.addresses[0]);
  stranger = await startTestServer();
  device = await registeredDevice({ server });
  work = await tempDir('holdfast-restore-conn-');
  const src = join(work, 'src');
  mkdirSync(src);
  // One small file: one chunk, fetched by a GET for that chunk alone.
  writeFileSync(join(src, 'only.txt'), 'the one file of this backup\n'.repeat(100));
  const store = await device.store();
  try {
    await backupFolders({ store, deviceKey, roots: [src], threads: 1 });
  } finally {
    await store.close();
  }
});
afterAll(async () => {
  await server?.stop();
  await stranger?.stop();
  await relay?.close();
  await removeTempDirs();
});

describe('restore and the connection', () => {
  it('servers unreachable while fetching chunks: the restore stops with that error and writes no file', async () => {
    const out = join(work, 'out-unreachable');
    await expect(restoreWith(out, () => relay.switchTo(undefined))).rejects.toBeInstanceOf(ServersUnreachableError);
    expect(existsSync(join(out, 'src', 'only.txt'))).toBe(false);
    expect(readdirSync(join(out, 'src'))).toEqual([]);
  });

  it('the server refuses the device when the store reconnects: the restore stops with the refusal', async () => {
    const out = join(work, 'out-refused');
    const restore = restoreWith(out, () => relay.switchTo(stranger.addresses[0]));
    await expect(restore).rejects.toBeInstanceOf(ServerRefusedError);
    await expect(restore).rejects.toThrow(/unknown device|not registered|credential/i);
    expect(existsSync(join(out, 'src', 'only.txt'))).toBe(false);
  });
});
