// Builds the macOS pkg for the example fleets (through `holdfast-deploy generate` and through the target) and
// reads it back with bsdtar, 7-Zip, GNU cpio, xmllint, the plist parser and an independent BOM reader.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'plist';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentConfigFromFleet } from '../fleet/agent-config.js';
import { loadFleet, resolveSecrets } from '../fleet/load.js';
import { nodeRuntime } from '../installers/runtimes.js';
import { pkgTarget } from '../deployer/targets/pkg.js';
import type { Artifact } from '../deployer/targets/target.js';
import { render } from '../installers/mac/templates.js';
import { readBom } from './helpers/bom-reader.js';
import { agentBin, deployBin, repoRoot } from './helpers/paths.js';
import { sevenZip as SEVENZIP, tool, xmllint } from './helpers/pkg-readers.js';

const attr = (xml: string, element: string, name: string) => new RegExp(`<${element}\\b[^>]*\\s${name}="([^"]*)"`).exec(xml)?.[1];

const work = mkdtempSync(join(tmpdir(), 'hf-pkg-build-'));
const cache = join(work, 'cache');
const out = join(work, 'out');
const x = join(work, 'x');
let manifest: { artifacts: Array<{ path: string; target: string; size: number; sha256: string; installCommands?: unknown[] }> };
const pkg = join(out, 'demo', 'holdfast-demo.pkg');

// A private copy of the agent bundle: other suites may rebuild dist/ while this one runs.
const agentCopy = join(work, 'holdfast-agent.mjs');

