// A real server process under hostile connections (issue 17, items 7-9): frame floods, clients that do not
// read, GET amplification, byte-drippers, raw TCP that never starts TLS, connection-cap exhaustion. For each:
// the server's resident memory stays within RSS_HEADROOM_MIB of its warm baseline, the attack is cut off by
// the limit meant for it, and a real agent registers, backs up and restores during and after the attack.
//
// Attackers connect from 127.0.0.1; the agents from ::1 (the server assigns devices its two [::1] addresses),
// so the per-address cap that stops the attacker does not stop the agents.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, createHash } from 'node:crypto';
import { join } from 'node:path';
import { makeAgent } from './helpers/agent.js';
import { startTestServer, tempDir, TEST_TECHNICIAN_ID, type TestServer } from './helpers/server.js';
import { makeCorpus, plaintextMarker, snapshotTree } from './helpers/engine-corpus.js';
import {
  AttackLoop,
  closed,
  closedWhileWriting,
  frame,
  openAuthenticated,
  openTcp,
  openTls,
  registerAttacker,
  RssWatch,
  rssMiB,
  waitFor,
  write,
  type AttackerDevice,
} from './helpers/hostile-clients.js';
import { RpcConnection } from '../protocol/connection.js';
import { FrameDecoder, FrameTooLargeError, MAX_FRAME_BYTES } from '../protocol/frame.js';
import { MessageType } from '../protocol/messages.js';
import { validateServerConfig } from '../server/config.js';
import { CONNECTION_LIMITS } from '../server/limits.js';
import { repoRoot } from './helpers/paths.js';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

const MiB = 1024 * 1024;
const LIMITS = {
  preAuthFrameBytes: 64 * 1024,
  connectionMemoryBytes: 32 * MiB,
  handshakeTimeoutMs: 3000,
  frameTimeoutMs: 3000,
  idleTimeoutMs: 6000,
  maxConnections: 200,
  maxConnectionsPerAddress: 24,
};
/**
 * How far the server's VmRSS may rise above its warm baseline (after one agent backup and restore) while an
 * attack runs alongside an agent's backup and restore. One connection's budget (32 MiB) plus the process's
 * pool of spare frame buffers (64 MiB) would fit; the unlimited server went 500-800 MiB over under each of these.
 */
const RSS_HEADROOM_MIB = 112;
/** How late (beyond its limit) a deadline may close a connection on a loaded machine. */
const SLACK_MS = 5000;

let server: TestServer;
let v4: string;
let work: string;
let src: string;
let attacker: AttackerDevice;
/** A 30 MiB chunk the attacker device stored, for GET amplification. */
let bigChunkId: string;
let baseline: number;
const report: string[] = [];

/** Connections the server closed because their peer did not take a reply. */
const stalls = () => server.output().split('closing: a reply was not taken within 3 s (limits.frameTimeoutMs)').length - 1;

/** A new agent registers, backs up and restores the corpus byte-identical; `again` then does it once more. */
async function agentRoundTrip(label: string): Promise<{ again: () => Promise<void> }> {
  const agent = await makeAgent({
    server,
    config: { backup: { include: [src], exclude: [], protectedPaths: [], schedule: { frequency: 'manual', at: '02:00' } } },
  });
  const roundTrip = async (step: string) => {
    const b = await agent.run(['backup']);
    expect(b.code, `${label} ${step} backup:\n${b.output}`).toBe(0);
    const out = join(work, `${label}-${step}`);
    const r = await agent.run(['restore', '--snapshot', 'latest', '--to', out]);
    expect(r.code, `${label} ${step} restore:\n${r.output}`).toBe(0);
    expect(snapshotTree(join(out, 'Documents'))).toEqual(snapshotTree(src));
  };
  const reg = await agent.run(['register']);
  expect(reg.code, `${label} register:\n${reg.output}`).toBe(0);
  await roundTrip('during');
  return { again: () => roundTrip('after') };
}

/**
 * Runs `attack` until it is in full swing (`ready`), an agent's round trip during it, waits until the server
 * has cut the attack off (`cut`, when given), stops it, runs the agent again after it, and checks the server's
 * peak memory over the whole time.
 */
