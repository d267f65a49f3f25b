// The fleet MSI end to end under Wine: tables checked with msiinfo, silent install with overriding properties,
// files/registry/service/config checked, the installed node.exe registers with the Linux test server,
// upgrade keeps the first install's settings, downgrade is refused, uninstall is clean, reinstall is the same device.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFleets } from '../deployer/generate.js';
import { exportTable, formattedLiteral } from '../installers/win/msi-tables.js';
import { HIDDEN_PROPERTIES, PUBLIC_PROPERTIES } from '../installers/win/index.js';
import { repoRoot } from './helpers/paths.js';
import { tempDir, TEST_TECHNICIAN_ID, useTestServer } from './helpers/server.js';
import { createWinePrefix, wineExitCode, type WinePrefix } from './helpers/wine.js';

const HOSTILE_CUSTOMER = `Q"uote's <b>&amp; ]]> $(rm -rf /) \`tick\` [ProductName] {x} %TEMP% ünï`;
const VENDOR = 'Holdfast Test & Co';
const PRODUCT = 'Holdfast QA (Wine)';
const SERVICE = 'HoldfastQAWine';
const PROXY_SECRET = 'pw-Wine-7c1e-SECRET';

const server = useTestServer();
let wine: WinePrefix;
let winePromise: Promise<WinePrefix> | undefined;
let work: string;
const msi: Record<'v1' | 'v2' | 'v2rebuilt', string> = { v1: '', v2: '', v2rebuilt: '' };
const upgradeCode = randomUUID().toUpperCase();

const keyPath = `HKEY_LOCAL_MACHINE\\SOFTWARE\\${VENDOR}\\${PRODUCT}`;
const installDirWin = `C:\\Program Files\\${VENDOR}\\${PRODUCT}`;
const installDir = () => wine.fromWindows(installDirWin);
const dataDir = () => wine.fromWindows(`C:\\ProgramData\\${VENDOR}\\${PRODUCT}`);
const agentJson = async () => JSON.parse(await readFile(join(dataDir(), 'agent.json'), 'utf8'));

async function fleetFile(version: string, exclude: string[]): Promise<string> {
  const demo = JSON.parse(await readFile(join(repoRoot, 'examples/fleets/demo.fleet.json'), 'utf8'));
  const dir = join(work, `fleet-${version}`);
  await mkdir(dir, { recursive: true });
  const fleet = {
    ...demo,
    $schema: undefined,
    fleet: 'wineqa',
    customer: HOSTILE_CUSTOMER,
    version,
    technicianId: 'FLEET-DEFAULT-0001',
    // Nothing listens here: registration succeeds only if REGPRIMARY/REGALTERNATE override these.
    registration: { primary: '127.0.0.1:1', alternate: '127.0.0.1:2' },
    tlsPin: server.pin,
    backup: { ...demo.backup, exclude },
    branding: { vendor: VENDOR, product: PRODUCT, upgradeCode },
    identity: { keepOnUninstall: true },
  };
  const file = join(dir, 'wineqa.fleet.json');
  await writeFile(file, JSON.stringify(fleet, null, 2));
  return file;
}

async function uninstallEntries(): Promise<string[]> {
  const root = 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall';
  const names: string[] = [];
  for (const sub of await wine.regSubkeys(root)) {
    const v = await wine.regValues(`${root}\\${sub}`);
    if (v?.DisplayName === PRODUCT) names.push(`${sub} ${v.DisplayVersion}`);
  }
  return names;
}

