// SOCKS4, SOCKS4a and SOCKS5 (none and username/password) through real dante instances on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentProxy } from '../agent/config-types.js';
import {
  closedPort,
  connectionFailure,
  greeting,
  startDante,
  startPinnedServer,
  startSilentServer,
  wrongPin,
  type PinnedServer,
  type RunningProxy,
} from './helpers/proxies.js';

const user = { username: 'hfproxy', password: 'Pr0xy-S3cret-7731' };
let server: PinnedServer;
let silent: { port: number; close(): Promise<void> };
let refusedPort: number;
let blockedPort: number;
let open: RunningProxy;
let auth: RunningProxy;

beforeAll(async () => {
  [server, silent] = await Promise.all([startPinnedServer(), startSilentServer()]);
  refusedPort = await closedPort();
  blockedPort = await closedPort();
  // The rule sets allow the TLS server and the closed port; every other destination is blocked.
  [open, auth] = await Promise.all([
    startDante({ allowPorts: [server.port, refusedPort] }),
    startDante({ user, allowPorts: [server.port, refusedPort, silent.port] }),
  ]);
});

afterAll(async () => {
  await Promise.all([open?.stop(), auth?.stop(), server?.close(), silent?.close()]);
});

const failure = (endpoint: string, proxy: AgentProxy, pin = server.pin) => connectionFailure(endpoint, { tlsPin: pin, proxy, timeoutMs: 10_000 });

async function reaches(proxy: AgentProxy): Promise<string> {
  const before = server.handshakes;
  const text = await greeting(server.endpoint, { tlsPin: server.pin, proxy, timeoutMs: 10_000 });
  expect(server.handshakes).toBe(before + 1);
  return text;
}

describe('SOCKS proxies (dante)', () => {
  it.each(['socks4', 'socks4a', 'socks5'] as const)('%s without auth reaches the pinned TLS server', async (type) => {
    expect(await reaches({ type, host: '127.0.0.1', port: open.port })).toBe('holdfast-test\n');
  });

  it('socks5 with username/password reaches the pinned TLS server', async () => {
    expect(await reaches({ type: 'socks5', host: '127.0.0.1', port: auth.port, ...user })).toBe('holdfast-test\n');
  });

  it('the proxy may be named by DNS (localhost)', async () => {
    expect(await reaches({ type: 'socks5', host: 'localhost', port: auth.port, ...user })).toBe('holdfast-test\n');
  });

  it('a wrong proxy password is proxy-auth, names the proxy and never the password', async () => {
    const err = await failure(server.endpoint, { type: 'socks5', host: '127.0.0.1', port: auth.port, username: user.username, password: 'wrong-Secret-991' });
    expect(err.kind).toBe('proxy-auth');
    expect(err.message).toContain(`socks5 proxy 127.0.0.1:${auth.port}`);
    expect(err.message).toMatch(/authentication failed/);
    expect(err.message).not.toContain('wrong-Secret-991');
    expect(err.message).not.toContain(user.password);
  });

  it('no credentials against a proxy that requires them is proxy-auth', async () => {
    const err = await failure(server.endpoint, { type: 'socks5', host: '127.0.0.1', port: auth.port });
    expect(err.kind).toBe('proxy-auth');
    expect(err.message).toMatch(/requires authentication/);
  });

  it.each(['socks5', 'socks4'] as const)('%s: a destination outside the rule set is proxy-refused', async (type) => {
    const err = await failure(`127.0.0.1:${blockedPort}`, { type, host: '127.0.0.1', port: open.port });
    expect(err.kind).toBe('proxy-refused');
    expect(err.message).toContain(`${type} proxy 127.0.0.1:${open.port}`);
    expect(err.message).toContain(`127.0.0.1:${blockedPort}`);
  });

  it('socks5: an allowed destination with nothing listening is refused (server refused through the proxy)', async () => {
    const err = await failure(`127.0.0.1:${refusedPort}`, { type: 'socks5', host: '127.0.0.1', port: auth.port, ...user });
    expect(err.kind).toBe('refused');
    expect(err.message).toMatch(/server refused/);
  });

  it('a pin mismatch through the proxy is tls-pin', async () => {
    const err = await failure(server.endpoint, { type: 'socks5', host: '127.0.0.1', port: auth.port, ...user }, wrongPin);
    expect(err.kind).toBe('tls-pin');
    expect(err.message).toContain(`via socks5 proxy 127.0.0.1:${auth.port}`);
    expect(err.message).toContain(server.pin);
  });

  it('a server that never completes TLS behind the proxy is a timeout within the deadline', async () => {
    const started = Date.now();
    const err = await connectionFailure(`127.0.0.1:${silent.port}`, {
      tlsPin: server.pin,
      proxy: { type: 'socks5', host: '127.0.0.1', port: auth.port, ...user },
      timeoutMs: 500,
    });
    expect(err.kind).toBe('timeout');
    expect(err.message).toMatch(/TLS handshake timed out after 500 ms/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('a proxy that is not listening is proxy-unreachable', async () => {
    const port = await closedPort();
    const err = await failure(server.endpoint, { type: 'socks5', host: '127.0.0.1', port, ...user });
    expect(err.kind).toBe('proxy-unreachable');
    expect(err.message).toContain(`socks5 proxy 127.0.0.1:${port}`);
    expect(err.message).not.toContain(user.password);
  });
});