async function underAttack(
  name: string,
  attack: { stop(): Promise<unknown> },
  ready: () => boolean,
  readyWhat: string,
  cut?: { what: string; done: () => boolean },
): Promise<void> {
  const watch = new RssWatch(server.pid);
  try {
    await waitFor(readyWhat, ready, 30_000);
    const agent = await agentRoundTrip(name);
    if (cut) await waitFor(cut.what, cut.done, LIMITS.frameTimeoutMs + SLACK_MS);
    await attack.stop();
    await agent.again();
  } finally {
    await attack.stop();
    watch.stop();
    report.push(`${name}: server VmRSS baseline ${baseline.toFixed(0)} MiB, peak ${watch.peak.toFixed(0)} MiB`);
  }
  expect(watch.peak - baseline, `${name}: peak ${watch.peak.toFixed(0)} MiB vs baseline ${baseline.toFixed(0)} MiB`).toBeLessThan(RSS_HEADROOM_MIB);
}

beforeAll(async () => {
  server = await startTestServer({ listen: ['[::1]:0', '[::1]:0', '127.0.0.1:0'], limits: LIMITS });
  v4 = server.addresses[2];
  work = await tempDir('holdfast-hostile-');
  src = join(work, 'Documents');
  makeCorpus(src, plaintextMarker());

  attacker = await registerAttacker(v4, TEST_TECHNICIAN_ID);
  const chunk = randomBytes(30 * MiB);
  bigChunkId = createHash('sha256').update(chunk).digest('hex');
  const rpc = new RpcConnection(await openTls(v4), v4);
  await rpc.request(MessageType.AUTH, { deviceId: attacker.deviceId, credential: attacker.credential });
  await rpc.request(MessageType.PUT, { ids: [bigChunkId], sizes: [chunk.length] }, chunk);
  rpc.close();

  // Warm baseline: the server has served one agent's backup and restore.
  const warm = await agentRoundTrip('warm-up');
  await warm.again();
  baseline = rssMiB(server.pid);
});

afterAll(async () => {
  await server?.stop();
  if (report.length) console.info(`hostile-connections:\n  ${report.join('\n  ')}`);
});