beforeAll(async () => {
  work = await tempDir('holdfast-msi-wine-');
  // The prefix starts while the MSIs build.
  winePromise = createWinePrefix();
  winePromise.catch(() => {}); // awaited below; this only keeps an early failure from being "unhandled"
  for (const [name, version, exclude] of [
    ['v1', '1.0.0', ['**/*.tmp']],
    ['v2', '1.1.0', ['**/*.tmp', '**/*.bak']],
  ] as const) {
    const result = await generateFleets([await fleetFile(version, [...exclude])], { outDir: join(work, `out-${name}`), targets: ['msi'] });
    msi[name] = join(result.fleets[0].outDir, 'holdfast-wineqa.msi');
  }
  // The same fleet and version built again: a new ProductCode, as every build gets.
  const rebuilt = await generateFleets([join(work, 'fleet-1.1.0', 'wineqa.fleet.json')], { outDir: join(work, 'out-v2rebuilt'), targets: ['msi'] });
  msi.v2rebuilt = join(rebuilt.fleets[0].outDir, 'holdfast-wineqa.msi');
  wine = await winePromise;
}, 600_000);

afterAll(async () => {
  // Even when beforeAll failed half-way, the prefix (and its wineserver) must not outlive the run.
  const prefix = wine ?? (await winePromise?.catch(() => undefined));
  await prefix?.close();
  if (work) await rm(work, { recursive: true, force: true });
}, 120_000);

