// Frames, agent config validation and server config/CLI behaviour.
import { afterAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { encodeFrame, FrameDecoder, MAX_FRAME_BYTES, ProtocolError } from '../protocol/frame.js';
import { FrameWriter } from '../protocol/frame-writer.js';
import { MessageType, PROTOCOL_VERSION } from '../protocol/messages.js';
import { AgentConfigError, loadAgentConfig, resolveConfigPath, validateAgentConfig } from '../agent/config.js';
import { makeAgent } from './helpers/agent.js';
import { registeredDevice } from './helpers/device.js';
import { DEMO_CERT, DEMO_KEY, removeTempDirs, runServerCli, startTestServer, tempDir } from './helpers/server.js';
import { runProcess } from './helpers/process.js';
import { repoRoot, serverBin } from './helpers/paths.js';
import { validateServerConfig } from '../server/config.js';
import { DEFAULT_REGISTRATION_LIMITS } from '../server/registration-limits.js';
import { startServer } from '../server/index.js';
import { readIntoReusedBuffer, takeReusedReads } from '../protocol/reused-reads.js';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';

afterAll(async () => {
  await removeTempDirs();
});

describe('server sockets read into one reused buffer', () => {
  it('a socket accepted by a TLS server takes the reused buffer on this Node, and its reader gets every byte in order', async () => {
    const payload = randomBytes(3 * 1024 * 1024);
    const got: Buffer[] = [];
    let installed: boolean | undefined;
    const done = new Promise<void>((resolve) => {
      const server = createTlsServer({ cert: readFileSync(DEMO_CERT), key: readFileSync(DEMO_KEY) }, (socket: TLSSocket) => {
        installed = readIntoReusedBuffer(socket);
        let n = 0;
        const onBytes = (d: Buffer): void => {
          // The reused buffer is overwritten after each call: keep a copy.
          got.push(Buffer.from(d));
          n += d.length;
          if (n === payload.length) {
            socket.end();
            server.close();
            resolve();
          }
        };
        socket.on('data', onBytes);
        takeReusedReads(socket, onBytes);
      });
      server.listen(0, '127.0.0.1', () => {
        const client = tlsConnect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, rejectUnauthorized: false });
        client.on('secureConnect', () => client.end(payload));
        client.on('error', () => undefined);
      });
    });
    await done;
    expect(installed).toBe(true);
    expect(Buffer.concat(got).equals(payload)).toBe(true);
  });
});

