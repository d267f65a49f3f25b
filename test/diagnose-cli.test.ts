// `holdfast-agent diagnose` as an admin runs it: real agent CLI, real server process, real dante proxy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeAgent } from './helpers/agent.js';
import { TEST_TECHNICIAN_ID, useTestServer } from './helpers/server.js';
import { closedPort, startDante, wrongPin, type RunningProxy } from './helpers/proxies.js';
import type { AgentProxy } from '../agent/config-types.js';

const user = { username: 'hfdiagcli', password: 'Cli-Diag-Pa55-77' };
const server = useTestServer();
let dante: RunningProxy;
let closed: string;

beforeAll(async () => {
  closed = `127.0.0.1:${await closedPort()}`;
  dante = await startDante({ user, allowPorts: server.addresses.map((a) => Number(a.split(':')[1])) });
});
afterAll(async () => {
  await dante?.stop();
});

const socks = (password = user.password): AgentProxy => ({ type: 'socks5', host: '127.0.0.1', port: dante.port, username: user.username, password });

describe('holdfast-agent diagnose', () => {
  it('--help documents the options and the exit rule', async () => {
    const agent = await makeAgent({ server });
    const r = await agent.run(['diagnose', '--help']);
    expect(r.code).toBe(0);
    for (const s of ['--config', '--json', '--timeout-ms', '--no-direct', 'Exit code 0']) expect(r.stdout).toContain(s);
  });

  it('direct, not registered: table with ok and refused, exit 0 (one of the pair answers)', async () => {
    const agent = await makeAgent({ server, registration: { primary: server.addresses[0], alternate: closed } });
    const r = await agent.run(['diagnose']);
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toMatch(/not registered yet/);
    expect(r.stdout).toMatch(new RegExp(`registration\\s+primary\\s+${server.addresses[0]}\\s+direct\\s+ok`));
    expect(r.stdout).toMatch(new RegExp(`registration\\s+alternate\\s+${closed}\\s+direct\\s+refused`));
    expect(r.output).not.toContain(TEST_TECHNICIAN_ID);
  });

  it('wrong proxy password: "proxy auth failed", exit 1, password never printed (table and JSON)', async () => {
    const wrong = 'Wrong-Cli-Pass-9';
    const agent = await makeAgent({ server, config: { proxy: socks(wrong) } });
    const table = await agent.run(['diagnose']);
    expect(table.code).toBe(1);
    expect(table.stdout).toMatch(
      new RegExp(`registration\\s+primary\\s+${server.addresses[0]}\\s+via socks5 proxy 127\\.0\\.0\\.1:${dante.port}\\s+proxy auth failed`),
    );
    expect(table.stdout).toMatch(/FAIL: neither registration server is reachable through the proxy/);
    const json = await agent.run(['diagnose', '--json']);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout);
    expect(report.ok).toBe(false);
    expect(report.hops.filter((h: { route: string }) => h.route === 'proxy').map((h: { verdict: string }) => h.verdict)).toEqual(['proxy-auth', 'proxy-auth']);
    for (const out of [table.output, json.output]) {
      expect(out).not.toContain(wrong);
      expect(out).not.toContain(TEST_TECHNICIAN_ID);
    }
  });

  it('pin mismatch is reported as such, exit 1', async () => {
    const agent = await makeAgent({ server, tlsPin: wrongPin });
    const r = await agent.run(['diagnose', '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).hops.map((h: { verdict: string }) => h.verdict)).toEqual(['tls-pin', 'tls-pin']);
  });

  it('registered through the proxy: checks the assigned pair too, exit 0, --no-direct skips direct probes', async () => {
    const agent = await makeAgent({ server, config: { proxy: socks() } });
    const reg = await agent.run(['register']);
    expect(reg.code, reg.output).toBe(0);
    const r = await agent.run(['diagnose', '--json', '--no-direct', '--timeout-ms', '3000']);
    expect(r.code, r.output).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ ok: true, registered: true, route: 'proxy' });
    expect(report.pairs).toEqual([
      { pair: 'registration', needed: false, reachable: true },
      { pair: 'assigned', needed: true, reachable: true },
    ]);
    expect(report.hops).toHaveLength(4);
    expect(report.hops.every((h: { route: string; verdict: string }) => h.route === 'proxy' && h.verdict === 'ok')).toBe(true);
  });

  it('a bad --timeout-ms is refused naming the value and the allowed range', async () => {
    const agent = await makeAgent({ server });
    const r = await agent.run(['diagnose', '--timeout-ms', 'soon']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/"soon" is not allowed: use an integer from 100 to 600000/);
  });
});
