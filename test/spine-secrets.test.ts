// No secrets in logs or errors: a whole life cycle through a real SOCKS5 proxy (danted, username/password)
// — register, backup, status, restore, service, and failures (wrong Technician ID, wrong proxy password,
// servers down) — and none of the Technician ID, proxy password, device credential, identity secret or
// device key shows up in any agent or server output.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeAgent, manualBackup, type TestAgent } from './helpers/agent.js';
import { makeSampleTree, diffTrees } from './helpers/sample.js';
import { tempDir, TEST_TECHNICIAN_ID, useTestServer } from './helpers/server.js';
import { closedPort, startDante, startSquid, type RunningProxy } from './helpers/proxies.js';

const PROXY_USER = 'hfagent';
const PROXY_PASSWORD = 'PW-s3cr3t-Proxy-9931';
const WRONG_TECH = 'WRONG-TECH-SECRET-4471';

const server = useTestServer();
let dante: RunningProxy;
let sample: string;
const outputs: string[] = [];

function port(addr: string): number {
  return Number(addr.split(':').pop());
}

async function agentVia(proxyPassword: string, technicianId = TEST_TECHNICIAN_ID): Promise<TestAgent> {
  return makeAgent({
    server,
    technicianId,
    config: {
      proxy: { type: 'socks5', host: '127.0.0.1', port: dante.port, username: PROXY_USER, password: proxyPassword },
      backup: manualBackup([sample]),
    },
  });
}

async function run(agent: TestAgent, args: string[]) {
  const r = await agent.run(args);
  outputs.push(r.output);
  return r;
}

beforeAll(async () => {
  dante = await startDante({ user: { username: PROXY_USER, password: PROXY_PASSWORD }, allowPorts: server.addresses.map(port) });
  sample = join(await tempDir('holdfast-sample-'), 'home');
  await makeSampleTree(sample, 6, 100_000);
});
afterAll(async () => {
  await dante?.stop();
});

describe('no secrets in logs', () => {
  it('a full round trip through a SOCKS5 proxy with username/password works and leaks nothing', async () => {
    const agent = await agentVia(PROXY_PASSWORD);
    expect((await run(agent, ['register'])).code).toBe(0);
    const b = await run(agent, ['backup']);
    expect(b.code, b.output).toBe(0);
    expect((await run(agent, ['status'])).code).toBe(0);
    expect((await run(agent, ['status', '--json'])).code).toBe(0);
    const out = await tempDir('holdfast-restore-');
    const r = await run(agent, ['restore', '--to', out]);
    expect(r.code, r.output).toBe(0);
    expect(await diffTrees(sample, join(out, 'home'))).toEqual([]);
    const svc = await run(agent, ['service', '--once', '--backup-now']);
    expect(svc.code, svc.output).toBe(0);
    expect(svc.stdout).toMatch(/backup complete/);

    const reg = JSON.parse(await readFile(join(agent.stateDir, 'registration.json'), 'utf8'));
    const identity = JSON.parse(await readFile(join(agent.stateDir, 'identity.json'), 'utf8'));
    const keyFile = await readFile(join(agent.stateDir, 'device.key'), 'utf8');
    const secrets = [TEST_TECHNICIAN_ID, PROXY_PASSWORD, reg.credential, identity.identitySecret, ...keyFile.split(/\s+/).filter((t) => t.length >= 32)];
    expect(secrets.length).toBeGreaterThanOrEqual(5);

    // Failures print errors too: wrong proxy password, wrong Technician ID, servers down.
    const wrongPw = await agentVia('not-the-password');
    const w = await run(wrongPw, ['register']);
    expect(w.code).not.toBe(0);
    expect(w.stderr).toMatch(/socks5 proxy 127\.0\.0\.1:\d+/);
    expect(w.stderr).toMatch(/rejected|authentication|username|password/i);
    const wrongTech = await agentVia(PROXY_PASSWORD, WRONG_TECH);
    const t = await run(wrongTech, ['register']);
    expect(t.code).not.toBe(0);
    secrets.push(WRONG_TECH, 'not-the-password');

    await server.stop();
    const down = await run(agent, ['backup']);
    expect(down.code).not.toBe(0);
    outputs.push(server.output());
    await server.restart();

    const all = outputs.join('\n');
    for (const s of secrets) expect(all.includes(s), `secret of length ${s.length} found in output`).toBe(false);
    // Status files readable by support tools hold no secrets either.
    const lastResult = await readFile(join(agent.stateDir, 'last-result.json'), 'utf8');
    for (const s of secrets) expect(lastResult.includes(s)).toBe(false);
  });

  it('through an HTTP CONNECT proxy (squid, basic auth): failover past a dead primary, round trip, and a wrong password names the proxy only', async () => {
    const dead = `127.0.0.1:${await closedPort()}`;
    const squid = await startSquid({ user: { username: PROXY_USER, password: PROXY_PASSWORD }, allowPorts: [...server.addresses.map(port), port(dead)] });
    try {
      const viaSquid = (password: string) =>
        makeAgent({
          registration: { primary: dead, alternate: server.addresses[0] },
          tlsPin: server.pin,
          config: {
            proxy: { type: 'http', host: '127.0.0.1', port: squid.port, username: PROXY_USER, password },
            backup: manualBackup([sample]),
          },
        });
      const agent = await viaSquid(PROXY_PASSWORD);
      const reg = await agent.run(['register']);
      expect(reg.code, reg.output).toBe(0);
      expect(reg.stdout).toContain(`via ${server.addresses[0]}`);
      expect((await agent.run(['backup'])).code).toBe(0);
      const out = await tempDir('holdfast-restore-');
      expect((await agent.run(['restore', '--to', out])).code).toBe(0);
      expect(await diffTrees(sample, join(out, 'home'))).toEqual([]);

      const wrong = await viaSquid('wrong-Proxy-pass-5512');
      const w = await wrong.run(['register']);
      expect(w.code).not.toBe(0);
      expect(w.stderr).toMatch(/HTTP CONNECT proxy 127\.0\.0\.1:\d+/);
      expect(w.stderr).toMatch(/407|authentication|rejected|password/i);
      expect(w.output).not.toContain('wrong-Proxy-pass-5512');
      expect(reg.output + w.output).not.toContain(PROXY_PASSWORD);
    } finally {
      await squid.stop();
    }
  });
});
