// Hostile fleet values ($(…), backticks, quotes, <&>) must come out escaped in every generated file (XML, plist,
// shell) and nothing may execute when the scripts run; values the formats cannot carry are rejected by name.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'plist';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentConfigFromFleet } from '../fleet/agent-config.js';
import { FleetValidationError, parseFleet, resolveSecrets } from '../fleet/load.js';
import type { LoadedFleet } from '../fleet/types.js';
import { buildMacPkg } from '../installers/mac/pkg.js';
import { pppcProfile, settingsProfile } from '../installers/mac/profiles.js';
import { render } from '../installers/mac/templates.js';
import { repoRoot } from './helpers/paths.js';
import { tool, xmllint } from './helpers/pkg-readers.js';

const xpath = (file: string, expr: string) => execFileSync(tool('xmllint'), ['--nonet', '--xpath', expr, file], { encoding: 'utf8' }).replace(/\n$/, '');

const work = mkdtempSync(join(tmpdir(), 'hf-pkg-hostile-'));
// Every payload would create a file named PWN* in the working directory (or beside it) if it ever ran.
const cwd = join(work, 'cwd');
mkdirSync(cwd);
const pwn = (n: number) => `$(touch ${cwd}/PWN${n}) \`touch ${cwd}/PWN${n}b\``;
const HOSTILE = {
  customer: `Evil "Corp" <b>&amp; ${pwn(1)} 'q' ]]> --`,
  product: `A&B's (Evil), Inc`,
  vendor: `O'Brien & Sons`,
  username: `${pwn(3)}'"<u>`,
  password: `pa$$'"\`w<>&${pwn(4)}`,
  include: `~/${pwn(5)}/"x"`,
  codeRequirement: `identifier "node" and anchor apple generic /* ' ${pwn(6)} <&> */`,
};

function hostileFleet(overrides: Record<string, unknown> = {}): string {
  const demo = JSON.parse(readFileSync(join(repoRoot, 'examples/fleets/demo.fleet.json'), 'utf8'));
  delete demo.$schema;
  return JSON.stringify({
    ...demo,
    fleet: 'hostile',
    customer: HOSTILE.customer,
    proxy: { type: 'http', host: 'proxy.example', port: 8080, username: HOSTILE.username, password: HOSTILE.password },
    backup: { ...demo.backup, include: [HOSTILE.include], protectedPaths: [HOSTILE.include] },
    branding: { ...demo.branding, vendor: HOSTILE.vendor, product: HOSTILE.product, bundleId: 'com.evil-corp.backup' },
    signing: { macos: { codeRequirement: HOSTILE.codeRequirement } },
    ...overrides,
  });
}

let loaded: LoadedFleet;
const x = join(work, 'x');
const scripts = join(work, 'scripts');
let uninstallScript = '';