describe('server limits under hostile connections', () => {
  it('a frame flood (64 MiB length prefixes on 12 connections, filled on) is cut at the pre-authentication frame cap', async () => {
    let delivered = 0;
    const attack = new AttackLoop(12, 240, async (hold) => {
      const s = hold(await openTls(v4));
      const prefix = Buffer.alloc(4);
      prefix.writeUInt32BE(MAX_FRAME_BYTES - 4);
      const filler = Buffer.alloc(MiB, 0x41);
      // Fill on as long as the server takes it (the unlimited server took all 48 MiB on each connection).
      if (await write(s, prefix)) for (let sent = 0; sent < 48 * MiB && (await write(s, filler)); ) sent += MiB;
      delivered++;
      await closed(s);
    });
    await underAttack('frame flood', attack, () => delivered >= 12, '12 flooding connections sent all or cut off');
    await server.waitForOutput(/protocol error: bad frame length 67108860 \(allowed 10\.\.65532\) before authentication \(limits\.preAuthFrameBytes\)/, 5000);
  });

  it('a registered device that floods PINGs and never reads is paused, then closed once its replies stall', async () => {
    const stallsBefore = stalls();
    let delivered = 0;
    // Authenticated, so the handshake deadline (which would cut an anonymous flooder at 3 s) does not apply.
    const attack = new AttackLoop(1, 10, async (hold) => {
      const s = hold(await openAuthenticated(v4, attacker));
      const batch = Buffer.concat(Array.from({ length: 1000 }, (_, i) => frame(MessageType.PING, i + 1, {})));
      // Two million PINGs, as fast as the server takes them: their replies (~100 MiB) outgrow the kernel's
      // socket buffers (up to 32 MiB to receive on this loopback, 4 MiB to send).
      for (let sent = 0; sent < 32 * MiB && (await write(s, batch)); ) sent += batch.length;
      delivered++;
      await closedWhileWriting(s);
    });
    await underAttack('PING flood, not reading', attack, () => delivered >= 1, 'the PING flooder sent all or was cut off', {
      what: 'the server to close the connection that does not take its replies',
      done: () => stalls() > stallsBefore,
    });
  });

  it("GET amplification: a registered device's 25 pipelined GETs of a 30 MiB chunk, never read, build one reply at a time", async () => {
    let asked = 0;
    const stallsBefore = stalls();
    const attack = new AttackLoop(1, 4, async (hold) => {
      const s = hold(await openAuthenticated(v4, attacker));
      const gets = Buffer.concat(Array.from({ length: 25 }, (_, i) => frame(MessageType.GET, 10 + i, { ids: [bigChunkId] })));
      expect(gets.length).toBeLessThan(2500);
      if (await write(s, gets)) asked++;
      await closedWhileWriting(s);
    });
    await underAttack('GET amplification', attack, () => asked >= 1, 'the GETs written', {
      what: 'the server to close the connection that does not take its reply',
      done: () => stalls() > stallsBefore,
    });
  });

  it('slowloris: byte-drippers before and after AUTH are closed at their deadlines, however steadily they drip', async () => {
    const drip = async (s: Socket, bytes: Buffer) => {
      let i = 0;
      const timer = setInterval(() => {
        if (i < bytes.length && !s.destroyed) s.write(bytes.subarray(i, ++i));
      }, 100);
      await closed(s);
      clearInterval(timer);
    };
    const register = frame(MessageType.REGISTER, 1, { technicianId: 'x'.repeat(200), identityId: 'y'.repeat(100), identitySecret: 'z'.repeat(200) });
    const ping = frame(MessageType.PING, 2, { pad: 'p'.repeat(1000) });
    const before = new AttackLoop(16, 64, async (hold) => drip(hold(await openTls(v4)), register));
    const after = new AttackLoop(4, 16, async (hold) => drip(hold(await openAuthenticated(v4, attacker)), ping));
    const both = { stop: () => Promise.all([before.stop(), after.stop()]) };
    await underAttack('slowloris', both, () => before.stats.lifetimes.length >= 16 && after.stats.lifetimes.length >= 4, 'every dripper closed once');
    expect(Math.max(...before.stats.lifetimes)).toBeLessThan(LIMITS.handshakeTimeoutMs + SLACK_MS);
    expect(Math.max(...after.stats.lifetimes)).toBeLessThan(LIMITS.frameTimeoutMs + SLACK_MS);
    expect(server.output()).toMatch(/closing: no successful AUTH within 3 s of connecting \(limits\.handshakeTimeoutMs\)/);
    expect(server.output()).toMatch(/closing: a frame did not arrive whole within 3 s \(limits\.frameTimeoutMs\)/);
  });

  it('an idle connection is closed after idleTimeoutMs and the agent is told why; whole frames keep one open', async () => {
    const quiet = new RpcConnection(await openTls(v4), v4);
    const busy = new RpcConnection(await openTls(v4), v4);
    for (const c of [quiet, busy]) await c.request(MessageType.AUTH, { deviceId: attacker.deviceId, credential: attacker.credential });
    const started = performance.now();
    const pinger = setInterval(() => void busy.request(MessageType.PING, {}).catch(() => undefined), 1000);
    try {
      await waitFor('the quiet connection to be closed', () => quiet.closed, LIMITS.idleTimeoutMs + SLACK_MS);
      expect(performance.now() - started).toBeGreaterThan(LIMITS.idleTimeoutMs - 100);
      expect(quiet.closeReason).toBe('server: no whole frame for 6 s (limits.idleTimeoutMs)');
      expect(busy.closed).toBe(false);
    } finally {
      clearInterval(pinger);
      quiet.close();
      busy.close();
    }
  });

  it('raw TCP connections that never start TLS are closed at the handshake deadline', async () => {
    const attack = new AttackLoop(20, 80, async (hold) => closed(hold(await openTcp(v4))));
    await underAttack('raw TCP, no TLS', attack, () => attack.stats.lifetimes.length >= 20, 'every silent TCP connection closed once');
    expect(Math.max(...attack.stats.lifetimes)).toBeLessThan(LIMITS.handshakeTimeoutMs + SLACK_MS);
  });

  it('one address cannot hold more than maxConnectionsPerAddress connections; the rest are refused before TLS', async () => {
    let peakOpen = 0;
    const attack = new AttackLoop(3 * LIMITS.maxConnectionsPerAddress, 3 * LIMITS.maxConnectionsPerAddress, async (hold) => {
      const s = hold(await openAuthenticated(v4, attacker));
      peakOpen = Math.max(peakOpen, attack.open);
      // Whole frames keep an authenticated connection alive (no deadline ends it): this is the cap's job.
      let id = 100;
      const timer = setInterval(() => s.write(frame(MessageType.PING, id++, {})), 1000);
      await closed(s);
      clearInterval(timer);
    });
    const settled = () => attack.stats.refused + attack.open >= 3 * LIMITS.maxConnectionsPerAddress;
    await underAttack('connection cap, one address', attack, settled, 'every attacking connection admitted or refused');
    expect(peakOpen).toBeLessThanOrEqual(LIMITS.maxConnectionsPerAddress);
    expect(attack.stats.refused).toBeGreaterThanOrEqual(2 * LIMITS.maxConnectionsPerAddress);
    expect(server.output()).toMatch(
      /refused \d+ connections?, the latest from 127\.0\.0\.1: 24 connections open from 127\.0\.0\.1 \(limits\.maxConnectionsPerAddress 24\)/,
    );
    // The address is welcome again once its connections are gone.
    const again = await openAuthenticated(v4, attacker);
    again.destroy();
  });
});

