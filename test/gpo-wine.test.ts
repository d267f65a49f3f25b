// Group Policy for real, under Wine (one prefix for the file):
// - "the agent honours policy values over its config": `reg add` writes the GPO keys the ADMX defines (the address
//   map too: `status --json` shows it and the address dialled), and the
//   agent bundle run by the Windows node.exe reads them with reg.exe and lets them win over agent.json
//   (`holdfast-agent exclude list --json` prints the effective admin exclusions); a small bundle of
//   agent/policy.ts shows every other mapped value from the same registry;
// - the generated startup script installs an MSI silently with cmd.exe and msiexec, once.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadFleet } from '../fleet/load.js';
import { agentConfigFromFleet } from '../fleet/agent-config.js';
import { nodeRuntime } from '../installers/runtimes.js';
import { renderGpoFiles, startupScriptName } from '../deployer/targets/gpo.js';
import { agentBin, repoRoot } from './helpers/paths.js';
import { buildTinyMsi } from './helpers/tiny-msi.js';
import { type WinePrefix, createWinePrefix, wineExitCode } from './helpers/wine.js';
import { installTimeSecrets } from '../deployer/targets/target.js';

let work: string;
let wine: WinePrefix;
let nodeExe: string;
let configFile: string;
let dumpBundle: string;
const key = 'HKLM\\Software\\Policies\\Holdfast\\Holdfast Backup';

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hf-gpo-wine-'));
  nodeExe = await nodeRuntime('win-x64');
  wine = await createWinePrefix();
  const loaded = await loadFleet(join(repoRoot, 'examples/fleets/demo.fleet.json'));
  const config = await agentConfigFromFleet(loaded, { technicianId: 'DEMO-TECH-0001' });
  config.backup.exclude = ['**/*.from-file'];
  configFile = join(work, 'agent.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  // A two-line driver around the library function the agent's config loader calls.
  const entry = join(work, 'dump.ts');
  writeFileSync(
    entry,
    `import { readFileSync } from 'node:fs';\nimport { readPolicyOverrides } from ${JSON.stringify(join(repoRoot, 'agent/policy.ts'))};\nconsole.log(JSON.stringify(await readPolicyOverrides(JSON.parse(readFileSync(process.argv[2], 'utf8')))));\n`,
  );
  dumpBundle = join(work, 'dump.mjs');
  await build({ entryPoints: [entry], outfile: dumpBundle, bundle: true, platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning' });
}, 600_000);

afterAll(async () => {
  await wine?.close();
  rmSync(work, { recursive: true, force: true });
});

async function node(args: string[]): Promise<string> {
  const r = await wine.run([nodeExe, ...args], { timeoutMs: 180_000 });
  expect(r.code, r.output).toBe(0);
  return r.output;
}

async function regAdd(subkey: string, name: string, type: string, data: string): Promise<void> {
  const r = await wine.run(['reg', 'add', subkey, '/v', name, '/t', type, '/d', data, '/f']);
  expect(r.code, r.output).toBe(0);
}

const lastJson = (out: string) => JSON.parse(out.slice(out.indexOf('{'), out.lastIndexOf('}') + 1));

describe('GPO policy under Wine (Windows node.exe, reg.exe)', () => {
  it('without policy the config file rules; with policy the registry values win', async () => {
    const before = lastJson(await node([wine.toWindows(agentBin), 'exclude', 'list', '--json', '--config', wine.toWindows(configFile)]));
    expect(before.config).toEqual(['**/*.from-file']);
    expect(JSON.parse((await node([wine.toWindows(dumpBundle), wine.toWindows(configFile)])).trim())).toEqual({});

    await regAdd(`${key}\\Exclusions`, '1', 'REG_SZ', '**/*.from-policy');
    await regAdd(`${key}\\Exclusions`, '2', 'REG_SZ', 'C:\\Users\\*\\Videos');
    await regAdd(key, 'TechnicianId', 'REG_SZ', 'GPO-TECH-0042');
    await regAdd(key, 'RegistrationPrimary', 'REG_SZ', '127.0.0.1:17000');
    await regAdd(key, 'ProxyType', 'REG_SZ', 'socks5');
    await regAdd(key, 'ProxyHost', 'REG_SZ', '127.0.0.1');
    await regAdd(key, 'ProxyPort', 'REG_DWORD', '1080');
    await regAdd(key, 'ScheduleFrequency', 'REG_SZ', 'weekly');
    await regAdd(key, 'ScheduleAt', 'REG_SZ', '03:15');
    await regAdd(key, 'ScheduleDay', 'REG_SZ', 'sun');

    const after = lastJson(await node([wine.toWindows(agentBin), 'exclude', 'list', '--json', '--config', wine.toWindows(configFile)]));
    expect(after.config).toEqual(['**/*.from-policy', 'C:\\Users\\*\\Videos']);

    const overrides = JSON.parse((await node([wine.toWindows(dumpBundle), wine.toWindows(configFile)])).trim());
    expect(overrides).toMatchObject({
      technicianId: 'GPO-TECH-0042',
      registration: { primary: '127.0.0.1:17000', alternate: '127.0.0.1:16385' },
      proxy: { type: 'socks5', host: '127.0.0.1', port: 1080 },
      backup: { exclude: ['**/*.from-policy', 'C:\\Users\\*\\Videos'], schedule: { frequency: 'weekly', at: '03:15', day: 'sun' } },
    });

    // The ADMX's AddressMap list (value name = server, data = firewall): status shows the map and the address dialled.
    await regAdd(`${key}\\AddressMap`, '127.0.0.1:17000', 'REG_SZ', '127.0.0.1:20001');
    const status = lastJson(await node([wine.toWindows(agentBin), 'status', '--json', '--config', wine.toWindows(configFile)]));
    expect(status.addressMap).toEqual({ '127.0.0.1:17000': '127.0.0.1:20001' });
    expect(status.dials[0]).toEqual({ role: 'registration primary', server: '127.0.0.1:17000', dials: '127.0.0.1:20001' });

    // A bad policy value stops the agent with an error naming the value, what it found and what is allowed.
    await regAdd(key, 'ProxyType', 'REG_SZ', 'ftp');
    const bad = await wine.run([nodeExe, wine.toWindows(agentBin), 'exclude', 'list', '--json', '--config', wine.toWindows(configFile)], {
      timeoutMs: 180_000,
    });
    expect(bad.code).not.toBe(0);
    expect(bad.output).toMatch(/policy value ProxyType: "ftp" is not allowed; expected one of none, socks4, socks4a, socks5, http/);
    expect(bad.output).not.toContain('GPO-TECH-0042');
    await regAdd(key, 'ProxyType', 'REG_SZ', 'socks5');
  });

  it('the startup script installs the MSI silently once (cmd.exe + msiexec), then skips', async () => {
    const loaded = await loadFleet(join(repoRoot, 'examples/fleets/demo.fleet.json'));
    const dir = join(work, 'gpo');
    mkdirSync(dir, { recursive: true });
    const script = join(dir, startupScriptName('demo'));
    writeFileSync(script, renderGpoFiles(loaded.fleet)[startupScriptName('demo')]);
    const msi = buildTinyMsi(dir, { upgradeCode: '0F1E2D3C-4B5A-4968-8776-A5B4C3D2E1F0' });
    // %WINDIR%\Temp: Wine's folder is lower-case.
    const log = wine.fromWindows('C:\\windows\\temp\\holdfast-demo-install.log');
    const marker = wine.fromWindows('C:\\ProgramData\\Holdfast\\demo-1.0.0.installed');

    // A failed install passes msiexec's non-zero code on (Wine's msiexec answers 2 for a missing package) and leaves no marker.
    const failed = await wine.run(['cmd', '/c', wine.toWindows(script), wine.toWindows(join(dir, 'missing.msi'))], { timeoutMs: 120_000 });
    expect(failed.code, failed.output).not.toBe(0);
    expect(failed.code).not.toBe(null);
    expect(existsSync(marker)).toBe(false);

    const first = await wine.run(['cmd', '/c', wine.toWindows(script), wine.toWindows(msi)], { timeoutMs: 300_000 });
    expect(first.code, first.output).toBe(0);
    expect(existsSync(log), first.output).toBe(true);
    expect(existsSync(marker)).toBe(true);
    // The tiny MSI is a 32-bit package: its file lands in Program Files (x86).
    expect(existsSync(wine.fromWindows('C:\\Program Files (x86)\\Tiny\\payload.txt'))).toBe(true);

    rmSync(log);
    // The install's Wine helpers may still be winding down; the second boot-time run starts from a quiet prefix.
    await wine.settle();
    const second = await wine.run(['cmd', '/c', wine.toWindows(script), wine.toWindows(msi)], { timeoutMs: 120_000 });
    expect(second.code, second.output).toBe(0);
    expect(existsSync(log)).toBe(false);
  });
  it('a startup script generated with the Technician ID left to install time refuses (1603) until its line is filled in, then passes it', async () => {
    const loaded = await loadFleet(join(repoRoot, 'examples/fleets/demo.fleet.json'));
    const dir = join(work, 'gpo-at-install');
    mkdirSync(dir, { recursive: true });
    const script = join(dir, startupScriptName('demo'));
    const atInstall = installTimeSecrets({ ...loaded.fleet, technicianId: { env: 'DEMO_TECH_VAR' } }, {});
    const text = renderGpoFiles(loaded.fleet, atInstall)[startupScriptName('demo')];
    writeFileSync(script, text);
    // The install test above leaves its marker (the script then skips at once): start from a machine without it.
    rmSync(wine.fromWindows('C:\\ProgramData\\Holdfast\\demo-1.0.0.installed'), { force: true });
    const refused = await wine.run(['cmd', '/c', wine.toWindows(script), wine.toWindows(join(dir, 'never.msi'))], { timeoutMs: 120_000 });
    expect(refused.code, refused.output).toBe(wineExitCode(1603));
    expect(refused.output).toContain('TECHNICIANID is not filled in: edit this script (value of DEMO_TECH_VAR)');
    // Filled in by the admin: the value reaches the msiexec line (echoed here instead of installing).
    writeFileSync(script, text.replace('set "TECHNICIANID=<Technician ID>"', 'set "TECHNICIANID=FILLED-0042"').replace(/^msiexec /m, 'echo msiexec '));
    const filled = await wine.run(['cmd', '/c', wine.toWindows(script), wine.toWindows(join(dir, 'never.msi'))], { timeoutMs: 120_000 });
    expect(filled.output).toMatch(/msiexec \/i ".*never\.msi" \/qn .* TECHNICIANID="FILLED-0042"/);
  });
});