describe('fleet MSI under Wine', () => {
  it('carries the fleet in its tables: secure and hidden properties, upgrade rules, service, escaped values', async () => {
    const prop = Object.fromEntries((await exportTable(msi.v1, 'Property')).rows.map((r) => [r[0], r[1]]));
    expect(prop.ProductName).toBe(PRODUCT);
    expect(prop.Manufacturer).toBe(VENDOR);
    expect(prop.ProductVersion).toBe('1.0.0');
    expect(prop.UpgradeCode).toBe(`{${upgradeCode}}`);
    expect(prop.SecureCustomProperties.split(';')).toEqual(expect.arrayContaining([...PUBLIC_PROPERTIES]));
    expect(prop.MsiHiddenProperties.split(';').sort()).toEqual([...HIDDEN_PROPERTIES].sort());
    for (const p of PUBLIC_PROPERTIES) expect(prop[p]).toBeUndefined();

    const upgrade = (await exportTable(msi.v1, 'Upgrade')).rows;
    expect(upgrade).toContainEqual([`{${upgradeCode}}`, '0.0.0', '1.0.0', '', '769', '', 'HF_OLDER_FOUND']);
    expect(upgrade).toContainEqual([`{${upgradeCode}}`, '1.0.0', '', '', '2', '', 'HF_NEWER_FOUND']);

    const service = (await exportTable(msi.v1, 'ServiceInstall')).rows[0];
    expect(service.slice(1, 5)).toEqual([SERVICE, PRODUCT, '16', '2']); // own process, auto start
    expect(service[8]).toBe('LocalSystem');

    const registry = (await exportTable(msi.v1, 'Registry')).rows;
    expect(registry.find((r) => r[3] === 'Customer')?.[4]).toBe(formattedLiteral(HOSTILE_CUSTOMER));
    const actions = (await exportTable(msi.v1, 'CustomAction')).rows;
    expect(Number(actions.find((r) => r[0] === 'HF_Configure')![1]) & 0x2000).toBe(0x2000);
    expect(msi.v1).not.toBe(msi.v2);
  });

  it('a bad property value fails the install, rolls it back and says why in configure.log', async () => {
    const r = await wine.msiexec([
      '/i',
      wine.toWindows(msi.v1),
      '/qn',
      '/norestart',
      `TECHNICIANID=${TEST_TECHNICIAN_ID}`,
      'REGPRIMARY=backup.example.com:16384',
    ]);
    // Windows reports a failed custom action as 1603; Wine 8 as 1627 (ERROR_FUNCTION_FAILED).
    expect([wineExitCode(1603), wineExitCode(1627)]).toContain(r.code);
    expect(existsSync(join(installDir(), 'node.exe'))).toBe(false);
    expect(await wine.serviceState(SERVICE)).toBeUndefined();
    expect(await uninstallEntries()).toEqual([]);
    const log = await readFile(join(dataDir(), 'configure.log'), 'utf8');
    expect(log).toMatch(/install failed: .*\n.*\/registration\/primary: "backup\.example\.com:16384" is not allowed/);
    expect(log).not.toContain(TEST_TECHNICIAN_ID);
  }, 240_000);

  it('installs silently with overriding properties: files, registry, running service, config', async () => {
    const [primary, alternate] = server.addresses;
    const r = await wine.msiexec([
      '/i',
      wine.toWindows(msi.v1),
      '/qn',
      '/norestart',
      `TECHNICIANID=${TEST_TECHNICIAN_ID}`,
      `REGPRIMARY=${primary}`,
      `REGALTERNATE=${alternate}`,
      `PROXYPASSWORD=${PROXY_SECRET}`,
    ]);
    expect(r.code, r.output + r.log.slice(-3000)).toBe(0);
    for (const f of ['node.exe', 'holdfast-agent.mjs', 'holdfast-service.exe', 'fleet-defaults.json']) expect(existsSync(join(installDir(), f)), f).toBe(true);

    const reg = await wine.regValues(keyPath);
    expect(reg).toMatchObject({ Fleet: 'wineqa', Version: '1.0.0', ServiceName: SERVICE, Customer: HOSTILE_CUSTOMER });
    expect(reg!.ConfigFile).toBe(`C:\\ProgramData\\${VENDOR}\\${PRODUCT}\\agent.json`);

    const svc = await wine.regValues(`HKEY_LOCAL_MACHINE\\System\\CurrentControlSet\\Services\\${SERVICE}`);
    expect(svc).toMatchObject({ ObjectName: 'LocalSystem', Start: 'dword:00000002', DisplayName: PRODUCT });
    expect(svc!.ImagePath).toContain('holdfast-service.exe');
    expect(svc!.ImagePath).toContain(' service --config ');
    expect(await wine.serviceState(SERVICE)).toBe('RUNNING');
    // The wrapper started the agent under the service (node.exe + bundle + --config).
    expect(await readFile(join(dataDir(), 'agent.log'), 'utf8')).toContain('[holdfast-service] agent process started');

    const config = await agentJson();
    expect(config.technicianId).toBe(TEST_TECHNICIAN_ID);
    expect(config.registration).toEqual({ primary, alternate });
    expect(config.tlsPin).toBe(server.pin);
    expect(config.proxy).toEqual({ type: 'none' });
    expect(config.backup.exclude).toEqual(['**/*.tmp']);
    expect(await uninstallEntries()).toHaveLength(1);
    // Secrets given as properties never reach the verbose log.
    expect(r.log).toContain('Logging started');
    expect(r.log).not.toContain(TEST_TECHNICIAN_ID);
    expect(r.log).not.toContain(PROXY_SECRET);
  }, 240_000);

  it('the installed service (node.exe under Wine) registers with the Linux test server', async () => {
    // The service started at install runs `holdfast-agent service`, which registers with the REGPRIMARY/REGALTERNATE pair.
    const line = await server.waitForOutput(/registered new device (\S+)/, 90_000);
    const deviceId = /registered new device (\S+)/.exec(line)![1];
    // The installed CLI agrees: same device (already registered, or the same identity registering again).
    const configWin = `C:\\ProgramData\\${VENDOR}\\${PRODUCT}\\agent.json`;
    const r = await wine.run([`${installDirWin}\\node.exe`, `${installDirWin}\\holdfast-agent.mjs`, 'register', '--config', configWin, '--json'], {
      timeoutMs: 120_000,
    });
    expect(r.code, r.output).toBe(0);
    expect(JSON.parse(r.output.slice(r.output.indexOf('{'))).deviceId).toBe(deviceId);
    const registration = JSON.parse(await readFile(join(dataDir(), 'state', 'registration.json'), 'utf8'));
    expect(registration.deviceId).toBe(deviceId);
    expect(r.output).not.toContain(TEST_TECHNICIAN_ID);
  }, 180_000);

  it('upgrades to a newer build in place, keeping the settings of the first install', async () => {
    const r = await wine.msiexec(['/i', wine.toWindows(msi.v2), '/qn', '/norestart']);
    expect(r.code, r.output + r.log.slice(-3000)).toBe(0);
    expect(await uninstallEntries()).toEqual([expect.stringMatching(/ 1\.1\.0$/)]);
    expect((await wine.regValues(keyPath))?.Version).toBe('1.1.0');
    const config = await agentJson();
    expect(config.technicianId).toBe(TEST_TECHNICIAN_ID);
    expect(config.registration).toEqual({ primary: server.addresses[0], alternate: server.addresses[1] });
    expect(config.backup.exclude).toEqual(['**/*.tmp', '**/*.bak']); // policy comes from the newer fleet
    expect(existsSync(join(dataDir(), 'state', 'registration.json'))).toBe(true);
    expect(await wine.serviceState(SERVICE)).toBe('RUNNING');
  }, 240_000);

  it('a rebuilt MSI of the same version replaces the installed one (one entry, settings kept)', async () => {
    const before = await uninstallEntries();
    const r = await wine.msiexec(['/i', wine.toWindows(msi.v2rebuilt), '/qn', '/norestart']);
    expect(r.code, r.output + r.log.slice(-3000)).toBe(0);
    const after = await uninstallEntries();
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before[0]); // another ProductCode now owns the entry
    expect((await agentJson()).technicianId).toBe(TEST_TECHNICIAN_ID);
    expect(await wine.serviceState(SERVICE)).toBe('RUNNING');
  }, 240_000);

  it('refuses a downgrade and leaves the newer version installed', async () => {
    const r = await wine.msiexec(['/i', wine.toWindows(msi.v1), '/qn', '/norestart']);
    expect(r.code).toBe(wineExitCode(1603));
    expect((await wine.regValues(keyPath))?.Version).toBe('1.1.0');
    expect(await uninstallEntries()).toHaveLength(1);
  }, 240_000);

  it('uninstalls cleanly: service, files and registry gone, device identity kept as the fleet says', async () => {
    const r = await wine.msiexec(['/x', wine.toWindows(msi.v2rebuilt), '/qn', '/norestart']);
    expect(r.code, r.output + r.log.slice(-3000)).toBe(0);
    expect(await wine.serviceState(SERVICE)).toBeUndefined();
    expect(await wine.regValues(`HKEY_LOCAL_MACHINE\\System\\CurrentControlSet\\Services\\${SERVICE}`)).toBeUndefined();
    expect(await wine.regValues(keyPath)).toBeUndefined();
    expect(existsSync(installDir())).toBe(false);
    expect(existsSync(join(dataDir(), 'agent.json'))).toBe(false);
    expect(await uninstallEntries()).toEqual([]);
    expect(existsSync(join(dataDir(), 'state', 'identity.json'))).toBe(true);
  }, 240_000);

  it('a reinstall registers as the same device, not a duplicate', async () => {
    const before = JSON.parse(await readFile(join(dataDir(), 'state', 'registration.json'), 'utf8'));
    const [primary, alternate] = server.addresses;
    const r = await wine.msiexec([
      '/i',
      wine.toWindows(msi.v2),
      '/qn',
      '/norestart',
      `TECHNICIANID=${TEST_TECHNICIAN_ID}`,
      `REGPRIMARY=${primary}`,
      `REGALTERNATE=${alternate}`,
    ]);
    expect(r.code, r.output + r.log.slice(-3000)).toBe(0);
    const configWin = `C:\\ProgramData\\${VENDOR}\\${PRODUCT}\\agent.json`;
    const reg = await wine.run([`${installDirWin}\\node.exe`, `${installDirWin}\\holdfast-agent.mjs`, 'register', '--force', '--config', configWin, '--json'], {
      timeoutMs: 120_000,
    });
    expect(reg.code, reg.output).toBe(0);
    const line = await server.waitForOutput(/re-registered existing device (\S+)/, 60_000);
    expect(/re-registered existing device (\S+)/.exec(line)![1]).toBe(before.deviceId);
    const un = await wine.msiexec(['/x', wine.toWindows(msi.v2), '/qn', '/norestart']);
    expect(un.code).toBe(0);
  }, 240_000);
});