beforeAll(async () => {
  loaded = { file: join(work, 'hostile.fleet.json'), dir: work, fleet: parseFleet(hostileFleet()) };
  // Tiny stand-ins for the runtimes and agent keep this suite fast; the real ones are covered by pkg-build.
  for (const f of ['node-x64', 'node-arm64', 'agent.mjs']) writeFileSync(join(work, f), `#!/bin/sh\necho ${f}\n`);
  const r = await buildMacPkg({
    loaded,
    secrets: resolveSecrets(loaded.fleet),
    outDir: join(work, 'out'),
    cacheDir: join(work, 'cache'),
    agentBundle: join(work, 'agent.mjs'),
    runtimes: { x86_64: join(work, 'node-x64'), arm64: join(work, 'node-arm64') },
  });
  uninstallScript = r.uninstallScript;
  mkdirSync(x);
  execFileSync(tool('bsdtar'), ['-xf', r.pkg, '-C', x]);
  mkdirSync(scripts);
  execFileSync('sh', ['-c', `gzip -dc "$1" | ${tool('cpio')} -i -d -m -H odc --quiet`, 'sh', join(x, 'agent.pkg/Scripts')], { cwd: scripts });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const noPwn = () => expect(readdirSync(cwd).filter((n) => n.startsWith('PWN'))).toEqual([]);

describe('hostile fleet values', () => {
  it('Distribution and PackageInfo stay well-formed and carry the exact values', () => {
    xmllint(join(x, 'Distribution'));
    xmllint(join(x, 'agent.pkg/PackageInfo'));
    expect(xpath(join(x, 'Distribution'), 'string(//title)')).toBe(HOSTILE.product);
    expect(xpath(join(x, 'agent.pkg/PackageInfo'), 'string(/pkg-info/@identifier)')).toBe('com.evil-corp.backup');
  });

  it('the LaunchDaemon plist is well-formed', () => {
    const p = join(work, 'payload');
    mkdirSync(p);
    execFileSync('sh', ['-c', `gzip -dc "$1" | ${tool('cpio')} -i -d -m -H odc --quiet`, 'sh', join(x, 'agent.pkg/Payload')], { cwd: p });
    const file = join(p, 'Library/LaunchDaemons/com.evil-corp.backup.plist');
    xmllint(file);
    expect((parse(readFileSync(file, 'utf8')) as { Label: string }).Label).toBe('com.evil-corp.backup');
  });

  it('postinstall and preinstall run without executing anything and write the exact config 0600', async () => {
    const volume = join(work, 'Volume With Space');
    mkdirSync(volume);
    for (const s of ['preinstall', 'postinstall']) {
      execFileSync('sh', ['-n', join(scripts, s)]);
      const r = spawnSync('sh', [join(scripts, s), join(work, 'fake.pkg'), '/', volume], { cwd, encoding: 'utf8' });
      expect(r.status, `${s}: ${r.stderr}`).toBe(0);
    }
    const config = join(volume, 'Library/Application Support/Holdfast/agent.json');
    expect(statSync(config).mode & 0o777).toBe(0o600);
    const written = JSON.parse(readFileSync(config, 'utf8'));
    expect(written).toEqual(await agentConfigFromFleet(loaded, resolveSecrets(loaded.fleet)));
    expect(written.proxy.username).toBe(HOSTILE.username);
    expect(written.proxy.password).toBe(HOSTILE.password);
    expect(written.backup.include).toEqual([HOSTILE.include]);
    noPwn();
  });

  it('the uninstall script removes the agent, keeps identity unless --purge, and executes nothing', () => {
    execFileSync('sh', ['-n', uninstallScript]);
    const root = join(work, 'root');
    const hf = join(root, 'Library/Application Support/Holdfast');
    for (const d of ['bin', 'lib', 'runtime/arm64', 'state']) mkdirSync(join(hf, d), { recursive: true });
    mkdirSync(join(root, 'Library/LaunchDaemons'), { recursive: true });
    writeFileSync(join(hf, 'agent.json'), '{}');
    writeFileSync(join(root, 'Library/LaunchDaemons/com.evil-corp.backup.plist'), '');
    const env = { ...process.env, HOLDFAST_UNINSTALL_ROOT: root };
    const bad = spawnSync('sh', [uninstallScript, `--x${pwn(7)}`], { cwd, env, encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown option/);
    const r = spawnSync('sh', [uninstallScript], { cwd, env, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(existsSync(join(root, 'Library/LaunchDaemons/com.evil-corp.backup.plist'))).toBe(false);
    expect(['bin', 'lib', 'runtime'].map((d) => existsSync(join(hf, d)))).toEqual([false, false, false]);
    expect(existsSync(join(hf, 'agent.json'))).toBe(true);
    // --purge also removes the service log with its rotated copies and launchd's stderr log.
    const logs = join(root, 'Library/Logs');
    mkdirSync(logs, { recursive: true });
    const logFiles = ['holdfast-agent.log', 'holdfast-agent.log.1', 'holdfast-agent.log.4', 'holdfast-agent.stderr.log'];
    for (const f of [...logFiles, 'other.log']) writeFileSync(join(logs, f), 'log');
    expect(spawnSync('sh', [uninstallScript, '--purge'], { cwd, env }).status).toBe(0);
    expect(existsSync(hf)).toBe(false);
    expect(logFiles.filter((f) => existsSync(join(logs, f)))).toEqual([]);
    expect(existsSync(join(logs, 'other.log'))).toBe(true);
    expect(existsSync(join(root, 'Library'))).toBe(true);
    noPwn();
  });

  it('configuration profiles carry the exact values through the plist package', async () => {
    const settings = join(work, 's.mobileconfig');
    writeFileSync(settings, settingsProfile(loaded.fleet, await agentConfigFromFleet(loaded, resolveSecrets(loaded.fleet))));
    xmllint(settings);
    const s = parse(readFileSync(settings, 'utf8')) as { PayloadOrganization: string; PayloadContent: Array<{ ProxyUsername: string }> };
    expect(s.PayloadOrganization).toBe(HOSTILE.customer);
    expect(s.PayloadContent[0].ProxyUsername).toBe(HOSTILE.username);
    expect(readFileSync(settings, 'utf8')).not.toContain('pa$$');
    const pppc = await pppcProfile(loaded.fleet, { x86_64: join(work, 'node-x64'), arm64: join(work, 'node-arm64') });
    writeFileSync(join(work, 'p.mobileconfig'), pppc.xml);
    xmllint(join(work, 'p.mobileconfig'));
    const p = parse(pppc.xml) as { PayloadContent: Array<{ Services: { SystemPolicyAllFiles: Array<{ CodeRequirement: string }> } }> };
    expect(p.PayloadContent[0].Services.SystemPolicyAllFiles.map((e) => e.CodeRequirement)).toEqual([HOSTILE.codeRequirement, HOSTILE.codeRequirement]);
  });

  it('values no format can carry are rejected, naming the field', async () => {
    expect(() => parseFleet(hostileFleet({ customer: 'line one\nline two' }))).toThrow(FleetValidationError);
    try {
      parseFleet(hostileFleet({ customer: 'a\nb' }));
    } catch (err) {
      expect((err as FleetValidationError).issues.map((i) => i.path)).toContain('/customer');
    }
    expect(() =>
      parseFleet(hostileFleet({ branding: { vendor: 'V', product: 'P$(x)', upgradeCode: '3F2B8C1E-6A4D-4E8B-9C2F-1A7D5E0B4C93', bundleId: 'com.x.y' } })),
    ).toThrow(/product/);
    // The template helpers refuse what the schema would already have stopped.
    await expect(render('preinstall.sh.hbs', { label: 'a\nb', product: 'p' })).rejects.toThrow(/newlines/);
    await expect(render('preinstall.sh.hbs', { label: 'a', product: 'p\nrm -rf /' })).rejects.toThrow(/newlines/);
    await expect(render('PackageInfo.xml.hbs', { identifier: 'a\u0001', version: '1', numberOfFiles: 1, installKBytes: 1 })).rejects.toThrow(
      /control characters/,
    );
    await expect(render('PackageInfo.xml.hbs', { identifier: 'a', version: '1', numberOfFiles: '1" evil="', installKBytes: 1 })).rejects.toThrow(/integer/);
  });
});
