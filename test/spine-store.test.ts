// The remote ChunkStore over the wire protocol against a real server process: round trips, large
// replies split across frames, per-device isolation, authentication and protocol errors.
import { beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { ChunkLease, ChunkMissingError, LeaseSpentError } from '../agent/store.js';
import { RemoteStore, ServerRefusedError, ServersUnreachableError } from '../agent/remote-store.js';
import { openConnection } from '../agent/transport/index.js';
import { RpcConnection, RemoteError } from '../protocol/connection.js';
import { encodeFrame, FrameDecoder } from '../protocol/frame.js';
import { MessageType } from '../protocol/messages.js';
import { registeredDevice, type TestDevice } from './helpers/device.js';
import { type TestServer, useTestServer } from './helpers/server.js';

const server = useTestServer();
let a: TestDevice;
let b: TestDevice;

const id = () => randomBytes(32).toString('hex');

beforeAll(async () => {
  a = await registeredDevice({ server });
  b = await registeredDevice({ server });
});

describe('remote store', () => {
  it('stores chunks, answers has() for what it holds, returns them byte-identical; duplicates are not stored twice', async () => {
    const store = await a.store();
    try {
      const chunks = Array.from({ length: 50 }, () => ({ id: id(), data: randomBytes(1 + Math.floor(Math.random() * 70_000)) }));
      const unknown = id();
      expect(await store.has([...chunks.map((c) => c.id), unknown])).toEqual(new Set());
      await store.put(chunks);
      await store.put(chunks.slice(0, 10));
      const held = await store.has([...chunks.map((c) => c.id), unknown]);
      expect(held.size).toBe(50);
      expect(held.has(unknown)).toBe(false);
      const got = (await store.get(chunks.map((c) => c.id).reverse())).chunks();
      expect(got.map((c) => c.id)).toEqual(chunks.map((c) => c.id).reverse());
      got.forEach((c, i) => {
        expect(Buffer.compare(c.data, chunks[chunks.length - 1 - i].data)).toBe(0);
      });
      expect(store.stats.chunksSent).toBe(60);
    } finally {
      await store.close();
    }
    await expectLog(server, a.deviceId, /received 60 chunks \(50 new, 10 duplicate/);
  });

  it('splits GET replies larger than one frame allows (48 MiB in 4 MiB chunks)', async () => {
    const store = await a.store();
    try {
      const chunks = Array.from({ length: 12 }, () => ({ id: id(), data: randomBytes(4 * 1024 * 1024) }));
      await store.put(chunks);
      const got = (await store.get(chunks.map((c) => c.id))).chunks();
      expect(got.length).toBe(12);
      got.forEach((c, i) => {
        expect(Buffer.from(c.data).equals(chunks[i].data)).toBe(true);
      });
    } finally {
      await store.close();
    }
  });

  it('a GET reply is a lease: its own memory moves out without a copy; released or moved, nothing reads it any more', async () => {
    const store = await a.store();
    try {
      const chunks = Array.from({ length: 3 }, () => ({ id: id(), data: randomBytes(300_000) }));
      await store.put(chunks);
      // A reply spread over several socket reads is assembled in a buffer of its own: it moves as it is.
      const lease = await store.get(chunks.map((c) => c.id));
      const views = chunks.map((_, i) => lease.data(i));
      const moved = lease.move();
      expect(views.every((v) => v.buffer === moved.memory)).toBe(true);
      expect(() => lease.data(0)).toThrow(LeaseSpentError);
      expect(() => lease.move()).toThrow(/already moved/);
      lease.release(); // spent already: nothing happens
      // Moved as a worker would get it: the chunks are where the spans say, the old views are empty.
      const back = structuredClone(moved.memory, { transfer: [moved.memory] });
      expect(views[0].byteLength).toBe(0);
      for (const c of chunks) {
        const [offset, length] = moved.spans.get(c.id)!;
        expect(Buffer.from(back, offset, length).equals(c.data)).toBe(true);
      }
      moved.giveBack(back);
      // Released, the reply's memory goes back for reuse: a view kept of it is emptied, the lease refuses, twice is a no-op.
      const again = await store.get(chunks.map((c) => c.id));
      const kept = again.data(1);
      expect(Buffer.from(kept).equals(chunks[1].data)).toBe(true);
      again.release();
      expect(kept.byteLength).toBe(0);
      expect(() => again.data(1)).toThrow(/already released/);
      again.release();
      // Chunks of two replies, or of a small reply parsed in place, are copied into one buffer.
      const first = await store.get([chunks[0].id]);
      const second = await store.get([chunks[1].id]);
      const firstView = first.data(0);
      const both = ChunkLease.moveAll([first, second]);
      expect(firstView.buffer).not.toBe(both.memory);
      for (const c of chunks.slice(0, 2)) {
        const [offset, length] = both.spans.get(c.id)!;
        expect(Buffer.from(both.memory, offset, length).equals(c.data)).toBe(true);
      }
      expect(() => first.data(0)).toThrow(LeaseSpentError);
      const small = { id: id(), data: randomBytes(100) };
      await store.put([small]);
      const tiny = await store.get([small.id]);
      const tinyView = tiny.data(0);
      const tinyMoved = tiny.move();
      expect(tinyView.buffer).not.toBe(tinyMoved.memory);
      const [offset, length] = tinyMoved.spans.get(small.id)!;
      expect(Buffer.from(tinyMoved.memory, offset, length).equals(small.data)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('snapshots and named blobs round-trip and list in time order', async () => {
    const store = await a.store();
    try {
      const s1 = randomBytes(3000);
      const s2 = randomBytes(10);
      await store.putSnapshot('20261125T100000Z-aaaa0001', '2026-11-25T10:00:00.000Z', s1);
      await store.putSnapshot('20261125T090000Z-aaaa0002', '2026-11-25T09:00:00.000Z', s2);
      expect(await store.listSnapshots()).toEqual([
        { id: '20261125T090000Z-aaaa0002', time: '2026-11-25T09:00:00.000Z', size: 10 },
        { id: '20261125T100000Z-aaaa0001', time: '2026-11-25T10:00:00.000Z', size: 3000 },
      ]);
      expect(Buffer.from(await store.getSnapshot('20261125T100000Z-aaaa0001')).equals(s1)).toBe(true);
      expect(await store.getBlob('key-escrow')).toBeUndefined();
      await store.putBlob('key-escrow', Buffer.from('wrapped'));
      expect(Buffer.from((await store.getBlob('key-escrow'))!).toString()).toBe('wrapped');
      await expect(store.getSnapshot('20261125T110000Z-nothere1')).rejects.toMatchObject({ code: 'not-found' });
      await expect(store.putSnapshot('../escape', '2026-11-25T09:00:00.000Z', s2)).rejects.toThrow(/not allowed/);
      await expect(store.putBlob('../../etc/passwd', s2)).rejects.toThrow(/not allowed/);
    } finally {
      await store.close();
    }
  });

  it('isolates devices: B cannot see, read or list anything of A, even knowing the ids', async () => {
    const sa = await a.store();
    const sb = await b.store();
    try {
      const secret = { id: id(), data: randomBytes(1000) };
      await sa.put([secret]);
      await sa.putSnapshot('20261125T120000Z-isolated', '2026-11-25T12:00:00.000Z', Buffer.from('a-only'));
      await sa.putBlob('key-escrow', Buffer.from('a-escrow'));
      expect((await sb.has([secret.id])).size).toBe(0);
      await expect(sb.get([secret.id])).rejects.toBeInstanceOf(ChunkMissingError);
      await expect(sb.get([secret.id])).rejects.toThrow(secret.id);
      expect((await sb.listSnapshots()).map((s) => s.id)).not.toContain('20261125T120000Z-isolated');
      await expect(sb.getSnapshot('20261125T120000Z-isolated')).rejects.toMatchObject({ code: 'not-found' });
      expect(await sb.getBlob('key-escrow')).toBeUndefined();
      // B storing the same id keeps its own copy; A's data is untouched.
      await sb.put([{ id: secret.id, data: Buffer.from('forged') }]);
      expect(Buffer.from((await sa.get([secret.id])).data(0)).equals(secret.data)).toBe(true);
      expect(Buffer.from((await sb.get([secret.id])).data(0)).toString()).toBe('forged');
    } finally {
      await sa.close();
      await sb.close();
    }
  });

  it("a wrong credential or another device's id is refused (bad-credential), not served", async () => {
    const reg = (await import('../agent/state.js')).readRegistration;
    const ra = (await reg(a.loaded.state))!;
    const rb = (await reg(b.loaded.state))!;
    for (const [deviceId, credential] of [
      [ra.deviceId, 'x'.repeat(43)],
      [ra.deviceId, rb.credential],
    ]) {
      const store = new RemoteStore({ servers: ra.servers, deviceId, credential, tlsPin: server.pin, retryRounds: 1 });
      const err = await store.has([id()]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ServerRefusedError);
      expect((err as ServerRefusedError).code).toBe('bad-credential');
      expect((err as Error).message).toMatch(/register the agent again/);
      expect((err as Error).message).not.toContain(credential);
      await store.close();
    }
  });

  it('a pin mismatch fails at once with a named error (no pointless retry rounds)', async () => {
    const reg = (await import('../agent/state.js')).readRegistration;
    const ra = (await reg(a.loaded.state))!;
    const store = new RemoteStore({ servers: ra.servers, deviceId: ra.deviceId, credential: ra.credential, tlsPin: `${'AB:'.repeat(31)}AB`, retryRounds: 3 });
    const t0 = Date.now();
    const err = await store.listSnapshots().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServersUnreachableError);
    expect((err as ServersUnreachableError).kind).toBe('tls-pin');
    expect((err as Error).message).toMatch(/no backup server presented the pinned certificate/);
    expect(Date.now() - t0).toBeLessThan(2000); // retry rounds would wait 0.5 s + 2 s
    await store.close();
  });

  it('refuses storage requests before authentication', async () => {
    const sock = await openConnection(server.addresses[0], { tlsPin: server.pin });
    const conn = new RpcConnection(sock, server.addresses[0]);
    try {
      const err = await conn.request(MessageType.HAS, { ids: [id()] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RemoteError);
      expect((err as RemoteError).code).toBe('not-authenticated');
      expect((await conn.request(MessageType.PING, {})).header.time).toMatch(/^\d{4}-/);
    } finally {
      conn.close();
    }
  });

  it('answers an unknown protocol version with unsupported-version, and survives garbage frames', async () => {
    const [host, port] = server.addresses[0].split(':');
    const reply = await new Promise<{ type: number; header: Record<string, unknown> }>((resolve, reject) => {
      const s = tlsConnect({ host, port: Number(port), rejectUnauthorized: false }, () => {
        const parts = encodeFrame(MessageType.PING, 7, {});
        parts[0].writeUInt8(99, 4); // version byte
        for (const p of parts) s.write(p);
      });
      const dec = new FrameDecoder();
      s.on('data', (d: Buffer) => {
        const f = dec.push(d)[0];
        if (f) {
          resolve({ type: f.type, header: f.header });
          s.destroy();
        }
      });
      s.on('error', reject);
    });
    expect(reply.type).toBe(MessageType.ERROR);
    expect(reply.header.code).toBe('unsupported-version');
    expect(String(reply.header.message)).toMatch(/protocol version 1, not 99/);

    const closed = await new Promise<boolean>((resolve) => {
      const s = tlsConnect({ host, port: Number(port), rejectUnauthorized: false }, () => s.write(Buffer.from('ffffffff00000000000000000000', 'hex')));
      s.on('close', () => resolve(true));
      s.on('error', () => undefined);
      s.resume();
    });
    expect(closed).toBe(true);
    expect(server.output()).toMatch(/protocol error: bad frame length/);
    const store = await a.store();
    await store.ping();
    await store.close();
  });
});

async function expectLog(s: TestServer, deviceId: string, re: RegExp): Promise<void> {
  const out = await s.waitForOutput(new RegExp(`session end ${deviceId}: ${re.source}`), 10_000);
  expect(out).toMatch(re);
}
