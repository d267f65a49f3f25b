// The mapped-firewall address map (issue 14, point 5) set by policy and shown by status: it is a row of the one
// settings table, so group policy (an ADMX explicitValue list: value name = server, data = firewall) and macOS managed
// preferences (an AddressMap dictionary) set it; bad entries are refused naming the key, the entry and what is
// allowed. `status` (text and --json) shows the map and which address each server is dialled at, and the real agent
// registers with a test server reachable only through the address a managed-preferences map names.
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bplistCreator from 'bplist-creator';
import { parse } from 'plist';
import { describe, expect, it } from 'vitest';

import { withPolicyOverrides } from '../agent/config.js';
import { readManagedPrefsOverrides } from '../agent/managed-prefs.js';
import { parseRegQuery, policyOverrides, POLICY_ADDRESS_MAP_KEY } from '../agent/policy.js';
import { renderGpoFiles } from '../deployer/targets/gpo.js';
import { agentConfigFromFleet } from '../fleet/agent-config.js';
import { loadFleet, parseFleet } from '../fleet/load.js';
import { settingsProfile } from '../installers/mac/profiles.js';
import { makeAgent } from './helpers/agent.js';
import { repoRoot } from './helpers/paths.js';
import { policyTestConfig } from './helpers/policy-config.js';
import { tempDir, useTestServer } from './helpers/server.js';

const config = { ...policyTestConfig, addressMap: { '12.159.133.10:16384': '10.9.9.9:1' } };
const DOMAIN = policyTestConfig.policy!.domain!;

const regMap = (lines: string[]) => parseRegQuery(['', 'HKEY_LOCAL_MACHINE\\Software\\Policies\\ACME IT\\ACME Backup\\AddressMap', ...lines, ''].join('\r\n'));

async function prefsDir(values: Record<string, unknown>): Promise<string> {
  const dir = await tempDir('hf-addrmap-prefs-');
  writeFileSync(join(dir, 'tmp.plist'), bplistCreator(values));
  renameSync(join(dir, 'tmp.plist'), join(dir, `${DOMAIN}.plist`));
  return dir;
}

const refused = (f: () => unknown) => {
  try {
    f();
    return 'accepted';
  } catch (err) {
    return (err as Error).message;
  }
};

describe('the address map by group policy', () => {
  it('an AddressMap subkey (value name = server, data = firewall) replaces the map of agent.json', () => {
    const tree = regMap(['    12.159.133.10:16384    REG_SZ    192.168.1.1:20001', '    66.151.228.10:16384    REG_SZ    192.168.1.1:20002']);
    const overrides = policyOverrides(tree, config);
    expect(overrides).toEqual({ addressMap: { '12.159.133.10:16384': '192.168.1.1:20001', '66.151.228.10:16384': '192.168.1.1:20002' } });
    expect(withPolicyOverrides(config, overrides, 'agent.json').addressMap).toEqual(overrides.addressMap);
    expect(POLICY_ADDRESS_MAP_KEY).toBe('AddressMap');
  });

  it('a bad entry is refused naming the policy value, the entry and what is allowed', () => {
    expect(refused(() => policyOverrides(regMap(['    backup.acme.example:16384    REG_SZ    192.168.1.1:20001']), config))).toMatch(
      /policy value AddressMap: name "backup.acme.example:16384" is not allowed; expected IPv4:port or \[IPv6\]:port/,
    );
    expect(refused(() => policyOverrides(regMap(['    12.159.133.10:16384    REG_SZ    192.168.1.1']), config))).toMatch(
      /policy value AddressMap: value of "12.159.133.10:16384": "192.168.1.1" is not allowed; expected IPv4:port/,
    );
  });

  it('the ADMX has the explicitValue list under the AddressMap subkey, and the ADML its texts', async () => {
    const { fleet } = await loadFleet(join(repoRoot, 'examples/fleets/acme.fleet.json'));
    const files = renderGpoFiles(fleet);
    const admx = Object.entries(files).find(([n]) => n.endsWith('.admx'))![1];
    const adml = Object.entries(files).find(([n]) => n.endsWith('.adml'))![1];
    expect(admx).toContain('<list id="AddressMapList" key="Software\\Policies\\ACME IT\\ACME Backup\\AddressMap" explicitValue="true" />');
    expect(adml).toContain('<listBox refId="AddressMapList">');
    expect(adml).toMatch(/<string id="AddressMap_Help">[^<]*firewall address/);
  });
});