describe('frames', () => {
  it('decodes frames split at every byte boundary and several frames in one push', () => {
    const body = randomBytes(1000);
    const bytes = Buffer.concat([...encodeFrame(MessageType.PUT, 42, { ids: ['ab'], sizes: [1000] }, body), ...encodeFrame(MessageType.PING, 43, {})]);
    for (const step of [1, 7, bytes.length]) {
      const dec = new FrameDecoder();
      const frames = [];
      for (let i = 0; i < bytes.length; i += step) frames.push(...dec.push(bytes.subarray(i, i + step)));
      expect(frames.map((f) => [f.version, f.type, f.requestId])).toEqual([
        [PROTOCOL_VERSION, MessageType.PUT, 42],
        [PROTOCOL_VERSION, MessageType.PING, 43],
      ]);
      expect(frames[0].header).toEqual({ ids: ['ab'], sizes: [1000] });
      expect(frames[0].body.equals(body)).toBe(true);
    }
  });

  it('reassembles frames from random splits, and a frame spread over pieces owns its bytes', () => {
    const bodies = [0, 1, 5, 4096, 70_000, 3 * 1024 * 1024].map((n) => randomBytes(n));
    const bytes = Buffer.concat(bodies.flatMap((b, i) => encodeFrame(MessageType.PUT, i, { n: b.length }, b)));
    for (let round = 0; round < 20; round++) {
      const dec = new FrameDecoder();
      const frames = [];
      for (let at = 0; at < bytes.length; ) {
        const step = 1 + Math.floor(Math.random() ** 3 * 200_000);
        // Each piece is a copy that is scribbled over after the push, as a socket may reuse its buffer.
        const piece = Buffer.from(bytes.subarray(at, at + step));
        const got = dec.push(piece);
        frames.push(...got.map((f) => ({ id: f.requestId, body: Buffer.from(f.body), spread: f.body.buffer !== piece.buffer, f })));
        for (const f of frames) if (f.spread) expect(f.f.body.equals(f.body)).toBe(true);
        piece.fill(0xee);
        for (const f of frames) if (f.spread) expect(f.f.body.equals(f.body)).toBe(true);
        at += step;
      }
      expect(frames.map((f) => f.id)).toEqual(bodies.map((_, i) => i));
      frames.forEach((f, i) => {
        expect(f.body.equals(bodies[i])).toBe(true);
      });
    }
  });

  it('with reused pieces (a socket reading into one buffer) copies out every frame it returns', () => {
    const bodies = [0, 3, 900, 20_000, 70_000, 2 * 1024 * 1024].map((n) => randomBytes(n));
    const bytes = Buffer.concat(bodies.flatMap((b, i) => encodeFrame(MessageType.GET | MessageType.REPLY, i, { n: b.length }, b)));
    for (const max of [1, 5, 16 * 1024, 64 * 1024]) {
      const dec = new FrameDecoder();
      const shared = Buffer.alloc(max);
      const frames = [];
      for (let at = 0; at < bytes.length; ) {
        const n = Math.min(bytes.length - at, 1 + Math.floor(Math.random() * max));
        bytes.copy(shared, 0, at, at + n);
        frames.push(...dec.push(shared.subarray(0, n), true));
        shared.fill(0xee);
        at += n;
      }
      expect(frames.map((f) => f.requestId)).toEqual(bodies.map((_, i) => i));
      frames.forEach((f, i) => {
        expect(f.header).toEqual({ n: bodies[i].length });
        expect(f.body.equals(bodies[i])).toBe(true);
        expect(f.body.buffer).not.toBe(shared.buffer);
      });
    }
  });

  it('FrameWriter puts frames on the wire byte for byte, one at a time, and ends after the queued ones', async () => {
    const batch = randomBytes(300_000);
    // Chunks that lie back to back in one buffer (as sealed batches do), small and big, and separate ones.
    const bodies = [
      [batch.subarray(0, 100), batch.subarray(100, 70_100), batch.subarray(70_100, 300_000)],
      [randomBytes(10), randomBytes(9000), randomBytes(100_000), randomBytes(3)],
      [],
      [batch.subarray(0, 5), batch.subarray(10, 20)],
    ];
    const frames = bodies.map((b, i) => encodeFrame(MessageType.PUT, i, { i }, b));
    const sink = new PassThrough({ highWaterMark: 1024 });
    const writes: number[] = [];
    const write = sink.write.bind(sink);
    sink.write = ((chunk: Buffer, cb: () => void) => {
      writes.push(chunk.length);
      return write(chunk, cb);
    }) as typeof sink.write;
    const received: Buffer[] = [];
    sink.on('data', (d: Buffer) => received.push(d));
    const ended = new Promise((r) => sink.on('end', r));
    const writer = new FrameWriter(sink);
    const done: number[] = [];
    frames.forEach((f, i) => {
      writer.write(f, () => done.push(i));
    });
    writer.end();
    writer.write(encodeFrame(MessageType.PING, 99, {}), () => done.push(99));
    await ended;
    expect(done).toEqual([0, 1, 2, 3]);
    expect(Buffer.concat(received).equals(Buffer.concat(frames.flat()))).toBe(true);
    // Frame 0: header pieces joined, then the three back-to-back chunks as one view.
    expect(writes.slice(0, 2)).toEqual([frames[0][0].length + frames[0][1].length, 300_000]);
  });

  it('rejects oversized, undersized and malformed frames', () => {
    const big = Buffer.alloc(4);
    big.writeUInt32BE(MAX_FRAME_BYTES);
    expect(() => new FrameDecoder().push(big)).toThrow(ProtocolError);
    expect(() => new FrameDecoder().push(Buffer.from([0, 0, 0, 3, 1, 2, 3]))).toThrow(/bad frame length 3/);
    const bad = Buffer.concat(encodeFrame(1, 1, {}));
    bad.write('[', 14); // header "{}" -> "[}"
    expect(() => new FrameDecoder().push(bad)).toThrow(/not valid JSON/);
    expect(() => encodeFrame(MessageType.PUT, 1, {}, Buffer.alloc(MAX_FRAME_BYTES))).toThrow(/exceeds/);
  });
});

