// PUT bodies streamed to disk (issue 19): a real server (in-process, so its memory counter can be read) under many
// concurrent PUTs holds at most its streaming budget plus one socket read per connection, counted byte for byte
// (not sampled, not timed); every chunk comes back as sent; a PUT torn mid-body leaves nothing indexed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { RpcConnection } from '../protocol/connection.js';
import { MessageType } from '../protocol/messages.js';
import { startServer, type RunningServer } from '../server/index.js';
import { putBodyMemory } from '../server/put-stream.js';
import { DEMO_CERT, DEMO_KEY, removeTempDirs, tempDir } from './helpers/server.js';
import { closed, frame, openAuthenticated, openTls, registerAttacker, type AttackerDevice } from './helpers/hostile-clients.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const TECH = 'PUT-STREAM-TECH-0001';
/** What a connection may still deliver after it was told to stop: one TCP read (64 KiB) and a TLS record begun before it. */
const SOCKET_READ = 64 * KiB + 16 * KiB;

let srv: RunningServer;
let dataDir: string;

beforeAll(async () => {
  dataDir = await tempDir();
  srv = await startServer({
    dataDir,
    config: {
      listen: ['127.0.0.1:0', '127.0.0.1:0'],
      tls: { cert: DEMO_CERT, key: DEMO_KEY },
      technicianIds: [TECH],
    },
    log: (line) => process.env.PUT_STREAM_LOG && process.stderr.write(`${line}\n`),
  });
});

afterAll(async () => {
  await srv?.close();
  await removeTempDirs();
});

const idOf = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function session(device: AttackerDevice): Promise<RpcConnection> {
  const endpoint = srv.addresses[0];
  const rpc = new RpcConnection(await openTls(endpoint), endpoint);
  await rpc.request(MessageType.AUTH, { deviceId: device.deviceId, credential: device.credential });
  return rpc;
}

async function indexLines(deviceId: string): Promise<string[]> {
  const text = await readFile(join(dataDir, 'devices', deviceId, 'index.log'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean);
}

/** Writes the first `bytes` of a PUT frame and waits until the server has put 1 MiB of its body into a pack file. */
async function sendPartOnDisk(s: TLSSocket, whole: Buffer, bytes: number, deviceId: string): Promise<void> {
  await new Promise<void>((r) => s.write(whole.subarray(0, bytes), () => r()));
  const packs = join(dataDir, 'devices', deviceId, 'packs');
  for (;;) {
    const names = await readdir(packs);
    const sizes = await Promise.all(names.map(async (n) => (await stat(join(packs, n))).size));
    if (sizes.some((n) => n >= 1024 * KiB)) return;
    await new Promise((r) => setImmediate(r));
  }
}

describe('PUT bodies are streamed to disk', () => {
  it('24 connections PUT 2 MiB each at once under a 1 MiB budget: held bytes stay within budget + one read per connection', async () => {
    const CONNECTIONS = 24;
    const saved = putBodyMemory.budget;
    putBodyMemory.budget = MiB;
    putBodyMemory.peak = putBodyMemory.held;
    try {
      const devices = await Promise.all(Array.from({ length: CONNECTIONS }, () => registerAttacker(srv.addresses[0], TECH)));
      const rpcs = await Promise.all(devices.map(session));
      const sent = devices.map(() => Array.from({ length: 8 }, () => randomBytes(256 * KiB)));
      await Promise.all(
        rpcs.map((rpc, i) =>
          rpc.request(MessageType.PUT, { ids: sent[i].map(idOf), sizes: sent[i].map((c) => c.length) }, sent[i]).then((r) => {
            expect(r.header).toEqual({ stored: 8, duplicates: 0 });
          }),
        ),
      );
      // 48 MiB went through; memory held for bodies never exceeded the budget by more than one read per connection.
      if (process.env.PUT_STREAM_LOG) process.stderr.write(`peak ${putBodyMemory.peak}\n`);
      expect(putBodyMemory.peak).toBeGreaterThan(0);
      expect(putBodyMemory.peak).toBeLessThanOrEqual(MiB + CONNECTIONS * SOCKET_READ);
      expect(putBodyMemory.held).toBe(0);
      // Every chunk comes back byte for byte.
      await Promise.all(
        rpcs.map(async (rpc, i) => {
          const ids = sent[i].map(idOf);
          const r = await rpc.request(MessageType.GET, { ids });
          expect(r.header.ids).toEqual(ids);
          expect(Buffer.compare(r.body, Buffer.concat(sent[i]))).toBe(0);
          rpc.close();
        }),
      );
    } finally {
      putBodyMemory.budget = saved;
    }
  });

  it('a PUT torn mid-body leaves nothing indexed; the next PUT of the same chunks stores them whole', async () => {
    const device = await registerAttacker(srv.addresses[0], TECH);
    const chunks = Array.from({ length: 4 }, () => randomBytes(512 * KiB));
    const ids = chunks.map(idOf);
    const whole = frame(MessageType.PUT, 2, { ids, sizes: chunks.map((c) => c.length) }, Buffer.concat(chunks));
    const s = await openAuthenticated(srv.addresses[0], device);
    // Three of the four chunks' bytes, which reach the pack file, then the connection is cut.
    await sendPartOnDisk(s, whole, whole.length - 400 * KiB, device.deviceId);
    s.destroy();
    await closed(s);
    expect(await indexLines(device.deviceId)).toEqual([]);
    const rpc = await session(device);
    expect((await rpc.request(MessageType.HAS, { ids })).header.present).toEqual([]);
    const r = await rpc.request(MessageType.PUT, { ids, sizes: chunks.map((c) => c.length) }, chunks);
    expect(r.header).toEqual({ stored: 4, duplicates: 0 });
    expect(await indexLines(device.deviceId)).toHaveLength(4);
    const back = await rpc.request(MessageType.GET, { ids });
    expect(Buffer.compare(back.body, Buffer.concat(chunks))).toBe(0);
    rpc.close();
  });
});

describe('a prune sweep and a streamed PUT on the same device', () => {
  it('the sweep waits for a body still landing in the pack, and the chunks it brings are stored whole', async () => {
    const device = await registerAttacker(srv.addresses[0], TECH);
    const chunks = Array.from({ length: 4 }, () => randomBytes(512 * KiB));
    const ids = chunks.map(idOf);
    const whole = frame(MessageType.PUT, 2, { ids, sizes: chunks.map((c) => c.length) }, Buffer.concat(chunks));
    const s = await openAuthenticated(srv.addresses[0], device);
    const cut = whole.length - 400 * KiB;
    await sendPartOnDisk(s, whole, cut, device.deviceId);
    // A prune of the device (no snapshot, so nothing indexed is live) sweeps while the body is half on disk.
    const rpc = await session(device);
    const { pruneId } = (await rpc.request(MessageType.PRUNE_BEGIN, {})).header as { pruneId: string };
    await rpc.request(MessageType.PRUNE_LIVE, { pruneId, ids: [] });
    const sweep = rpc.request(MessageType.PRUNE_SWEEP, { pruneId, snapshots: [] });
    await new Promise<void>((r) => s.write(whole.subarray(cut), () => r()));
    expect((await sweep).header.retry).toBe(false);
    s.destroy();
    await closed(s);
    // Sent after the mark, the chunks are kept; their bytes are in a pack the sweep left alone.
    expect((await rpc.request(MessageType.HAS, { ids })).header.present).toEqual([0, 1, 2, 3]);
    const back = await rpc.request(MessageType.GET, { ids });
    expect(Buffer.compare(back.body, Buffer.concat(chunks))).toBe(0);
    rpc.close();
  });
});