beforeAll(() => {
  copyFileSync(agentBin, agentCopy);
  process.env.HOLDFAST_AGENT_BUNDLE = agentCopy;
  const r = spawnSync(
    process.execPath,
    [deployBin, 'generate', join(repoRoot, 'examples/fleets/demo.fleet.json'), '--out', out, '--target', 'pkg', '--cache', cache],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`generate failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  manifest = JSON.parse(readFileSync(r.stdout.trim().split('\n')[0], 'utf8'));
  mkdirSync(x);
  execFileSync(tool('bsdtar'), ['-xpf', pkg, '-C', x]);
}, 300_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const cacheListing = () =>
  readdirSync(cache, { recursive: true, encoding: 'utf8' })
    .sort()
    .map((name) => {
      const st = statSync(join(cache, name));
      return `${name} ${st.size} ${st.mtimeMs}`;
    });

describe('holdfast-deploy generate --target pkg (demo fleet)', () => {
  it('lists the pkg and its uninstall script in the manifest with the silent install line', () => {
    const names = manifest.artifacts.map((a) => a.path.split(/[\\/]/).at(-1));
    expect(names).toEqual(expect.arrayContaining(['holdfast-demo.pkg', 'holdfast-demo-uninstall.sh']));
    expect(JSON.stringify(manifest.artifacts)).toContain('sudo installer -pkg holdfast-demo.pkg -target /');
    expect(statSync(join(out, 'demo', 'holdfast-demo-uninstall.sh')).mode & 0o111).not.toBe(0);
  });

  it('is a xar that bsdtar lists in productbuild member order', () => {
    const list = execFileSync(tool('bsdtar'), ['-tf', pkg], { encoding: 'utf8' }).trim().split('\n');
    expect(list).toEqual(['agent.pkg', 'agent.pkg/Bom', 'agent.pkg/Payload', 'agent.pkg/Scripts', 'agent.pkg/PackageInfo', 'Distribution']);
    expect(readFileSync(pkg).subarray(0, 4).toString()).toBe('xar!');
  });

  it('passes 7z t and 7-Zip extracts the same members as bsdtar', () => {
    expect(execFileSync(SEVENZIP(), ['t', pkg], { encoding: 'utf8' })).toContain('Everything is Ok');
    const sz = join(work, 'x7');
    execFileSync(SEVENZIP(), ['x', '-y', `-o${sz}`, pkg], { encoding: 'utf8' });
    rmSync(join(sz, '[TOC].xml'));
    execFileSync('diff', ['-r', x, sz]);
  });

  it('Payload is gzip cpio odc that cpio -i -H odc extracts to exactly the input tree, root-owned', async () => {
    // One gzip member stitched from the cached deflate stream and the fleet's tail: CRC-32 and length must hold.
    execFileSync('gzip', ['-t', join(x, 'agent.pkg/Payload'), join(x, 'agent.pkg/Scripts')]);
    expect(execFileSync('gzip', ['-l', join(x, 'agent.pkg/Payload')], { encoding: 'utf8' })).toMatch(/\d+\s+\d+\s+[\d.]+%/);
    const p = join(work, 'payload');
    mkdirSync(p);
    execFileSync('sh', ['-c', `gzip -dc "$1" | ${tool('cpio')} -i -d -m -H odc --quiet`, 'sh', join(x, 'agent.pkg/Payload')], { cwd: p });
    // The input tree, with the big files as links to their sources.
    const exp = join(work, 'expected');
    const hf = join(exp, 'Library/Application Support/Holdfast');
    for (const d of ['bin', 'lib', 'runtime/arm64', 'runtime/x86_64']) mkdirSync(join(hf, d), { recursive: true });
    mkdirSync(join(exp, 'Library/LaunchDaemons'));
    writeFileSync(join(hf, 'bin/holdfast-agent'), await render('launcher.sh.hbs', {}));
    symlinkSync(agentCopy, join(hf, 'lib/holdfast-agent.mjs'));
    symlinkSync(await nodeRuntime('darwin-arm64'), join(hf, 'runtime/arm64/node'));
    symlinkSync(await nodeRuntime('darwin-x64'), join(hf, 'runtime/x86_64/node'));
    const daemon = readFileSync(join(p, 'Library/LaunchDaemons/com.holdfast.agent.plist'), 'utf8');
    writeFileSync(join(exp, 'Library/LaunchDaemons/com.holdfast.agent.plist'), daemon);
    execFileSync('diff', ['-r', exp, p]);

    const listing = execFileSync('sh', ['-c', `gzip -dc "$1" | ${tool('cpio')} -t -v -n -H odc --quiet`, 'sh', join(x, 'agent.pkg/Payload')], {
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .map((l) => {
        const f = l.split(/\s+/);
        return { mode: f[0], uid: f[2], gid: f[3], path: f.slice(8).join(' ') };
      });
    expect(listing[0].path).toBe('.');
    for (const e of listing) expect([e.path, e.uid, e.gid]).toEqual([e.path, '0', e.path === './Library/Application Support' ? '80' : '0']);
    const modes = Object.fromEntries(listing.map((e) => [e.path, e.mode]));
    expect(modes['./Library/LaunchDaemons/com.holdfast.agent.plist']).toBe('-rw-r--r--');
    expect(modes['./Library/Application Support/Holdfast/bin/holdfast-agent']).toBe('-rwxr-xr-x');
    expect(modes['./Library/Application Support/Holdfast/runtime/arm64/node']).toBe('-rwxr-xr-x');

    const plist = parse(daemon) as { Label: string; ProgramArguments: string[]; RunAtLoad: boolean };
    expect(plist.Label).toBe('com.holdfast.agent');
    expect(plist.ProgramArguments).toEqual([
      '/Library/Application Support/Holdfast/bin/holdfast-agent',
      'service',
      '--config',
      '/Library/Application Support/Holdfast/agent.json',
      '--log',
      '/Library/Logs/holdfast-agent.log',
    ]);
    expect(parse(daemon)).toMatchObject({
      StandardOutPath: '/Library/Logs/holdfast-agent.stderr.log',
      StandardErrorPath: '/Library/Logs/holdfast-agent.stderr.log',
    });
    const daemonFile = join(p, 'Library/LaunchDaemons/com.holdfast.agent.plist');
    xmllint(daemonFile);

    // Bom: exactly the payload's paths, with the right modes, sizes and POSIX cksum CRCs.
    const bom = readBom(readFileSync(join(x, 'agent.pkg/Bom')));
    const npmLsbom = createRequire(import.meta.url)('lsbom') as (b: Buffer) => Array<{ filename: string }>;
    expect(
      npmLsbom(readFileSync(join(x, 'agent.pkg/Bom')))
        .map((f) => f.filename)
        .sort(),
    ).toEqual(listing.map((e) => e.path).sort());
    expect(bom.paths.map((b) => b.path).sort()).toEqual(listing.map((e) => e.path).sort());
    for (const b of bom.paths.filter((e) => e.type === 1)) {
      const [crc, size] = execFileSync('cksum', [join(p, b.path)], { encoding: 'utf8' }).split(' ');
      expect([b.path, b.cksum, b.size]).toEqual([b.path, Number(crc), Number(size)]);
    }
    for (const b of bom.paths) expect([b.path, b.mode & 0o777]).toEqual([b.path, statSync(join(p, b.path)).mode & 0o777]);
    const packageInfo = readFileSync(join(x, 'agent.pkg/PackageInfo'), 'utf8');
    expect(Number(attr(packageInfo, 'payload', 'numberOfFiles'))).toBe(listing.length);
    const bytes = bom.paths.reduce((s, b) => s + b.size, 0);
    expect(Number(attr(packageInfo, 'payload', 'installKBytes'))).toBe(Math.ceil(bytes / 1024));
  });

  it('Scripts holds preinstall/postinstall 0755 and the fleet config 0600, root-owned', async () => {
    const s = join(work, 'scripts');
    mkdirSync(s);
    execFileSync('sh', ['-c', `gzip -dc "$1" | ${tool('cpio')} -i -d -m -H odc --quiet`, 'sh', join(x, 'agent.pkg/Scripts')], { cwd: s });
    expect(statSync(join(s, 'preinstall')).mode & 0o777).toBe(0o755);
    expect(statSync(join(s, 'postinstall')).mode & 0o777).toBe(0o755);
    expect(statSync(join(s, 'agent.json')).mode & 0o777).toBe(0o600);
    const listing = execFileSync('sh', ['-c', `gzip -dc "$1" | ${tool('cpio')} -t -v -n -H odc --quiet`, 'sh', join(x, 'agent.pkg/Scripts')], {
      encoding: 'utf8',
    });
    for (const line of listing.trim().split('\n')) expect(line.split(/\s+/).slice(2, 4)).toEqual(['0', '0']);
    const loaded = await loadFleet(join(repoRoot, 'examples/fleets/demo.fleet.json'));
    expect(JSON.parse(readFileSync(join(s, 'agent.json'), 'utf8'))).toEqual(await agentConfigFromFleet(loaded, resolveSecrets(loaded.fleet, {})));
    for (const f of ['preinstall', 'postinstall']) execFileSync('sh', ['-n', join(s, f)]);
    expect(readFileSync(join(s, 'postinstall'), 'utf8')).toContain('if [ "$VOLUME" = "/" ]; then');
  });

  it('Distribution and PackageInfo are well-formed and carry what Installer needs', () => {
    xmllint(join(x, 'Distribution'));
    xmllint(join(x, 'agent.pkg/PackageInfo'));
    const dist = readFileSync(join(x, 'Distribution'), 'utf8');
    const info = readFileSync(join(x, 'agent.pkg/PackageInfo'), 'utf8');
    expect(attr(dist, 'installer-gui-script', 'minSpecVersion')).toBe('2');
    expect(attr(dist, 'options', 'hostArchitectures')).toBe('x86_64,arm64');
    expect(attr(dist, 'options', 'customize')).toBe('never');
    expect(attr(dist, 'pkg-ref', 'installKBytes')).toBe(attr(info, 'payload', 'installKBytes'));
    expect(dist).toMatch(/<pkg-ref id="com\.holdfast\.agent" version="1\.0\.0"[^>]*>#agent\.pkg<\/pkg-ref>/);
    expect(attr(info, 'pkg-info', 'identifier')).toBe('com.holdfast.agent');
    expect(attr(info, 'pkg-info', 'version')).toBe('1.0.0');
    expect(attr(info, 'pkg-info', 'install-location')).toBe('/');
    expect(attr(info, 'pkg-info', 'auth')).toBe('root');
    expect(attr(info, 'preinstall', 'file')).toBe('./preinstall');
    expect(attr(info, 'postinstall', 'file')).toBe('./postinstall');
  });

  it('a flipped byte in the Payload is caught by bsdtar and 7-Zip', () => {
    const bad = readFileSync(pkg);
    const heap = 28 + Number(bad.readBigUInt64BE(8));
    bad[heap + 20 + 40_000 + Math.floor(statSync(join(x, 'agent.pkg/Payload')).size / 2)] ^= 0x10;
    const file = join(work, 'bad.pkg');
    writeFileSync(file, bad);
    const dest = join(work, 'bad');
    mkdirSync(dest);
    const b = spawnSync(tool('bsdtar'), ['-xf', file, '-C', dest], { encoding: 'utf8' });
    expect(b.status).not.toBe(0);
    expect(b.stderr).toMatch(/agent\.pkg\/Payload/);
    const s = spawnSync(SEVENZIP(), ['t', file], { encoding: 'utf8' });
    expect(s.status).not.toBe(0);
    expect(s.stdout + s.stderr).toMatch(/CRC Failed|Sumcheck error/);
  });
});

describe('pkg target across fleets', () => {
  it('reuses the cached shared payload for a second fleet: the cache is read, not rewritten', async () => {
    const loaded = await loadFleet(join(repoRoot, 'examples/fleets/acme.fleet.json'));
    const secrets = resolveSecrets(loaded.fleet, { ACME_TECHNICIAN_ID: 'ACME-TECH-7777', ACME_PROXY_PASSWORD: 'pw-never-printed' });
    const messages: string[] = [];
    const cacheBefore = cacheListing();
    expect(cacheBefore.length).toBeGreaterThan(0);
    const artifacts: Artifact[] = await pkgTarget.make({
      loaded,
      secrets,
      outDir: join(out, 'acme'),
      cacheDir: cache,
      previous: [],
      progress: (m) => messages.push(m),
    });
    expect(messages.join('\n')).not.toMatch(/compressing the shared payload/);
    expect(messages.join('\n')).toMatch(/shared payload from cache/);
    expect(cacheListing()).toEqual(cacheBefore);
    expect(artifacts.map((a) => a.path.split('/').at(-1))).toEqual(['holdfast-acme.pkg', 'holdfast-acme-uninstall.sh']);
    expect(JSON.stringify(artifacts)).not.toContain('ACME-TECH-7777');
    expect(messages.join('\n')).not.toMatch(/ACME-TECH-7777|pw-never-printed/);
    // Same big payload bytes as the demo fleet; per-fleet tail differs (its own LaunchDaemon).
    const ax = join(work, 'ax');
    mkdirSync(ax);
    execFileSync(tool('bsdtar'), ['-xf', artifacts[0].path, '-C', ax]);
    const list = execFileSync('sh', ['-c', `gzip -dc "$1" | ${tool('cpio')} -t -H odc --quiet`, 'sh', join(ax, 'agent.pkg/Payload')], { encoding: 'utf8' });
    expect(list).toContain('./Library/LaunchDaemons/com.acme.backup.plist');
    const sc = join(work, 'as');
    mkdirSync(sc);
    execFileSync('sh', ['-c', `gzip -dc "$1" | ${tool('cpio')} -i -H odc --quiet`, 'sh', join(ax, 'agent.pkg/Scripts')], { cwd: sc });
    const cfg = JSON.parse(readFileSync(join(sc, 'agent.json'), 'utf8'));
    expect(cfg.technicianId).toBe('ACME-TECH-7777');
    expect(cfg.proxy).toMatchObject({ type: 'socks5', host: 'proxy.acme.example', port: 1080, password: 'pw-never-printed' });
    expect(existsSync(join(out, 'acme', 'holdfast-acme.pkg'))).toBe(true);
    expect(execFileSync(SEVENZIP(), ['t', artifacts[0].path], { encoding: 'utf8' })).toContain('Everything is Ok');
  });
});