describe('agent config', () => {
  const good = {
    registration: { primary: '127.0.0.1:16384', alternate: '[::1]:16385' },
    tlsPin: Array.from({ length: 32 }, () => '0A').join(':'),
    proxy: { type: 'none' },
    backup: { include: [], exclude: [], protectedPaths: [], schedule: { frequency: 'daily', at: '02:00' } },
    technicianId: 'SECRET-TECH-123',
  };

  it('accepts a valid config (IPv4 and [IPv6])', () => {
    expect(validateAgentConfig(good, 'agent.json').registration.alternate).toBe('[::1]:16385');
  });

  it('names every bad field, its value and what is allowed — but never a secret', () => {
    const bad = {
      ...good,
      registration: { primary: 'backup.example.com:16384', alternate: '10.0.0.1' },
      tlsPin: 'nope',
      proxy: { type: 'socks6', password: 42 },
      backup: { ...good.backup, schedule: { frequency: 'sometimes', at: '25:00' } },
      technicianId: '',
    };
    let err: AgentConfigError | undefined;
    try {
      validateAgentConfig(bad, 'agent.json');
    } catch (e) {
      err = e as AgentConfigError;
    }
    expect(err).toBeInstanceOf(AgentConfigError);
    const paths = err!.issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/registration/primary',
        '/registration/alternate',
        '/tlsPin',
        '/proxy/type',
        '/proxy/password',
        '/backup/schedule/frequency',
        '/backup/schedule/at',
        '/technicianId',
      ]),
    );
    expect(err!.message).toContain('"backup.example.com" is not an IP address (agents connect by IP, no DNS)');
    expect(err!.message).toContain('expected one of none, socks4, socks4a, socks5, http');
    expect(err!.message).toContain('"25:00" is not allowed; expected HH:MM');
  });

  it('lookup order: --config, then HOLDFAST_CONFIG', () => {
    expect(resolveConfigPath('/x/a.json', { HOLDFAST_CONFIG: '/y/b.json' })).toEqual({ path: '/x/a.json', source: '--config' });
    expect(resolveConfigPath(undefined, { HOLDFAST_CONFIG: '/y/b.json' })).toEqual({ path: '/y/b.json', source: 'HOLDFAST_CONFIG' });
  });

  it('state folder defaults to "state" beside the config; stateDir is relative to the config', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'agent.json'), JSON.stringify(good));
    expect((await loadAgentConfig(join(dir, 'agent.json'))).stateDir).toBe(join(dir, 'state'));
    await writeFile(join(dir, 'agent.json'), JSON.stringify({ ...good, stateDir: 'elsewhere' }));
    expect((await loadAgentConfig(join(dir, 'agent.json'))).stateDir).toBe(join(dir, 'elsewhere'));
  });

  it('a CLI run with a hostname in the config fails naming the field; invalid JSON names the file', async () => {
    const agent = await makeAgent({ registration: { primary: '127.0.0.1:1', alternate: 'alt.example.net:16384' }, tlsPin: good.tlsPin });
    const r = await agent.run(['status']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('/registration/alternate');
    await writeFile(agent.configPath, '{ not json');
    const j = await agent.run(['status']);
    expect(j.code).not.toBe(0);
    expect(j.stderr).toContain(`${agent.configPath}: 1 problem`);
    expect(j.stderr).toContain('not valid JSON');
  });
});

