// The diagnose library against a real holdfast server (in-process), a real dante proxy and real closed ports.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diagnose, formatReport } from '../agent/diagnose.js';
import type { AgentConfig, AgentProxy } from '../agent/config-types.js';
import { manualBackup } from './helpers/agent.js';
import { startServer, type RunningServer } from '../server/index.js';
import {
  closedPort,
  demoCertPath,
  demoKeyPath,
  startDante,
  startPinnedServer,
  startSilentServer,
  wrongPin,
  type PinnedServer,
  type RunningProxy,
} from './helpers/proxies.js';

const user = { username: 'hfdiag', password: 'Diag-Pr0xy-Secret-55' };
const technicianId = 'DIAG-TECH-4242';
let dataDir: string;
let server: RunningServer;
let foreign: PinnedServer;
let silent: { port: number; close(): Promise<void> };
let dante: RunningProxy;
let closed: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'holdfast-diag-'));
  server = await startServer({
    dataDir,
    config: { listen: ['127.0.0.1:0', '127.0.0.1:0'], tls: { cert: demoCertPath, key: demoKeyPath }, technicianIds: [technicianId] },
    log: () => {},
  });
  [foreign, silent] = await Promise.all([startPinnedServer(), startSilentServer()]);
  closed = `127.0.0.1:${await closedPort()}`;
  const ports = [...server.addresses, closed].map((a) => Number(a.split(':')[1]));
  dante = await startDante({ user, allowPorts: ports });
});

afterAll(async () => {
  await Promise.all([dante?.stop(), server?.close(), foreign?.close(), silent?.close()]);
  rmSync(dataDir, { recursive: true, force: true });
});

function config(registration: { primary: string; alternate: string }, proxy: AgentProxy = { type: 'none' }, tlsPin = server.pin): AgentConfig {
  return {
    technicianId,
    registration,
    tlsPin,
    proxy,
    backup: manualBackup(),
  };
}
const socks = (password = user.password): AgentProxy => ({ type: 'socks5', host: '127.0.0.1', port: dante.port, username: user.username, password });

describe('diagnose', () => {
  it('direct: an answering server is ok, a closed port is refused, one of the pair is enough', async () => {
    const report = await diagnose(config({ primary: server.addresses[0], alternate: closed }));
    expect(report.hops.map((h) => [h.role, h.route, h.verdict])).toEqual([
      ['primary', 'direct', 'ok'],
      ['alternate', 'direct', 'refused'],
    ]);
    expect(report.hops.every((h) => h.needed)).toBe(true);
    expect(report.ok).toBe(true);
    expect(formatReport(report)).toMatch(/OK: the registration pair is reachable directly/);
  });

  it('both servers closed: not ok', async () => {
    const report = await diagnose(config({ primary: closed, alternate: closed }));
    expect(report.hops.map((h) => h.verdict)).toEqual(['refused', 'refused']);
    expect(report.ok).toBe(false);
    expect(formatReport(report)).toMatch(/FAIL: neither registration server is reachable directly/);
  });

  it('through the proxy, with a direct check beside it', async () => {
    const report = await diagnose(config({ primary: server.addresses[0], alternate: server.addresses[1] }, socks()));
    expect(report.route).toBe('proxy');
    expect(report.proxy).toBe(`socks5 proxy 127.0.0.1:${dante.port}`);
    expect(report.hops.map((h) => [h.role, h.route, h.verdict, h.needed])).toEqual([
      ['primary', 'proxy', 'ok', true],
      ['primary', 'direct', 'ok', false],
      ['alternate', 'proxy', 'ok', true],
      ['alternate', 'direct', 'ok', false],
    ]);
    expect(report.ok).toBe(true);
  });

  it('a wrong proxy password is "proxy auth failed" and fails the check even though direct works', async () => {
    const report = await diagnose(config({ primary: server.addresses[0], alternate: server.addresses[1] }, socks('Wrong-Diag-Pass-1')));
    const viaProxy = report.hops.filter((h) => h.route === 'proxy');
    expect(viaProxy.map((h) => h.verdict)).toEqual(['proxy-auth', 'proxy-auth']);
    expect(report.hops.filter((h) => h.route === 'direct').map((h) => h.verdict)).toEqual(['ok', 'ok']);
    expect(report.ok).toBe(false);
    const text = formatReport(report) + JSON.stringify(report);
    expect(text).toContain('proxy auth failed');
    expect(text).not.toContain('Wrong-Diag-Pass-1');
    expect(text).not.toContain(user.password);
    expect(text).not.toContain(technicianId);
  });

  it('a pin mismatch is reported as such', async () => {
    const report = await diagnose(config({ primary: server.addresses[0], alternate: server.addresses[1] }, { type: 'none' }, wrongPin));
    expect(report.hops.map((h) => h.verdict)).toEqual(['tls-pin', 'tls-pin']);
    expect(formatReport(report)).toContain('TLS pin mismatch');
    expect(report.ok).toBe(false);
  });

  it('a TLS service with the right certificate that does not speak the protocol is an error', async () => {
    const report = await diagnose(config({ primary: foreign.endpoint, alternate: closed }));
    expect(report.hops[0].verdict).toBe('error');
    expect(report.hops[0].kind).toBe('protocol');
    expect(report.hops[0].detail).toMatch(/did not answer PING/);
    expect(report.ok).toBe(false);
  });

  it('a server that never answers is timed out within the deadline', async () => {
    const report = await diagnose(config({ primary: `127.0.0.1:${silent.port}`, alternate: closed }), { timeoutMs: 300 });
    expect(report.hops[0].verdict).toBe('timeout');
    expect(report.hops[0].elapsedMs).toBeLessThan(3_000);
    expect(formatReport(report)).toContain('timed out');
  });

  it('registered: the assigned pair is needed, the registration pair is informational', async () => {
    const report = await diagnose(config({ primary: closed, alternate: closed }), { assigned: server.assign });
    expect(report.registered).toBe(true);
    expect(report.pairs).toEqual([
      { pair: 'registration', needed: false, reachable: false },
      { pair: 'assigned', needed: true, reachable: true },
    ]);
    expect(report.ok).toBe(true);
    expect(formatReport(report)).toMatch(/registration \(info\)/);
  });

  it('a proxy refusing the destination is reported as such', async () => {
    const blocked = `127.0.0.1:${await closedPort()}`;
    const report = await diagnose(config({ primary: blocked, alternate: server.addresses[0] }, socks()), { alsoDirect: false });
    expect(report.hops.map((h) => h.verdict)).toEqual(['proxy-refused', 'ok']);
    expect(report.ok).toBe(true);
  });
});
