// Direct connections and input checks: TCP by IP, TLS pinned, every failure a TransportError with its kind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openConnection, splitEndpoint, type TransportErrorKind } from '../agent/transport/index.js';
import type { AgentProxy } from '../agent/config-types.js';
import { takeReusedReads } from '../protocol/reused-reads.js';
import { closedPort, connectionFailure, startPinnedServer, startSilentServer, wrongPin, type PinnedServer } from './helpers/proxies.js';

let server: PinnedServer;
let silent: { port: number; close(): Promise<void> };

beforeAll(async () => {
  [server, silent] = await Promise.all([startPinnedServer(), startSilentServer()]);
});
afterAll(async () => {
  await Promise.all([server?.close(), silent?.close()]);
});

async function kindOf(endpoint: string, options: { tlsPin?: string; proxy?: AgentProxy; timeoutMs?: number } = {}): Promise<[TransportErrorKind, string]> {
  const err = await connectionFailure(endpoint, { tlsPin: server.pin, timeoutMs: 5_000, ...options });
  return [err.kind, err.message];
}

describe('direct transport', () => {
  it('reaches a pinned TLS server (pin accepted with or without colons, any case)', async () => {
    for (const pin of [server.pin, server.pin.replace(/:/g, '').toLowerCase()]) {
      const tls = await openConnection(server.endpoint, { tlsPin: pin, proxy: { type: 'none' }, timeoutMs: 5_000 });
      expect(tls.authorized === false || tls.authorized === true).toBe(true);
      expect(tls.getPeerCertificate().fingerprint256).toBe(server.pin);
      tls.destroy();
    }
  });

  it('reads into one reused buffer: as data events until a reader takes over, then through the reader', async () => {
    const read = async (take: boolean) => {
      const tls = await openConnection(server.endpoint, { tlsPin: server.pin, proxy: { type: 'none' }, timeoutMs: 5_000 });
      const events: string[] = [];
      const pieces: string[] = [];
      tls.on('data', (d: Buffer) => events.push(d.toString()));
      // This Node supports it (a Node where it does not would fall back to plain 'data' events).
      if (take) expect(takeReusedReads(tls, (d) => pieces.push(d.toString()))).toBe(true);
      await new Promise((r) => tls.on('close', r));
      return { events: events.join(''), pieces: pieces.join('') };
    };
    expect(await read(false)).toEqual({ events: 'holdfast-test\n', pieces: '' });
    // The test server speaks first: its line may be decrypted before the reader is attached.
    const taken = await read(true);
    expect(taken.events + taken.pieces).toBe('holdfast-test\n');
  });

  it('a closed port is refused', async () => {
    const port = await closedPort();
    const [kind, message] = await kindOf(`127.0.0.1:${port}`);
    expect(kind).toBe('refused');
    expect(message).toBe(`127.0.0.1:${port}: connection refused`);
  });

  it('a server that never answers the TLS handshake is a timeout', async () => {
    const started = Date.now();
    const [kind, message] = await kindOf(`127.0.0.1:${silent.port}`, { timeoutMs: 400 });
    expect(kind).toBe('timeout');
    expect(message).toMatch(/TLS handshake timed out after 400 ms/);
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('another certificate is tls-pin and shows the certificate it got', async () => {
    const [kind, message] = await kindOf(server.endpoint, { tlsPin: wrongPin });
    expect(kind).toBe('tls-pin');
    expect(message).toContain(server.pin);
  });

  it.each(['server.example.com:16384', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000', '999.1.1.1:16384', '::1:16384'])(
    'rejects %s as bad-address (IP:port only, no DNS)',
    async (endpoint) => {
      const [kind, message] = await kindOf(endpoint);
      expect(kind).toBe('bad-address');
      expect(message).toContain(JSON.stringify(endpoint));
    },
  );

  it('accepts [::1]:port syntax', () => {
    expect(splitEndpoint('[::1]:16384')).toEqual({ host: '::1', port: 16384 });
  });
});

describe('proxy phase deadlines', () => {
  it.each(['http', 'socks5'] as const)('a %s proxy that accepts but never answers is a timeout naming the proxy', async (type) => {
    const started = Date.now();
    const [kind, message] = await kindOf(server.endpoint, { proxy: { type, host: '127.0.0.1', port: silent.port }, timeoutMs: 400 });
    expect(kind).toBe('timeout');
    expect(message).toContain(`via ${type === 'http' ? 'HTTP CONNECT' : type} proxy 127.0.0.1:${silent.port}`);
    expect(Date.now() - started).toBeLessThan(4_000);
  });
});

describe('proxy settings checks', () => {
  const secret = 'N3ver-Printed-pw';
  it.each<[string, AgentProxy, RegExp]>([
    ['missing host', { type: 'socks5', port: 1080 }, /proxy\.host is missing/],
    ['bad port', { type: 'http', host: '127.0.0.1', port: 0 }, /proxy\.port 0 is not valid/],
    ['password without user', { type: 'http', host: '127.0.0.1', port: 3128, password: secret }, /without proxy\.username/],
    ['socks4 password', { type: 'socks4', host: '127.0.0.1', port: 1080, username: 'u', password: secret }, /SOCKS4 has no passwords/],
    ['unknown type', { type: 'ftp' as AgentProxy['type'], host: '127.0.0.1', port: 1 }, /proxy\.type "ftp" is not supported/],
  ])('%s is a proxy-error naming the field, without the password', async (_name, proxy, pattern) => {
    const [kind, message] = await kindOf(server.endpoint, { proxy });
    expect(kind).toBe('proxy-error');
    expect(message).toMatch(pattern);
    expect(message).not.toContain(secret);
  });

  it('socks4 cannot carry an IPv6 target: bad-address before any connection', async () => {
    const port = await closedPort();
    const [kind, message] = await kindOf(`[::1]:${server.port}`, { proxy: { type: 'socks4', host: '127.0.0.1', port } });
    expect(kind).toBe('bad-address');
    expect(message).toContain(`socks4 proxy 127.0.0.1:${port}`);
    expect(message).toMatch(/IPv4 addresses only/);
  });
});

describe('proxy passwords in messages', () => {
  /** A hostile HTTP proxy on 127.0.0.1 whose 407 status line says `statusText`. */
  async function echoingProxy(statusText: string): Promise<{ port: number; close(): Promise<void> }> {
    const { createServer } = await import('node:net');
    const srv = createServer((socket) => {
      socket.once('data', () => socket.end(`HTTP/1.1 407 ${statusText}\r\n\r\n`));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    return { port: (srv.address() as { port: number }).port, close: () => new Promise((r) => srv.close(() => r())) };
  }

  it('a short password does not garble the message: only our own words, nothing masked', async () => {
    const port = await closedPort();
    const [kind, message] = await kindOf(server.endpoint, { proxy: { type: 'socks5', host: '127.0.0.1', port, username: 'u', password: 'on' } });
    expect(kind).toBe('proxy-unreachable');
    expect(message).toBe(`${server.endpoint} via socks5 proxy 127.0.0.1:${port}: proxy unreachable: connection refused`);
    const [, http] = await kindOf(server.endpoint, { proxy: { type: 'http', host: '127.0.0.1', port, username: 'u', password: 'proxy' } });
    expect(http).toBe(`${server.endpoint} via HTTP CONNECT proxy 127.0.0.1:${port}: proxy unreachable: connection refused`);
  });

  it("a proxy's own text that echoes the password is masked: a long one anywhere, a short one only as a whole word", async () => {
    const long = 'Echo-Pa55word-991';
    const p1 = await echoingProxy(`wrong password ${long} (was x${long}x)`);
    const p2 = await echoingProxy('password on rejected: connection closed');
    try {
      const [kind, message] = await kindOf(server.endpoint, { proxy: { type: 'http', host: '127.0.0.1', port: p1.port, username: 'agent', password: long } });
      expect(kind).toBe('proxy-auth');
      expect(message).not.toContain(long);
      expect(message).toContain('HTTP 407 wrong password *** (was x***x)');
      expect(message).toContain('wrong user or password for user "agent"');
      const [, short] = await kindOf(server.endpoint, { proxy: { type: 'http', host: '127.0.0.1', port: p2.port, username: 'agent', password: 'on' } });
      expect(short).toContain('HTTP 407 password *** rejected: connection closed');
      // A user name that holds the password is not printed either.
      const [, same] = await kindOf(server.endpoint, { proxy: { type: 'http', host: '127.0.0.1', port: p1.port, username: long, password: long } });
      expect(same).not.toContain(long);
      expect(same).toContain('wrong user or password for the configured user');
    } finally {
      await Promise.all([p1.close(), p2.close()]);
    }
  });
});
