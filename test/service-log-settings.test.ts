// The service log's rotation from the fleet and the settings table (issue 14, point 7): `serviceLog` {maxBytes, files}
// goes from the fleet file into agent.json, group policy (LogMaxBytes, LogFiles in the ADMX) and managed preferences
// set it too, and the running service rotates by it (flags still win). Bad values are refused naming the field, the
// value and the allowed range, in the fleet, in agent.json and in a policy.
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bplistCreator from 'bplist-creator';
import { describe, expect, it } from 'vitest';

import { parseRegQuery, policyOverrides } from '../agent/policy.js';
import { renderGpoFiles } from '../deployer/targets/gpo.js';
import { agentConfigFromFleet } from '../fleet/agent-config.js';
import { FleetValidationError, loadFleet, parseFleet } from '../fleet/load.js';
import { makeAgent } from './helpers/agent.js';
import { repoRoot } from './helpers/paths.js';
import { policyTestConfig } from './helpers/policy-config.js';
import { tempDir, useTestServer } from './helpers/server.js';

const demoText = readFileSync(join(repoRoot, 'examples/fleets/demo.fleet.json'), 'utf8');

function fleetIssues(serviceLog: unknown) {
  const doc = JSON.parse(demoText);
  delete doc.$schema;
  doc.serviceLog = serviceLog;
  try {
    parseFleet(JSON.stringify(doc));
  } catch (err) {
    if (err instanceof FleetValidationError) return err.issues;
    throw err;
  }
  return [];
}

describe('serviceLog in the fleet and the settings table', () => {
  it('the fleet value reaches agent.json; out-of-range values are refused naming field, value and range', async () => {
    const doc = JSON.parse(demoText);
    doc.serviceLog = { maxBytes: 1048576, files: 3 };
    const loaded = { ...(await loadFleet(join(repoRoot, 'examples/fleets/demo.fleet.json'))), fleet: parseFleet(JSON.stringify(doc)) };
    expect((await agentConfigFromFleet(loaded, { technicianId: 'DEMO-TECH-0001' })).serviceLog).toEqual({ maxBytes: 1048576, files: 3 });

    const small = fleetIssues({ maxBytes: 10 });
    expect(small).toEqual([
      expect.objectContaining({ path: '/serviceLog/maxBytes', value: '10', allowed: expect.stringMatching(/1024 \(1 KiB\) to 1073741824 \(1 GiB\)/) }),
    ]);
    expect(fleetIssues({ files: 0 })).toEqual([expect.objectContaining({ path: '/serviceLog/files', value: '0', allowed: 'a whole number from 1 to 100' })]);
    expect(fleetIssues({ files: 3, size: 1 })[0]).toMatchObject({ path: '/serviceLog/size' });
  });

  it('a group policy sets it (values checked against the same ranges); the ADMX offers both with those ranges', async () => {
    const reg = (lines: string[]) => parseRegQuery(['', 'HKEY_LOCAL_MACHINE\\Software\\Policies\\ACME IT\\ACME Backup', ...lines, ''].join('\r\n'));
    expect(policyOverrides(reg(['    LogMaxBytes    REG_DWORD    0x100000', '    LogFiles    REG_DWORD    0x3']), policyTestConfig)).toEqual({
      serviceLog: { maxBytes: 1048576, files: 3 },
    });
    expect(() => policyOverrides(reg(['    LogFiles    REG_DWORD    0x0']), policyTestConfig)).toThrow(
      'policy value LogFiles: "0" is not allowed; expected a whole number from 1 to 100',
    );
    const { fleet } = await loadFleet(join(repoRoot, 'examples/fleets/acme.fleet.json'));
    const admx = Object.entries(renderGpoFiles(fleet)).find(([n]) => n.endsWith('.admx'))![1];
    expect(admx).toContain('<decimal id="LogMaxBytes" valueName="LogMaxBytes" minValue="1024" maxValue="1073741824" />');
    expect(admx).toContain('<decimal id="LogFiles" valueName="LogFiles" minValue="1" maxValue="100" />');
  });
});

describe('the running service rotates by the settings', () => {
  const server = useTestServer();

  /** A log folder as an earlier service left it: agent.log of `size` bytes and copies .1 to .4 (the default 5 files). */
  function oldLogs(dir: string, size: number): string {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'agent.log'), `${'o'.repeat(size - 1)}\n`);
    for (let i = 1; i <= 4; i++) writeFileSync(join(dir, `agent.log.${i}`), `copy ${i}\n`);
    return join(dir, 'agent.log');
  }

  it('agent.json serviceLog {maxBytes 1024, files 2}: copies beyond two go, a full file rotates; a managed preference wins over it', async () => {
    const agent = await makeAgent({ server, config: { serviceLog: { maxBytes: 1024, files: 2 }, policy: policyTestConfig.policy } });
    const dir = join(agent.dir, 'logs');
    const log = oldLogs(dir, 1000);
    const r = await agent.run(['service', '--once', '--log', log]);
    expect(r.code, r.output).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['agent.log', 'agent.log.1']);
    // The old 1000 bytes rotated away at the first line (it would have passed 1024), and the new file stays within it.
    expect(readFileSync(join(dir, 'agent.log.1'), 'utf8')).toMatch(/^o{999}\n$/);
    expect(statSync(log).size).toBeLessThanOrEqual(1024);
    expect(readFileSync(log, 'utf8')).toMatch(/service finished\n$/);

    // Managed preferences (as Jamf delivers them) say 4096 bytes and 3 files: no rotation of 1500 bytes, .3 and .4 go.
    const prefs = await tempDir('hf-log-prefs-');
    writeFileSync(join(prefs, 'tmp'), bplistCreator({ LogMaxBytes: 4096, LogFiles: 3 }));
    renameSync(join(prefs, 'tmp'), join(prefs, `${policyTestConfig.policy!.domain}.plist`));
    const dir2 = join(agent.dir, 'logs2');
    const log2 = oldLogs(dir2, 1500);
    const r2 = await agent.run(['service', '--once', '--log', log2], { env: { HOLDFAST_MANAGED_PREFS_DIR: prefs } });
    expect(r2.code, r2.output).toBe(0);
    expect(readdirSync(dir2).sort()).toEqual(['agent.log', 'agent.log.1', 'agent.log.2']);
    const text = readFileSync(log2, 'utf8');
    expect(text.startsWith(`${'o'.repeat(1499)}\n`)).toBe(true);
    expect(text).toMatch(/service started[\s\S]*service finished\n$/);
  });

  it('agent.json with a bad serviceLog stops the agent naming the field, the value and the range', async () => {
    const agent = await makeAgent({ server, config: { serviceLog: { files: 500 } } });
    const r = await agent.run(['status']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/\/serviceLog\/files: 500 is not allowed; expected a whole number from 1 to 100/);
  });
});
