// macOS managed preferences (agent/managed-prefs.ts) and the one settings table (agent/settings.ts): an XML and a
// binary plist in a fake "/Library/Managed Preferences" (HOLDFAST_MANAGED_PREFS_DIR) win over agent.json as GPO does
// on Windows; the running service picks up a changed plist at its next cycle without a restart; configure, the MSI
// properties and the ADMX take their names from the table. Binary plists are written with bplist-creator (an
// independent writer, npm devDependency); bplist-parser reads them in the agent. XML plists come from `plist.build`.
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bplistCreator from 'bplist-creator';
import { build, parse } from 'plist';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { withPolicyOverrides } from '../agent/config.js';
import type { AgentConfig } from '../agent/config-types.js';
import { CONFIGURABLE_SETTINGS } from '../agent/configure.js';
import { MANAGED_PREFS_DIR, managedPrefsDir, parsePlist, readManagedPrefsOverrides } from '../agent/managed-prefs.js';
import { POLICY_EXCLUSIONS_KEY, POLICY_VALUES, readPolicyOverrides } from '../agent/policy.js';
import { getPath, INSTALL_SETTINGS, isSecret, PLIST_SETTINGS, POLICY_SETTINGS, SETTINGS, type SettingRow, settingSchema } from '../agent/settings.js';
import { renderGpoFiles } from '../deployer/targets/gpo.js';
import { agentConfigFromFleet } from '../fleet/agent-config.js';
import { loadFleet, parseFleet } from '../fleet/load.js';
import { settingsProfile } from '../installers/mac/profiles.js';
import { HIDDEN_PROPERTIES, PROPERTY_SETTINGS, PUBLIC_PROPERTIES } from '../installers/win/properties.js';
import { makeAgent } from './helpers/agent.js';
import { repoRoot } from './helpers/paths.js';
import { policyTestConfig } from './helpers/policy-config.js';
import { makeSampleTree } from './helpers/sample.js';
import { tempDir, TEST_TECHNICIAN_ID, useTestServer } from './helpers/server.js';