describe('the address map by managed preferences (Jamf)', () => {
  it('an AddressMap dictionary replaces the map of agent.json; a bad one is refused naming the key', async () => {
    const dir = await prefsDir({ AddressMap: { '12.159.133.10:16384': '192.168.1.1:20001' } });
    expect(await readManagedPrefsOverrides(config, 'linux', { HOLDFAST_MANAGED_PREFS_DIR: dir })).toEqual({
      addressMap: { '12.159.133.10:16384': '192.168.1.1:20001' },
    });
    const bad = async (values: Record<string, unknown>) =>
      readManagedPrefsOverrides(config, 'linux', { HOLDFAST_MANAGED_PREFS_DIR: await prefsDir(values) }).then(
        () => 'accepted',
        (e: Error) => e.message,
      );
    expect(await bad({ AddressMap: ['12.159.133.10:16384'] })).toMatch(/AddressMap: .* is not allowed; expected a map \(name → value\)/);
    expect(await bad({ AddressMap: { '12.159.133.10:16384': 20001 } })).toMatch(/AddressMap: .* is not allowed; expected a map/);
    expect(await bad({ AddressMap: { '12.159.133.10:16384': 'firewall.acme.example:20001' } })).toMatch(
      /AddressMap: value of "12.159.133.10:16384": "firewall.acme.example:20001" is not allowed; expected IPv4:port/,
    );
  });

  it("the generated mobileconfig carries the fleet's map as a dictionary", async () => {
    const doc = JSON.parse(readFileSync(join(repoRoot, 'examples/fleets/acme.fleet.json'), 'utf8'));
    doc.addressMap = { [doc.registration.primary]: '192.168.1.1:20001' };
    const loaded = { ...(await loadFleet(join(repoRoot, 'examples/fleets/acme.fleet.json'))), fleet: parseFleet(JSON.stringify(doc)) };
    const profile = parse(settingsProfile(loaded.fleet, await agentConfigFromFleet(loaded, {}))) as { PayloadContent: Array<Record<string, unknown>> };
    expect(profile.PayloadContent[0].AddressMap).toEqual(doc.addressMap);
  });
});

describe('status shows the map and the address it dials', () => {
  const server = useTestServer();

  it('a managed-preferences map takes the agent to the server through the mapped address; status (text, --json) says so', async () => {
    const [host, port] = server.addresses[0].split(':');
    // The registration pair names an address nobody listens on; the policy maps it to the server's real address.
    const closed = `${host}:1`;
    const agent = await makeAgent({
      server,
      registration: { primary: closed, alternate: closed },
      config: { policy: policyTestConfig.policy, addressMap: { [closed]: '127.0.0.1:2' } },
    });
    const env = { HOLDFAST_MANAGED_PREFS_DIR: await prefsDir({ AddressMap: { [closed]: `${host}:${port}` } }) };
    const status = async () => {
      const r = await agent.run(['status', '--json'], { env });
      expect(r.code, r.output).toBe(0);
      return JSON.parse(r.stdout) as { addressMap: Record<string, string>; dials: Array<{ role: string; server: string; dials: string }> };
    };
    const before = await status();
    expect(before.addressMap).toEqual({ [closed]: server.addresses[0] });
    expect(before.dials).toEqual([
      { role: 'registration primary', server: closed, dials: server.addresses[0] },
      { role: 'registration alternate', server: closed, dials: server.addresses[0] },
    ]);
    // Without the policy the file's map rules, and registering fails: the address it names answers nothing.
    const direct = await agent.run(['register', '--json'], { env: { HOLDFAST_MANAGED_PREFS_DIR: mkdtempSync(join(agent.dir, 'none-')) } });
    expect(direct.code).not.toBe(0);
    const reg = await agent.run(['register', '--json'], { env });
    expect(reg.code, reg.output).toBe(0);
    const after = await status();
    expect(after.dials.map((d) => d.role)).toEqual(['registration primary', 'registration alternate', 'assigned primary', 'assigned alternate']);
    // The test server assigns its own addresses, which the map does not name: dialled directly.
    expect(after.dials[2].dials).toBe(after.dials[2].server);
    const text = await agent.run(['status'], { env });
    expect(text.code, text.output).toBe(0);
    expect(text.stdout).toContain(`address map:   1 entry (mapped firewall: server -> firewall)\n  ${closed} -> ${server.addresses[0]}`);
    expect(text.stdout).toContain(`  dials:       registration primary ${closed} via ${server.addresses[0]}`);
    expect(text.stdout).toMatch(/dials: {7}assigned primary \S+ directly \(not in the map\)/);
  });

  it('without a map status says the servers are dialled directly', async () => {
    const agent = await makeAgent({ server });
    const r = await agent.run(['status']);
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toContain('address map:   none (servers are dialled directly)');
    expect((await agent.status()).addressMap).toBeNull();
  });
});