describe('server config and admin commands', () => {
  it('refuses a bad config naming each field and exits non-zero', async () => {
    const dir = await tempDir();
    const cfg = join(dir, 'server.json');
    await writeFile(cfg, JSON.stringify({ listen: ['localhost:16384'], technicianIds: [], assign: { primary: 'x', alternate: '1.2.3.4:5' }, extra: 1 }));
    const r = await runProcess(process.execPath, [serverBin, '--data', join(dir, 'd'), '--config', cfg]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('/listen/0: "localhost:16384" is not allowed');
    expect(r.stderr).toContain('/technicianIds: expected a non-empty list');
    expect(r.stderr).toContain('/assign/primary: "x" is not allowed');
    expect(r.stderr).toContain('/extra: unknown field');
  });

  it('registration limits: examples/server.json shows the defaults; bad values are refused naming the field', async () => {
    const example = JSON.parse(readFileSync(join(repoRoot, 'examples', 'server.json'), 'utf8'));
    expect(validateServerConfig(example, 'server.json', repoRoot).limits?.registration).toEqual(DEFAULT_REGISTRATION_LIMITS);
    expect(example.limits.registration).toEqual(DEFAULT_REGISTRATION_LIMITS);
    const dir = await tempDir();
    const cfg = join(dir, 'server.json');
    const registration = { attemptsPerAddress: { burst: 0, perHour: 10 }, lockoutMs: 'soon', maxLockoutMs: 200, failuresPerAddres: 1 };
    await writeFile(cfg, JSON.stringify({ technicianIds: ['TECH-0001'], limits: { registration } }));
    const r = await runProcess(process.execPath, [serverBin, '--data', join(dir, 'd'), '--config', cfg]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('/limits/registration/attemptsPerAddress: {"burst":0,"perHour":10} is not allowed; expected { "burst": 1-1000000');
    expect(r.stderr).toContain('/limits/registration/lockoutMs: "soon" is not allowed; expected milliseconds from 100 to 86400000');
    expect(r.stderr).toContain('/limits/registration/failuresPerAddres: unknown field (allowed: attemptsPerAddress');
    expect(r.stderr).toContain('/limits/registration/maxLockoutMs: 200 is not allowed; expected at least lockoutMs (60000)');
  });

  it('without a configured certificate it makes one, prints its pin, keeps it across restarts, and agents pinning it register', async () => {
    const data = await tempDir();
    const s1 = await startTestServer({ dataDir: data, tls: 'generate' });
    expect(s1.output()).toContain('new certificate created in the data folder');
    const agent = await makeAgent({ server: s1 });
    expect((await agent.run(['register'])).code).toBe(0);
    await s1.stop();
    const s2 = await startTestServer({ dataDir: data, tls: 'generate' });
    expect(s2.pin).toBe(s1.pin);
    expect(s2.output()).not.toContain('new certificate created');
    const list = await runServerCli(['devices', '--data', data, '--json']);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toHaveLength(1);
    const bad = await runServerCli(['reassign', '--data', data, '--device', 'dev-000000000000000000000000', '--primary', 'host:1', '--alternate', '1.2.3.4:5']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--primary "host:1" is not allowed');
    const missing = await runServerCli([
      'reassign',
      '--data',
      data,
      '--device',
      'dev-000000000000000000000000',
      '--primary',
      '1.2.3.4:5',
      '--alternate',
      '1.2.3.4:6',
    ]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('no device dev-000000000000000000000000');
    await s2.stop();
  });

  it('SIGTERM with agents connected: the server cuts the sessions and exits 0 promptly', async () => {
    const s = await startTestServer();
    const device = await registeredDevice({ server: s });
    const store = await device.store();
    await store.connect();
    const t0 = Date.now();
    await s.stop();
    const { code, signal } = await s.process.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(s.output()).toContain('SIGTERM: shutting down');
    await store.close();
  });

  it('programmatic API: startServer() in-process reports addresses, pin and stats, and closes', async () => {
    const lines: string[] = [];
    const srv = await startServer({
      dataDir: await tempDir(),
      config: { listen: ['127.0.0.1:0', '127.0.0.1:0'], tls: { cert: DEMO_CERT, key: DEMO_KEY }, technicianIds: ['API-TECH-0001'] },
      log: (l) => lines.push(l),
    });
    try {
      expect(srv.addresses).toHaveLength(2);
      expect(srv.assign).toEqual({ primary: srv.addresses[0], alternate: srv.addresses[1] });
      expect(srv.stats()).toEqual({ devices: 0, storedBytes: 0, sessions: 0 });
      const device = await registeredDevice({ server: srv, technicianId: 'API-TECH-0001' });
      const store = await device.store();
      await store.put([{ id: 'ab'.repeat(32), data: randomBytes(5000) }]);
      expect(srv.stats()).toMatchObject({ devices: 1, storedBytes: 5000, sessions: 1 });
      await store.close();
      expect(lines.join('\n')).toMatch(/registered new device dev-/);
    } finally {
      await srv.close();
    }
  });
});