describe('the overall connection cap', () => {
  it('maxConnections holds over all addresses; a slot freed is usable again; shutdown does not wait for handshakes', async () => {
    const small = await startTestServer({ listen: ['[::1]:0', '127.0.0.1:0'], limits: { maxConnections: 6 } });
    try {
      // One connection that never starts TLS (it has 30 s, the default, to authenticate) and five TLS ones.
      const silent = await openTcp(small.addresses[1]);
      const five = await Promise.all([0, 1, 2, 3, 4].map((i) => openTls(small.addresses[i % 2])));
      await expect(openTls(small.addresses[0])).rejects.toThrow(/disconnected|closed|ECONNRESET/);
      await expect(openTls(small.addresses[1])).rejects.toThrow(/disconnected|closed|ECONNRESET/);
      expect(small.output()).toMatch(/6 connections open \(limits\.maxConnections 6\)/);
      five[0].destroy();
      // The server notices the close on its own time: try to connect until admitted (bounded).
      let admitted: TLSSocket | undefined;
      const tryOnce = () =>
        openTls(small.addresses[0]).then(
          (s) => (admitted = s),
          () => undefined,
        );
      await tryOnce();
      const until = performance.now() + 5000;
      while (!admitted && performance.now() < until) await new Promise((r) => setTimeout(r, 20)).then(tryOnce);
      expect(admitted).toBeDefined();
      expect(silent.closed).toBe(false);
      const stopping = performance.now();
      await small.stop();
      expect(performance.now() - stopping).toBeLessThan(5000);
      for (const s of [silent, admitted!, ...five]) s.destroy();
    } finally {
      await small.stop();
    }
  });
});

