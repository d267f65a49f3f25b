// Configuration profiles for Jamf / macOS MDM: managed preferences (no secrets) and PPPC Full Disk Access,
// built by the jamf-profiles target and read back with xmllint and the plist parser.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'plist';
import { afterAll, describe, expect, it } from 'vitest';
import { loadFleet, parseFleet, resolveSecrets } from '../fleet/load.js';
import { nodeRuntime } from '../installers/runtimes.js';
import { jamfProfilesTarget } from '../deployer/targets/jamf-profiles.js';
import type { Artifact } from '../deployer/targets/target.js';
import { managedPreferences, pppcProfile, readSignature, settingsProfile } from '../installers/mac/profiles.js';
import { isSecret, PLIST_SETTINGS, SETTINGS, type SettingRow } from '../agent/settings.js';
import { agentConfigFromFleet } from '../fleet/agent-config.js';
import { deployBin, repoRoot } from './helpers/paths.js';

const work = mkdtempSync(join(tmpdir(), 'hf-jamf-profiles-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function xmllint(file: string): void {
  if (spawnSync('sh', ['-c', 'command -v xmllint']).status !== 0) throw new Error('xmllint missing: sudo apt-get install -y libxml2-utils');
  execFileSync('xmllint', ['--noout', '--nonet', file], { stdio: ['ignore', 'pipe', 'pipe'] });
}

const UUID = /^[0-9A-F]{8}-[0-9A-F]{4}-5[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/;
const SECRETS = { ACME_TECHNICIAN_ID: 'ACME-TECH-4242', ACME_PROXY_PASSWORD: 'hunter2-proxy' };

type Profile = {
  PayloadType: string;
  PayloadScope: string;
  PayloadUUID: string;
  PayloadIdentifier: string;
  PayloadDescription: string;
  PayloadContent: Array<Record<string, unknown> & { PayloadUUID: string; PayloadType: string }>;
};

async function makeAcme(outDir: string, progress: string[] = []): Promise<Artifact[]> {
  const loaded = await loadFleet(join(repoRoot, 'examples/fleets/acme.fleet.json'));
  return jamfProfilesTarget.make({
    loaded,
    secrets: resolveSecrets(loaded.fleet, SECRETS),
    outDir,
    cacheDir: join(work, 'cache'),
    previous: [],
    progress: (m) => progress.push(m),
  });
}

describe('jamf-profiles target (acme fleet)', () => {
  it('writes the settings and PPPC profiles and four EA scripts under stable names, without secrets', async () => {
    const progress: string[] = [];
    const artifacts = await makeAcme(join(work, 'a'), progress);
    expect(artifacts.map((a) => a.path.split('/').at(-1))).toEqual([
      'holdfast-acme-settings.mobileconfig',
      'holdfast-acme-pppc.mobileconfig',
      'holdfast-ea-agent-version.sh',
      'holdfast-ea-last-backup.sh',
      'holdfast-ea-health.sh',
      'holdfast-ea-skipped.sh',
    ]);
    for (const a of artifacts) {
      const text = readFileSync(a.path, 'utf8');
      expect(text).not.toContain(SECRETS.ACME_TECHNICIAN_ID);
      expect(text).not.toContain(SECRETS.ACME_PROXY_PASSWORD);
      expect(a.installCommands?.length).toBeGreaterThan(0);
    }
    expect(progress.join('\n')).not.toMatch(/ACME-TECH-4242|hunter2/);
  });

  it('the settings profile is a valid System profile with the fleet servers and proxy in the agent domain', async () => {
    const [settings] = await makeAcme(join(work, 'b'));
    xmllint(settings.path);
    const p = parse(readFileSync(settings.path, 'utf8')) as unknown as Profile;
    expect([p.PayloadType, p.PayloadScope]).toEqual(['Configuration', 'System']);
    expect(p.PayloadUUID).toMatch(UUID);
    const c = p.PayloadContent[0];
    expect(c.PayloadType).toBe('com.acme.backup');
    expect(c.PayloadUUID).toMatch(UUID);
    expect(c.PayloadUUID).not.toBe(p.PayloadUUID);
    // The payload's keys are exactly the settings table's plist keys (every one the acme fleet gives a value: all but
    // ScheduleDay, which a daily schedule has none of, UploadLimitKiBps, which acme leaves unset, AddressMap and the log's:
    // no mapped firewall, default log), with the agent.json values.
    const keys = Object.keys(c).filter((k) => !k.startsWith('Payload'));
    expect(keys.sort()).toEqual(
      PLIST_SETTINGS.map((s) => s.plistKey)
        .filter((k) => !['ScheduleDay', 'UploadLimitKiBps', 'AddressMap', 'LogMaxBytes', 'LogFiles'].includes(k))
        .sort(),
    );
    expect(Object.fromEntries(keys.map((k) => [k, c[k]]))).toEqual({
      RegistrationPrimary: '12.159.133.10:16384',
      RegistrationAlternate: '66.151.228.10:16384',
      ProxyType: 'socks5',
      ProxyHost: 'proxy.acme.example',
      ProxyPort: 1080,
      ProxyUsername: 'backup-agent',
      ScheduleFrequency: 'daily',
      ScheduleAt: '21:30',
      Exclusions: ['**/*.tmp', '**/Temporary Internet Files/**', '**/Library/Caches/**'],
    });
    expect(p.PayloadDescription).toMatch(/Technician ID and proxy password are deliberately not in this profile/);
  });

  it('secrets never go into the settings profile: no secret has a plist key, and a config holding both gives neither', async () => {
    for (const row of SETTINGS as readonly SettingRow[]) if (isSecret(row)) expect(row.plistKey, row.name).toBeUndefined();
    expect((SETTINGS as readonly SettingRow[]).filter(isSecret).map((s) => s.name)).toEqual(['technicianId', 'proxy.password']);
    const loaded = await loadFleet(join(repoRoot, 'examples/fleets/acme.fleet.json'));
    const config = await agentConfigFromFleet(loaded, resolveSecrets(loaded.fleet, SECRETS));
    expect([config.technicianId, config.proxy.password]).toEqual([SECRETS.ACME_TECHNICIAN_ID, SECRETS.ACME_PROXY_PASSWORD]);
    const xml = settingsProfile(loaded.fleet, config);
    expect(xml).not.toContain(SECRETS.ACME_TECHNICIAN_ID);
    expect(xml).not.toContain(SECRETS.ACME_PROXY_PASSWORD);
    expect(managedPreferences(config)).not.toHaveProperty('TechnicianId');
  });

  it('UUIDs are stable across runs and distinct between profiles and fleets', async () => {
    const one = await makeAcme(join(work, 'c1'));
    const two = await makeAcme(join(work, 'c2'));
    const uuids = (a: Artifact) => {
      const p = parse(readFileSync(a.path, 'utf8')) as unknown as Profile;
      return [p.PayloadUUID, ...p.PayloadContent.map((c) => c.PayloadUUID)];
    };
    expect(uuids(one[0])).toEqual(uuids(two[0]));
    expect(uuids(one[1])).toEqual(uuids(two[1]));
    const all = [...uuids(one[0]), ...uuids(one[1])];
    expect(new Set(all).size).toBe(all.length);
    const demo = await loadFleet(join(repoRoot, 'examples/fleets/demo.fleet.json'));
    const demoArtifacts = await jamfProfilesTarget.make({
      loaded: demo,
      secrets: {},
      outDir: join(work, 'c3'),
      cacheDir: join(work, 'cache'),
      previous: [],
      progress: () => {},
    });
    expect(uuids(demoArtifacts[0])).not.toContain(uuids(one[0])[0]);
  });

  it('PPPC grants SystemPolicyAllFiles to both runtimes with the Developer ID requirement of the official Node builds', async () => {
    const progress: string[] = [];
    const [, pppc] = await makeAcme(join(work, 'd'), progress);
    xmllint(pppc.path);
    const p = parse(readFileSync(pppc.path, 'utf8')) as unknown as Profile;
    const c = p.PayloadContent[0] as unknown as { PayloadType: string; Services: { SystemPolicyAllFiles: Array<Record<string, unknown>> } };
    expect(c.PayloadType).toBe('com.apple.TCC.configuration-profile-policy');
    const entries = c.Services.SystemPolicyAllFiles;
    expect(entries.map((e) => e.Identifier)).toEqual([
      '/Library/Application Support/Holdfast/runtime/arm64/node',
      '/Library/Application Support/Holdfast/runtime/x86_64/node',
    ]);
    const team = (await readSignature(await nodeRuntime('darwin-x64'))).teamId;
    expect(team).toMatch(/^[A-Z0-9]{10}$/);
    expect((await readSignature(await nodeRuntime('darwin-arm64'))).teamId).toBe(team);
    for (const e of entries) {
      expect(e).toMatchObject({ IdentifierType: 'path', Authorization: 'Allow', StaticCode: false });
      expect(e.CodeRequirement).toBe(
        `identifier "node" and anchor apple generic and certificate 1[field.1.2.840.113635.100.6.2.6] /* exists */ and certificate leaf[field.1.2.840.113635.100.6.1.13] /* exists */ and certificate leaf[subject.OU] = ${team}`,
      );
    }
    expect(progress.join('\n')).not.toMatch(/warning/i);
  });

  it('unsigned runtimes get a clear warning; a fleet code requirement is used verbatim', async () => {
    const fake = join(work, 'unsigned-node');
    writeFileSync(fake, Buffer.alloc(4096, 1));
    const demo = JSON.parse(readFileSync(join(repoRoot, 'examples/fleets/demo.fleet.json'), 'utf8'));
    const fleet = parseFleet(JSON.stringify(demo));
    const r = await pppcProfile(fleet, { x86_64: fake, arm64: fake });
    expect(r.warnings.join('\n')).toMatch(/Full Disk Access needs a signed binary/);
    const own = 'identifier "com.example.node" and anchor apple generic and certificate leaf[subject.OU] = ABCDE12345';
    const signedFleet = parseFleet(JSON.stringify({ ...demo, signing: { macos: { codeRequirement: own } } }));
    const r2 = await pppcProfile(signedFleet, { x86_64: fake, arm64: fake });
    expect(r2.warnings).toEqual([]);
    expect(r2.codeRequirement).toBe(own);
    const parsed = parse(r2.xml) as unknown as { PayloadContent: Array<{ Services: { SystemPolicyAllFiles: Array<{ CodeRequirement: string }> } }> };
    expect(parsed.PayloadContent[0].Services.SystemPolicyAllFiles.map((e) => e.CodeRequirement)).toEqual([own, own]);
  });
});

describe('holdfast-deploy generate --target jamf-profiles', () => {
  it('writes the six artifacts into the manifest', () => {
    const out = join(work, 'cli');
    const r = spawnSync(
      process.execPath,
      [deployBin, 'generate', join(repoRoot, 'examples/fleets/acme.fleet.json'), '--out', out, '--target', 'jamf-profiles', '--cache', join(work, 'cache')],
      {
        encoding: 'utf8',
        env: { ...process.env, ...SECRETS },
      },
    );
    expect(r.status, r.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(r.stdout.trim().split('\n')[0], 'utf8')) as { artifacts: Array<{ path: string; target: string }> };
    expect(manifest.artifacts.filter((a) => a.target === 'jamf-profiles').length).toBe(6);
    expect(r.stdout + r.stderr).not.toMatch(/ACME-TECH-4242|hunter2/);
  });
});
