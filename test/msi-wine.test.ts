// The fleet MSI end to end under Wine: tables checked with msiinfo, silent install with overriding properties,
// files/registry/service/config checked, the installed node.exe registers with the Linux test server,
// upgrade keeps the first install's settings, downgrade is refused, uninstall is clean, reinstall is the same device.
// Secrets: the tables lock the files that hold them to SYSTEM and Administrators; no secret is on any command line the
// install starts (recorded from /proc as process auditing would), in the /l*vx log, or in any other file of the prefix.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFleets } from '../deployer/generate.js';
import { column, exportTable, formattedLiteral } from '../installers/win/msi-tables.js';
import { HIDDEN_PROPERTIES, PUBLIC_PROPERTIES } from '../installers/win/index.js';
import { PROPERTY_SETTINGS } from '../installers/win/properties.js';
import { runTool } from '../installers/win/tools.js';
import { repoRoot } from './helpers/paths.js';
import { tempDir, TEST_TECHNICIAN_ID, useTestServer } from './helpers/server.js';
import { scanForSecrets } from './helpers/secret-scan.js';
import { createWinePrefix, wineExitCode, type WinePrefix } from './helpers/wine.js';

const HOSTILE_CUSTOMER = `Q"uote's <b>&amp; ]]> $(rm -rf /) \`tick\` [ProductName] {x} %TEMP% ünï`;
const VENDOR = 'Holdfast Test & Co';
const PRODUCT = 'Holdfast QA (Wine)';
const SERVICE = 'HoldfastQAWine';
const PROXY_SECRET = 'pw-Wine-7c1e-SECRET';
const FLEET_TECHNICIAN_ID = 'FLEET-DEFAULT-0001';
/** SYSTEM and Administrators full control, protected from inheritance; for a folder, inherited by its contents. */
const LOCKED_FILE = 'D:PAI(A;;FA;;;SY)(A;;FA;;;BA)';
const LOCKED_FOLDER = 'D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)';

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
    technicianId: FLEET_TECHNICIAN_ID,
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