describe('frame decoding under limits (protocol/frame.ts)', () => {
  it('a declared length alone allocates nothing big: a frame over upfrontBytes grows as its bytes arrive', () => {
    const body = randomBytes(10 * MiB);
    const bytes = frame(MessageType.PUT, 7, { n: body.length }, body);
    const dec = new FrameDecoder();
    dec.upfrontBytes = 64 * 1024;
    expect(dec.push(bytes.subarray(0, 100))).toEqual([]);
    expect(dec.midFrame).toBe(true);
    expect(dec.heldBytes).toBeLessThanOrEqual(64 * 1024);
    let got: ReturnType<FrameDecoder['push']> = [];
    for (let at = 100; at < bytes.length; ) {
      const n = Math.min(bytes.length - at, 1 + Math.floor(Math.random() * 300_000));
      got = dec.push(bytes.subarray(at, at + n));
      at += n;
      // Memory follows what arrived (doubling), never the declared 10 MiB up front.
      if (at < bytes.length) expect(dec.heldBytes).toBeLessThanOrEqual(Math.max(2 * at, 64 * 1024) + MiB);
    }
    expect(got).toHaveLength(1);
    expect(got[0].body.equals(body)).toBe(true);
    expect(dec.heldBytes).toBe(0);
  });

  it('a declared length over maxFrameBytes is refused before anything is allocated', () => {
    const dec = new FrameDecoder();
    dec.maxFrameBytes = 64 * 1024;
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(MAX_FRAME_BYTES - 4);
    expect(() => dec.push(prefix)).toThrow(FrameTooLargeError);
    expect(() => new FrameDecoder().push(prefix)).not.toThrow();
  });

  it('push(…, max) returns at most max frames and keeps the rest as bytes; a later push hands them out in order', () => {
    const bodies = [1, 2, 3, 4, 5].map((n) => randomBytes(n * 1000));
    const bytes = Buffer.concat(bodies.map((b, i) => frame(MessageType.PUT, i + 1, {}, b)));
    const dec = new FrameDecoder();
    const shared = Buffer.from(bytes);
    const first = dec.push(shared, true, 2);
    // The socket's buffer is overwritten after the call: what was held back must have been copied.
    shared.fill(0xee);
    expect(first.map((f) => f.requestId)).toEqual([1, 2]);
    expect(dec.holding).toBe(true);
    expect(dec.midFrame).toBe(false);
    expect(dec.push(Buffer.alloc(0), false, 0)).toEqual([]);
    const rest = dec.push(Buffer.alloc(0), false, 10);
    expect(rest.map((f) => f.requestId)).toEqual([3, 4, 5]);
    [...first, ...rest].forEach((f, i) => {
      expect(f.body.equals(bodies[i])).toBe(true);
    });
    expect(dec.holding).toBe(false);
    expect(dec.heldBytes).toBe(0);
  });
});

describe('the limits config', () => {
  it('examples/server.json and docs/design.md show every limit with its default', () => {
    const example = JSON.parse(readFileSync(join(repoRoot, 'examples', 'server.json'), 'utf8'));
    const { registration, ...connection } = example.limits; // registration: test/spine-protocol.test.ts checks it
    expect(registration).toBeTypeOf('object');
    expect(connection).toEqual(Object.fromEntries(Object.entries(CONNECTION_LIMITS).map(([k, v]) => [k, v.default])));
    const design = readFileSync(join(repoRoot, 'docs', 'design.md'), 'utf8');
    const section = design.slice(design.indexOf('## Limits and abuse'));
    for (const [k, v] of Object.entries(CONNECTION_LIMITS)) expect(section).toMatch(new RegExp(`\\| \`${k}\` \\| ${v.default}[ |]`));
  });

  it('takes every limit with its default, and names the path, value and allowed range of a bad one', () => {
    const base = { technicianIds: ['TECH-0001'] };
    const ok = validateServerConfig({ ...base, limits: { maxConnectionsPerAddress: 8 } }, 'server.json', '/');
    expect(ok.limits).toMatchObject({ maxConnectionsPerAddress: 8, preAuthFrameBytes: 65536, connectionMemoryBytes: 32 * MiB });
    const bad = () => validateServerConfig({ ...base, limits: { idleTimeoutMs: 'soon', maxConnections: 0, frameBytes: 1 } }, 'server.json', '/');
    expect(bad).toThrow(/\/limits\/idleTimeoutMs: "soon" is not allowed; expected a whole number of ms from 100 to 86400000 \(default 900000\)/);
    expect(bad).toThrow(/\/limits\/maxConnections: 0 is not allowed; expected a whole number of connections from 1 to 1000000/);
    expect(bad).toThrow(/\/limits\/frameBytes: unknown field \(allowed: preAuthFrameBytes, connectionMemoryBytes, handshakeTimeoutMs/);
    expect(() => validateServerConfig({ ...base, limits: [] }, 'server.json', '/')).toThrow(/\/limits: \[\] is not allowed; expected an object/);
  });
});