const DOMAIN = 'com.acme.backup';
const work = mkdtempSync(join(tmpdir(), 'hf-managed-prefs-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const fileConfig = policyTestConfig;

/** What an admin's profile sets (Jamf "Application & Custom Settings" or the generated mobileconfig). */
const prefs = {
  ProxyType: 'http',
  ProxyHost: 'gw.acme.example',
  ProxyPort: 3128,
  ScheduleFrequency: 'weekly',
  ScheduleAt: '03:15',
  ScheduleDay: 'sun',
  Exclusions: ['**/*.iso', '/Users/*/Movies'],
  // Not a table key for plists (a secret): must be ignored, never taken from a world-readable profile.
  TechnicianId: 'PLIST-TECH-9999',
};

/** A fake managed-preferences folder holding `<domain>.plist` as XML or binary. */
function prefsFolder(kind: 'xml' | 'binary', values: Record<string, unknown>): string {
  const dir = mkdtempSync(join(work, `${kind}-`));
  writePrefs(dir, kind, values);
  return dir;
}

/** Writes the plist atomically (as an MDM agent replaces it), so a reader never sees half a file. */
function writePrefs(dir: string, kind: 'xml' | 'binary', values: Record<string, unknown>): void {
  const file = join(dir, `${DOMAIN}.plist`);
  const data = kind === 'xml' ? build(values as Parameters<typeof build>[0]) : bplistCreator(values);
  writeFileSync(`${file}.tmp`, data);
  renameSync(`${file}.tmp`, file);
}

describe('managed preferences reader', () => {
  for (const kind of ['xml', 'binary'] as const) {
    it(`a ${kind} plist wins over agent.json field by field; the secret key is ignored`, async () => {
      const dir = prefsFolder(kind, prefs);
      const head = readFileSync(join(dir, `${DOMAIN}.plist`))
        .subarray(0, 8)
        .toString('latin1');
      expect(kind === 'binary' ? head : head.slice(0, 5)).toBe(kind === 'binary' ? 'bplist00' : '<?xml');
      const env = { HOLDFAST_MANAGED_PREFS_DIR: dir };
      // Same entry point the agent's config loader uses, on Linux here (the folder is given) and as on a Mac.
      const overrides = await readPolicyOverrides(fileConfig, 'linux', env);
      expect(await readPolicyOverrides(fileConfig, 'darwin', env)).toEqual(overrides);
      const effective = withPolicyOverrides(fileConfig, overrides, 'agent.json');
      expect(effective.proxy).toEqual({ type: 'http', host: 'gw.acme.example', port: 3128, username: 'file-user', password: 'file-pass' });
      expect(effective.backup.schedule).toEqual({ frequency: 'weekly', at: '03:15', day: 'sun' });
      expect(effective.backup.exclude).toEqual(['**/*.iso', '/Users/*/Movies']);
      // What no preference sets stays as the file has it; the Technician ID is never read from a profile.
      expect(effective.technicianId).toBe('FILE-TECH-0001');
      expect(effective.registration).toEqual(fileConfig.registration);
      expect(effective.backup.protectedPaths).toEqual(['~/Finance']);
    });
  }

  it('the generated mobileconfig, delivered as macOS does, gives the agent exactly the fleet values (weekly fleet: every key)', async () => {
    const doc = JSON.parse(readFileSync(join(repoRoot, 'examples/fleets/acme.fleet.json'), 'utf8'));
    doc.backup.schedule = { frequency: 'weekly', at: '04:45', day: 'sat' };
    doc.backup.uploadLimitKiBps = 2048;
    doc.addressMap = { [doc.registration.primary]: '192.168.1.1:20001' };
    doc.serviceLog = { maxBytes: 2097152, files: 3 };
    const loaded = { ...(await loadFleet(join(repoRoot, 'examples/fleets/acme.fleet.json'))), fleet: parseFleet(JSON.stringify(doc)) };
    const fleetConfig = await agentConfigFromFleet(loaded, {});
    const profile = parse(settingsProfile(loaded.fleet, fleetConfig)) as { PayloadContent: Array<Record<string, unknown>> };
    // The MDM client writes the payload's settings (not the Payload* keys) to <domain>.plist.
    const payload = Object.fromEntries(Object.entries(profile.PayloadContent[0]).filter(([k]) => !k.startsWith('Payload')));
    expect(Object.keys(payload).sort()).toEqual(PLIST_SETTINGS.map((r) => r.plistKey).sort());
    const dir = prefsFolder('binary', payload);
    // An agent whose agent.json differs in every managed field ends up with the fleet's values.
    const other: AgentConfig = {
      ...fileConfig,
      registration: { primary: '10.1.1.1:16384', alternate: '10.1.1.2:16384' },
      proxy: { type: 'http', host: '10.9.9.9', port: 3128, username: 'file-user', password: 'file-pass' },
    };
    for (const row of PLIST_SETTINGS) expect(getPath(other, row.name), row.name).not.toEqual(getPath(fleetConfig, row.name));
    const overrides = await readManagedPrefsOverrides(other, 'linux', { HOLDFAST_MANAGED_PREFS_DIR: dir });
    const effective = withPolicyOverrides(other, overrides, 'agent.json');
    for (const row of PLIST_SETTINGS) expect(getPath(effective, row.name), row.name).toEqual(getPath(fleetConfig, row.name));
    expect(effective.proxy.password).toBe('file-pass');
  });

  it('the real agent CLI shows the managed proxy over agent.json (status --json)', async () => {
    const agent = await makeAgent({
      registration: { primary: '127.0.0.1:9', alternate: '127.0.0.1:9' },
      tlsPin: fileConfig.tlsPin,
      config: { proxy: { type: 'none' }, policy: fileConfig.policy },
    });
    const before = await agent.status();
    expect(before.proxy).toBe('none');
    const dir = prefsFolder('binary', { ProxyType: 'socks5', ProxyHost: '127.0.0.1', ProxyPort: 1080 });
    const r = await agent.run(['status', '--json'], { env: { HOLDFAST_MANAGED_PREFS_DIR: dir } });
    expect(r.code, r.output).toBe(0);
    expect(JSON.parse(r.stdout).proxy).toBe('socks5 127.0.0.1:1080');
  });

  it('proxy type none drops the file proxy; no file, no domain or no folder means no overrides', async () => {
    const none = prefsFolder('xml', { ProxyType: 'None' });
    expect(await readManagedPrefsOverrides(fileConfig, 'linux', { HOLDFAST_MANAGED_PREFS_DIR: none })).toEqual({ proxy: { type: 'none' } });
    const empty = mkdtempSync(join(work, 'empty-'));
    expect(await readManagedPrefsOverrides(fileConfig, 'linux', { HOLDFAST_MANAGED_PREFS_DIR: empty })).toEqual({});
    const noDomain = { ...fileConfig, policy: { vendor: 'ACME IT', product: 'ACME Backup' } };
    expect(await readManagedPrefsOverrides(noDomain, 'linux', { HOLDFAST_MANAGED_PREFS_DIR: none })).toEqual({});
    expect(await readManagedPrefsOverrides(fileConfig, 'linux', {})).toEqual({});
    expect(managedPrefsDir('darwin', {})).toBe(MANAGED_PREFS_DIR);
    expect(MANAGED_PREFS_DIR).toBe('/Library/Managed Preferences');
  });

  it('bad values are refused naming the key, the file, the value and what is allowed', async () => {
    const bad = async (values: Record<string, unknown>) => {
      const dir = prefsFolder('binary', values);
      return readManagedPrefsOverrides(fileConfig, 'linux', { HOLDFAST_MANAGED_PREFS_DIR: dir }).then(
        () => 'accepted',
        (e: Error) => e.message,
      );
    };
    expect(await bad({ ProxyType: 'ftp' })).toMatch(
      /managed preference \(.*com\.acme\.backup\.plist\) ProxyType: "ftp" is not allowed; expected one of none, socks4/,
    );
    expect(await bad({ ProxyPort: 70000 })).toMatch(/ProxyPort: "70000" is not allowed; expected an integer from 1 to 65535/);
    expect(await bad({ ScheduleAt: '25:99' })).toMatch(/ScheduleAt: "25:99" is not allowed; expected HH:MM/);
    expect(await bad({ RegistrationPrimary: 'backup.acme.example:16384' })).toMatch(/RegistrationPrimary: .* is not allowed; expected IPv4:port/);
    expect(await bad({ Exclusions: 'not-a-list' })).toMatch(/Exclusions: "not-a-list" is not allowed; expected a list of strings/);
    const garbage = mkdtempSync(join(work, 'garbage-'));
    writeFileSync(join(garbage, `${DOMAIN}.plist`), 'bplist00 truncated');
    await expect(readManagedPrefsOverrides(fileConfig, 'linux', { HOLDFAST_MANAGED_PREFS_DIR: garbage })).rejects.toThrow(/not a valid property list/);
    expect(() => parsePlist(Buffer.from(build(['a']) as string), 'x.plist')).toThrow(/top level is not a dictionary/);
  });
});

describe('the settings table drives every face', () => {
  it('each row names a real agent.json field and a schema node; secrets have no plist key', () => {
    const schema = JSON.parse(readFileSync(join(repoRoot, 'agent/agent-config.schema.json'), 'utf8'));
    for (const row of SETTINGS as readonly SettingRow[]) {
      // Walk agent.json's schema along the setting's path; the field's schema is the table's.
      const deref = (n: { $ref?: string }) => (n.$ref ? schema.definitions[n.$ref.replace('#/definitions/', '')] : n);
      let node = schema;
      for (const key of row.name.split('.')) {
        node = deref(node).properties?.[key];
        expect(node, row.name).toBeDefined();
      }
      expect(node.$ref, row.name).toBe(row.schema);
      expect(settingSchema(row), row.name).toBeTypeOf('object');
      if (isSecret(row)) expect(row.plistKey, row.name).toBeUndefined();
    }
    const names = (rows: readonly SettingRow[]) => rows.map((r) => r.name);
    expect(names(SETTINGS.filter(isSecret))).toEqual(['technicianId', 'proxy.password']);
    expect(new Set(names(SETTINGS)).size).toBe(SETTINGS.length);
    expect(names(PLIST_SETTINGS)).toEqual(names(POLICY_SETTINGS).filter((n) => n !== 'technicianId'));
  });

  it('configure, the MSI properties and the hidden properties come from the table', () => {
    expect(CONFIGURABLE_SETTINGS).toEqual(INSTALL_SETTINGS.map((s) => s.name));
    expect([...PUBLIC_PROPERTIES]).toEqual([
      'TECHNICIANID',
      'REGPRIMARY',
      'REGALTERNATE',
      'PROXYTYPE',
      'PROXYHOST',
      'PROXYPORT',
      'PROXYUSER',
      'PROXYPASSWORD',
      'KEEPLAST',
      'KEEPDAILY',
      'KEEPWEEKLY',
      'KEEPMONTHLY',
    ]);
    for (const s of INSTALL_SETTINGS) expect(PROPERTY_SETTINGS[s.msiProperty]).toBe(s.name);
    expect([...HIDDEN_PROPERTIES]).toEqual(['TECHNICIANID', 'PROXYPASSWORD', 'HF_Configure']);
  });

  it('the ADMX value names and the exclusions subkey are the table policy names', async () => {
    const { fleet } = await loadFleet(join(repoRoot, 'examples/fleets/acme.fleet.json'));
    const admx = Object.entries(renderGpoFiles(fleet)).find(([n]) => n.endsWith('.admx'))![1];
    const valueNames = [...admx.matchAll(/valueName="([^"]+)"/g)].map((m) => m[1]).sort();
    const table = POLICY_SETTINGS.filter((s) => !('list' in s) && !('map' in s)).map((s) => s.policyValue);
    expect(valueNames).toEqual([...table].sort());
    expect(Object.values(POLICY_VALUES).sort()).toEqual([...table].sort());
    expect(POLICY_EXCLUSIONS_KEY).toBe('Exclusions');
    expect(admx).toContain(`ACME Backup\\Exclusions"`);
  });
});

describe('the service re-reads managed preferences every cycle', () => {
  const server = useTestServer();
  let sample: string;
  beforeAll(async () => {
    sample = join(await tempDir('holdfast-prefs-sample-'), 'home');
    await makeSampleTree(sample, 3, 20_000);
  });

  it('a plist written while the service runs changes its schedule at the next cycle, without a restart', async () => {
    const dir = mkdtempSync(join(work, 'live-'));
    const agent = await makeAgent({
      server,
      config: {
        backup: { include: [sample], exclude: [], protectedPaths: [], schedule: { frequency: 'manual', at: '02:00' } },
        policy: fileConfig.policy,
      },
    });
    const svc = agent.spawn(['service', '--reload', '1', '--check-in', '1'], { env: { HOLDFAST_MANAGED_PREFS_DIR: dir } });
    try {
      await svc.waitForOutput(/service started \(config .*schedule manual\)/, 30_000);
      await svc.waitForOutput(/checked in with /, 60_000);
      expect(svc.output()).not.toMatch(/backup started/);
      // The MDM drops a binary plist: daily at 00:00, never backed up -> due at once.
      writePrefs(dir, 'binary', { ScheduleFrequency: 'daily', ScheduleAt: '00:00' });
      await svc.waitForOutput(/settings changed: backup\.schedule\.at, backup\.schedule\.frequency; schedule daily at 00:00/, 30_000);
      await svc.waitForOutput(/backup complete: snapshot \S+/, 60_000);
      expect(typeof (await agent.status()).lastSuccessfulBackup).toBe('string');
      // A bad value is reported and the current settings stay; the service keeps running.
      writePrefs(dir, 'xml', { ScheduleFrequency: 'daily', ScheduleAt: '00:00', ProxyPort: 0 });
      await svc.waitForOutput(/settings not reloaded, keeping the current ones: .*ProxyPort: "0" is not allowed/, 30_000);
      // Two more cycles (a check-in each, --check-in 1) with the bad file in place: the problem is logged once.
      await svc.waitForOutput(/settings not reloaded[^\n]*\n[\s\S]*checked in with [\s\S]*checked in with /, 30_000);
      writePrefs(dir, 'xml', { ScheduleFrequency: 'daily', ScheduleAt: '00:01' });
      await svc.waitForOutput(/settings changed: backup\.schedule\.at; schedule daily at 00:01/, 30_000);
      expect(svc.output().match(/settings not reloaded/g)).toHaveLength(1);
      expect(svc.child.exitCode).toBeNull();
    } finally {
      await svc.stop();
    }
    expect((await svc.exited).code).toBe(0);
    expect(svc.output()).not.toContain(TEST_TECHNICIAN_ID);
  });
});