/** Linux paths of the objects the MSI's MsiLockPermissionsEx rows lock, resolved through the File and Component tables. */
async function lockedObjects(msiPath: string): Promise<Array<{ path: string; sddl: string }>> {
  const [locks, files, components] = await Promise.all(['MsiLockPermissionsEx', 'File', 'Component'].map((t) => exportTable(msiPath, t)));
  const directories: Record<string, string> = { INSTALLDIR: installDir(), DATADIR: dataDir() };
  const cell = (t: typeof files, key: string, col: string) => t.rows.find((r) => r[0] === key)?.[column(t, col)] ?? '';
  return locks.rows.map((row) => {
    const [object, table, sddl] = ['LockObject', 'Table', 'SDDLText'].map((c) => row[column(locks, c)]);
    if (table === 'CreateFolder') return { path: directories[object], sddl };
    const directory = directories[cell(components, cell(files, object, 'Component_'), 'Directory_')];
    return { path: join(directory, cell(files, object, 'FileName').split('|').pop()!), sddl };
  });
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

/** A silent install of `path` that registers with the test server: its pair and the Technician ID as properties. */
function installForTestServer(path: string, extra: string[] = []) {
  const [primary, alternate] = server.addresses;
  const properties = [`TECHNICIANID=${TEST_TECHNICIAN_ID}`, `REGPRIMARY=${primary}`, `REGALTERNATE=${alternate}`, ...extra];
  return wine.msiexec(['/i', wine.toWindows(path), '/qn', '/norestart', ...properties]);
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
    expect(msi.v1).not.toBe(msi.v2);
  });

  it('passes settings through CustomActionData to a DLL action and locks what holds secrets (MsiLockPermissionsEx)', async () => {
    const actions = (await exportTable(msi.v1, 'CustomAction')).rows;
    const action = (name: string) => actions.find((r) => r[0] === name)!;
    // Type 1 (DLL from the Binary table) + deferred 0x400 + LocalSystem 0x800 + HideTarget 0x2000 = 11265.
    expect(action('HF_Configure').slice(0, 4)).toEqual(['HF_Configure', '11265', 'ConfigureTool', 'Configure']);
    // Type 51 (set the property named like the deferred action: its CustomActionData) + HideTarget.
    const [, type, property, data] = action('HF_ConfigureData');
    expect([type, property]).toEqual([String(51 | 0x2000), 'HF_Configure']);
    const [command, ...settings] = data.split('\n');
    expect(command).toMatch(/^"\[#NodeExe\]" "\[#AgentBundle\]" configure --msi --settings-stdin /);
    expect(settings).toEqual(PUBLIC_PROPERTIES.map((p) => `${PROPERTY_SETTINGS[p]}=[${p}]`));
    // No public property reaches a command line: the only action that formats one is the CustomActionData above.
    for (const [name, , , target] of actions) {
      for (const p of PUBLIC_PROPERTIES) expect(name === 'HF_ConfigureData' ? command : target, `${name} ${p}`).not.toContain(`[${p}]`);
    }
    // Installer 5.0 locks fleet-defaults.json and the data folder; LockPermissions must not exist beside it (error 1941).
    const locks = await lockedObjects(msi.v1);
    expect(locks).toEqual([
      { path: join(installDir(), 'fleet-defaults.json'), sddl: LOCKED_FILE },
      { path: dataDir(), sddl: LOCKED_FOLDER },
    ]);
    expect((await runTool('msiinfo', ['tables', msi.v1])).split('\n')).not.toContain('LockPermissions');
    expect((await exportTable(msi.v1, 'CreateFolder')).rows).toEqual([['DATADIR', 'DataComponent']]);
    expect((await exportTable(msi.v1, 'Property')).rows.find((r) => r[0] === 'MsiHiddenProperties')?.[1].split(';')).toContain('HF_Configure');
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
    // Even a failed install's property dump holds no secret; the MSI log carries configure's reason too.
    expect(r.log).not.toContain(TEST_TECHNICIAN_ID);
    expect(r.log).toMatch(/HF_Configure: configure exited with code 1/);
    expect(r.log).toMatch(/\/registration\/primary: "backup\.example\.com:16384" is not allowed/);
  }, 240_000);

  it('installs silently with overriding properties: files, registry, running service, config', async () => {
    const [primary, alternate] = server.addresses;
    const recorder = wine.recordCommandLines();
    const r = await installForTestServer(msi.v1, [`PROXYPASSWORD=${PROXY_SECRET}`]);
    // Recording lasts until the service runs, so the wrapper's own process is among those seen.
    if (r.code === 0) await expect.poll(() => wine.serviceState(SERVICE), { timeout: 60_000 }).toBe('RUNNING');
    const commandLines = recorder.stop();
    expect(r.code, r.output + r.log.slice(-3000)).toBe(0);
    // Process auditing saw the configure action's process: its command line holds no secret, nor does any other,
    // except msiexec's own, which the admin typed (the recorder does see secrets where they are).
    const typedByAdmin = (c: string) => /\bmsiexec(\.exe)? \/i /i.test(c);
    expect(
      commandLines.filter((c) => /holdfast-agent\.mjs configure --msi /.test(c)),
      commandLines.join('\n'),
    ).not.toEqual([]);
    expect(commandLines.filter((c) => /holdfast-service\.exe --log /.test(c))).not.toEqual([]);
    expect(commandLines.filter(typedByAdmin).some((c) => c.includes(TEST_TECHNICIAN_ID) && c.includes(PROXY_SECRET))).toBe(true);
    const leaks = commandLines.filter((c) => !typedByAdmin(c) && [TEST_TECHNICIAN_ID, PROXY_SECRET, FLEET_TECHNICIAN_ID].some((s) => c.includes(s)));
    expect(leaks).toEqual([]);
    for (const f of ['node.exe', 'holdfast-agent.mjs', 'holdfast-service.exe', 'fleet-defaults.json']) expect(existsSync(join(installDir(), f)), f).toBe(true);

    const reg = await wine.regValues(keyPath);
    expect(reg).toMatchObject({ Fleet: 'wineqa', Version: '1.0.0', ServiceName: SERVICE, Customer: HOSTILE_CUSTOMER });
    expect(reg!.ConfigFile).toBe(`C:\\ProgramData\\${VENDOR}\\${PRODUCT}\\agent.json`);

    const svc = await wine.regValues(`HKEY_LOCAL_MACHINE\\System\\CurrentControlSet\\Services\\${SERVICE}`);
    expect(svc).toMatchObject({ ObjectName: 'LocalSystem', Start: 'dword:00000002', DisplayName: PRODUCT });
    expect(svc!.ImagePath).toContain('holdfast-service.exe');
    expect(svc!.ImagePath).toContain(' service --config ');
    expect(await wine.serviceState(SERVICE)).toBe('RUNNING');
    // The wrapper started the agent under the service (node.exe + bundle + --config) and logs to service.log; the
    // agent writes (and rotates) its own agent.log.
    expect(svc!.ImagePath).toMatch(/ service --config .* --log .*agent\.log/);
    expect(await readFile(join(dataDir(), 'service.log'), 'utf8')).toContain('[holdfast-service] agent process started');

    const config = await agentJson();
    expect(config.technicianId).toBe(TEST_TECHNICIAN_ID);
    expect(config.registration).toEqual({ primary, alternate });
    expect(config.tlsPin).toBe(server.pin);
    expect(config.proxy).toEqual({ type: 'none' });
    expect(config.backup.exclude).toEqual(['**/*.tmp']);
    expect(await uninstallEntries()).toHaveLength(1);
    // Secrets given as properties never reach the verbose log, which shows configure's own (value-free) report.
    expect(r.log).toContain('Logging started');
    expect(r.log).toMatch(/HF_Configure: configure \(msi\): wrote .*agent\.json/);
    expect(r.log).toMatch(/HF_Configure: +technicianId: given \(secret\)/);
    expect(r.log).toMatch(/HF_Configure: configure exited with code 0/);
    for (const secret of [TEST_TECHNICIAN_ID, PROXY_SECRET, FLEET_TECHNICIAN_ID]) expect(r.log).not.toContain(secret);
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

  it('no secret outside the objects the tables lock: every other file of the prefix, registry hives included', async () => {
    const locked = (await lockedObjects(msi.v1)).map((l) => l.path);
    const isLocked = (file: string) => locked.some((l) => file === l || file.startsWith(`${l}/`));
    const scan = await scanForSecrets(wine.dir, [TEST_TECHNICIAN_ID, PROXY_SECRET, FLEET_TECHNICIAN_ID]);
    console.log(`secret scan: ${scan.files} files, ${(scan.bytes / 1e6).toFixed(0)} MB`);
    // The scan finds secrets where they must be: the given Technician ID in agent.json, the embedded one in fleet-defaults.json.
    expect(scan.hits).toContainEqual({ file: join(dataDir(), 'agent.json'), secret: TEST_TECHNICIAN_ID });
    expect(scan.hits).toContainEqual({ file: join(installDir(), 'fleet-defaults.json'), secret: FLEET_TECHNICIAN_ID });
    expect(scan.hits.filter((h) => !isLocked(h.file))).toEqual([]);
    // Inside them too, only the two config files: no log, state file or installer record repeats a secret.
    expect([...new Set(scan.hits.map((h) => h.file))].sort()).toEqual([join(dataDir(), 'agent.json'), join(installDir(), 'fleet-defaults.json')].sort());
    // Wine keeps the whole package in C:\windows\Installer (Windows strips embedded cabinets from its cached copy): the
    // embedded defaults are only in the fleet.cab stream, compressed; no table of the cached package holds a secret.
    const cacheDir = wine.fromWindows('C:\\windows\\Installer');
    const cached = (await readdir(cacheDir)).filter((f) => f.endsWith('.msi'));
    expect(cached).not.toEqual([]);
    for (const f of cached) {
      const tables = (await runTool('msiinfo', ['tables', join(cacheDir, f)])).split('\n').filter(Boolean);
      // Exporting the Binary table writes its streams into the working folder.
      const text = (await Promise.all(tables.map((t) => runTool('msiinfo', ['export', join(cacheDir, f), t], { cwd: work })))).join('\n');
      expect(text).toContain('HF_ConfigureData');
      for (const secret of [TEST_TECHNICIAN_ID, PROXY_SECRET, FLEET_TECHNICIAN_ID]) expect(text).not.toContain(secret);
    }
  }, 240_000);

  it('upgrades to a newer build in place, keeping the settings of the first install', async () => {
    // A wrapper log past 1 MiB (years of restarts) is rotated when the upgraded service starts the agent.
    await writeFile(join(dataDir(), 'service.log'), `${'old wrapper line\r\n'.repeat(60_000)}`, { flag: 'a' });
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
    const older = await readFile(join(dataDir(), 'service.log.1'), 'utf8');
    expect(older).toContain('old wrapper line');
    expect(older.length).toBeGreaterThan(1024 * 1024);
    const current = await readFile(join(dataDir(), 'service.log'), 'utf8');
    expect(current).not.toContain('old wrapper line');
    expect(current).toContain('[holdfast-service] agent process started');
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
    for (const log of ['service.log', 'service.log.1', 'agent.log']) expect(existsSync(join(dataDir(), log)), log).toBe(false);
    expect(await uninstallEntries()).toEqual([]);
    expect(existsSync(join(dataDir(), 'state', 'identity.json'))).toBe(true);
  }, 240_000);

  it('a reinstall registers as the same device, not a duplicate', async () => {
    const before = JSON.parse(await readFile(join(dataDir(), 'state', 'registration.json'), 'utf8'));
    const r = await installForTestServer(msi.v2);
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
