// HTTP CONNECT with basic auth through real squid and tinyproxy instances on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentProxy } from '../agent/config-types.js';
import {
  closedPort,
  connectionFailure,
  greeting,
  startPinnedServer,
  startSquid,
  startTinyproxy,
  wrongPin,
  type PinnedServer,
  type RunningProxy,
} from './helpers/proxies.js';

const user = { username: 'hfhttp', password: 'Http-Pr0xy-5ecret' };
let server: PinnedServer;
let blockedPort: number;
let squid: RunningProxy;
let tinyproxy: RunningProxy;

beforeAll(async () => {
  server = await startPinnedServer();
  blockedPort = await closedPort();
  [squid, tinyproxy] = await Promise.all([startSquid({ user, allowPorts: [server.port] }), startTinyproxy({ user, allowPorts: [server.port] })]);
});

afterAll(async () => {
  await Promise.all([squid?.stop(), tinyproxy?.stop(), server?.close()]);
});

const failure = (endpoint: string, proxy: AgentProxy, pin = server.pin, timeoutMs = 10_000) => connectionFailure(endpoint, { tlsPin: pin, proxy, timeoutMs });

describe.each(['squid', 'tinyproxy'])('HTTP CONNECT through %s', (name) => {
  const running = () => (name === 'squid' ? squid : tinyproxy);
  const config = (extra: Partial<AgentProxy> = {}): AgentProxy => ({ type: 'http', host: '127.0.0.1', port: running().port, ...user, ...extra });

  it('reaches the pinned TLS server with basic auth', async () => {
    const before = server.handshakes;
    expect(await greeting(server.endpoint, { tlsPin: server.pin, proxy: config(), timeoutMs: 10_000 })).toBe('holdfast-test\n');
    expect(server.handshakes).toBe(before + 1);
  });

  it('a wrong password is proxy-auth, names the proxy and never the password', async () => {
    const err = await failure(server.endpoint, config({ password: 'Wrong-Http-Pass-42' }));
    expect(err.kind, err.message).toBe('proxy-auth');
    expect(err.message).toContain(`HTTP CONNECT proxy 127.0.0.1:${running().port}`);
    expect(err.message).toMatch(/authentication failed/);
    expect(err.message).not.toContain('Wrong-Http-Pass-42');
    expect(err.message).not.toContain(user.password);
  });

  it('no credentials is proxy-auth (proxy requires authentication)', async () => {
    const err = await failure(server.endpoint, { type: 'http', host: '127.0.0.1', port: running().port });
    expect(err.kind).toBe('proxy-auth');
    expect(err.message).toMatch(/requires authentication/);
  });

  it('a port outside the allowed CONNECT ports is proxy-refused', async () => {
    const err = await failure(`127.0.0.1:${blockedPort}`, config());
    expect(err.kind).toBe('proxy-refused');
    expect(err.message).toContain(`127.0.0.1:${blockedPort} via HTTP CONNECT proxy 127.0.0.1:${running().port}`);
  });

  it('a pin mismatch through the proxy is tls-pin', async () => {
    const err = await failure(server.endpoint, config(), wrongPin);
    expect(err.kind).toBe('tls-pin');
    expect(err.message).toContain('pin mismatch');
  });
});

describe('wrong proxy type', () => {
  it('a SOCKS5 client against an HTTP proxy port fails with a clear error within the deadline', async () => {
    // squid's port speaks HTTP; a SOCKS5 client against it gets no valid SOCKS answer.
    const err = await failure(server.endpoint, { type: 'socks5', host: '127.0.0.1', port: squid.port }, server.pin, 1_500);
    expect(['proxy-error', 'timeout']).toContain(err.kind);
    expect(err.message).toContain(`socks5 proxy 127.0.0.1:${squid.port}`);
  });
});
