// Capacity: 500 agents at once against one server process — each registers, asks what the server has,
// uploads ~1 MB (half of it twice, so dedup must answer), and reads a chunk back — with zero errors.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { connectFirst, RemoteStore } from '../agent/remote-store.js';
import { MessageType } from '../protocol/messages.js';
import { TEST_TECHNICIAN_ID, useTestServer } from './helpers/server.js';

const AGENTS = 500;
// 500 machines registering at once from one address is more than the default registration limits allow
// (they would come back at the retry-after the server gives): this test is about capacity, so it raises them.
const atOnce = { burst: AGENTS, perHour: 3600 };
const server = useTestServer({
  limits: { registration: { attemptsPerAddress: atOnce, newDevicesPerAddress: atOnce, newDevicesPerTechnicianId: atOnce, attemptsPerTechnicianId: atOnce } },
});

describe('capacity', () => {
  it(`${AGENTS} simultaneous agents register, dedupe and upload ~1 MB each with 0 errors`, async () => {
    const pieces = Array.from({ length: 4 }, () => randomBytes(128 * 1024));
    const errors: string[] = [];
    const started = Date.now();
    let peakSessions = 0;
    let open = 0;
    // A barrier, not timing: every agent holds its session open until all have registered and connected
    // (or failed to), so the server really holds all sessions at once however fast it answers.
    let arrived = 0;
    let allArrived!: () => void;
    const everyoneConnected = new Promise<void>((resolve) => (allArrived = resolve));
    const arrive = () => {
      if (++arrived === AGENTS) allArrived();
    };
    const one = async (n: number) => {
      let store: RemoteStore | undefined;
      try {
        store = await connectAgent(n);
        peakSessions = Math.max(peakSessions, ++open);
      } finally {
        arrive();
      }
      await everyoneConnected;
      try {
        await uploadAndCheck(store, n);
      } finally {
        open--;
        await store.close();
      }
    };
    const connectAgent = async (n: number) => {
      const reg = await connectFirst(
        server.addresses,
        { tlsPin: server.pin, timeoutMs: 60_000 },
        async (c) =>
          (
            await c.request(MessageType.REGISTER, {
              technicianId: TEST_TECHNICIAN_ID,
              identityId: randomBytes(16).toString('hex'),
              identitySecret: randomBytes(32).toString('base64url'),
            })
          ).header,
        'registration',
      );
      reg.conn.close();
      const { deviceId, credential, servers } = reg.value as { deviceId: string; credential: string; servers: { primary: string; alternate: string } };
      const store = new RemoteStore({
        servers: n % 2 ? servers : { primary: servers.alternate, alternate: servers.primary },
        deviceId,
        credential,
        tlsPin: server.pin,
        timeoutMs: 60_000,
      });
      await store.connect();
      return store;
    };
    const uploadAndCheck = async (store: RemoteStore, n: number) => {
      // 8 chunks of 128 KiB = 1 MiB, each piece twice: the second copy must be found by has().
      const chunks = pieces.flatMap((data, i) => [
        { id: `${n.toString(16).padStart(8, '0')}${'0'.repeat(55)}${i}`, data },
        { id: `${n.toString(16).padStart(8, '0')}${'1'.repeat(55)}${i}`, data },
      ]);
      const first = chunks.filter((_, i) => i % 2 === 0);
      expect((await store.has(first.map((c) => c.id))).size).toBe(0);
      await store.put(first);
      const held = await store.has(chunks.map((c) => c.id));
      expect(held.size).toBe(4);
      await store.put(chunks.filter((c) => !held.has(c.id)));
      expect((await store.has(chunks.map((c) => c.id))).size).toBe(8);
      const back = await store.get([chunks[7].id]);
      expect(Buffer.from(back.data(0)).equals(pieces[3])).toBe(true);
    };
    await Promise.all(Array.from({ length: AGENTS }, (_, n) => one(n).catch((e: Error) => void errors.push(e.message))));
    const seconds = (Date.now() - started) / 1000;
    console.log(`capacity: ${AGENTS} agents in ${seconds.toFixed(1)} s, peak ${peakSessions} open sessions, ${errors.length} errors`);
    expect(errors).toEqual([]);
    expect(peakSessions).toBe(AGENTS);
    expect((await readdir(join(server.dataDir, 'devices'))).length).toBe(AGENTS);
  });
});
