// End to end: the real agent CLI registers and backs up through a real SOCKS5 proxy (dante, username/password)
// and a real HTTP CONNECT proxy (squid, basic auth); a wrong proxy password fails clearly and stays secret.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { makeAgent, manualBackup } from './helpers/agent.js';
import { makeSampleTree } from './helpers/sample.js';
import { tempDir, TEST_TECHNICIAN_ID, useTestServer } from './helpers/server.js';
import { startDante, startSquid, type RunningProxy } from './helpers/proxies.js';
import type { AgentProxy } from '../agent/config-types.js';

const socksUser = { username: 'hfe2e', password: 'E2e-Socks-Pa55word' };
const httpUser = { username: 'hfe2ehttp', password: 'E2e-Http-Pa55word' };
const server = useTestServer();
let dante: RunningProxy;
let squid: RunningProxy;
let sample: string;

beforeAll(async () => {
  const ports = server.addresses.map((a) => Number(a.split(':')[1]));
  [dante, squid] = await Promise.all([startDante({ user: socksUser, allowPorts: ports }), startSquid({ user: httpUser, allowPorts: ports })]);
  sample = join(await tempDir('holdfast-proxy-sample-'), 'docs');
  await makeSampleTree(sample, 6, 64 * 1024);
});

afterAll(async () => {
  await Promise.all([dante?.stop(), squid?.stop()]);
});

function agentThrough(proxy: AgentProxy) {
  return makeAgent({ server, config: { proxy, backup: manualBackup([sample]) } });
}

describe.each([
  ['socks5 (dante, username/password)', () => ({ type: 'socks5', host: '127.0.0.1', port: dante.port, ...socksUser }) as AgentProxy, () => dante],
  ['HTTP CONNECT (squid, basic auth)', () => ({ type: 'http', host: '127.0.0.1', port: squid.port, ...httpUser }) as AgentProxy, () => squid],
])('agent through %s', (_name, proxy, running) => {
  it('registers and backs up through the proxy; the proxy log shows the tunnels', async () => {
    const agent = await agentThrough(proxy());
    const reg = await agent.run(['register', '--json']);
    expect(reg.code, reg.output).toBe(0);
    const deviceId = JSON.parse(reg.stdout).deviceId as string;
    expect(deviceId).toMatch(/^dev-/);
    const backup = await agent.run(['backup', '--json']);
    expect(backup.code, backup.output).toBe(0);
    const result = JSON.parse(backup.stdout);
    expect(result.files).toBe(8); // 6 sample files, notes.txt, empty.txt
    expect(result.bytesUploaded).toBeGreaterThan(0);
    // The server port appears in the proxy's own connection log: the agent really went through it.
    const assigned = server.addresses[0].split(':')[1];
    expect(running().log()).toContain(assigned);
    for (const secret of [socksUser.password, httpUser.password, TEST_TECHNICIAN_ID]) expect(reg.output + backup.output).not.toContain(secret);
  });

  it('with a wrong proxy password the agent exits non-zero with a clear error and never prints the password', async () => {
    const wrong = 'Wrong-Proxy-Pw-0042';
    const agent = await agentThrough({ ...proxy(), password: wrong });
    const r = await agent.run(['register']);
    expect(r.code).not.toBe(0);
    const p = proxy();
    expect(r.output).toContain(`${p.type === 'http' ? 'HTTP CONNECT' : p.type} proxy 127.0.0.1:${p.port}`);
    expect(r.output).toMatch(/proxy authentication failed/);
    expect(r.output).not.toContain(wrong);
    expect(r.output).not.toContain(TEST_TECHNICIAN_ID);
  });
});
