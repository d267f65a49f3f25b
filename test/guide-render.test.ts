// The per-fleet deployment guide: sections of the seed guide for this fleet (subnets, port, proxy, rules),
// every silent install line, values from the other targets' artifacts, no secrets, hostile values escaped
// in Markdown and HTML.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadFleet, parseFleet } from '../fleet/load.js';
import { guideContext, guideTarget, renderGuide } from '../deployer/targets/guide.js';
import { installTimeSecrets } from '../deployer/targets/target.js';
import { repoRoot } from './helpers/paths.js';

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'hf-guide-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const seedSections = [
  'What you received',
  'Deployment and installation',
  'Configuring your firewall',
  'Overview',
  'Protocols',
  'Server subnets',
  'Port',
  'DNS',
  'Registration vs. subsequent connections',
  'Packet-filtering firewalls',
  'Proxy servers',
  'Verifying a rollout',
];

describe('deployment guide', () => {
  it('regenerates the seed guide for the example fleet, Markdown and HTML, with every install line and no secret', async () => {
    const loaded = await loadFleet(join(repoRoot, 'examples/fleets/acme.fleet.json'));
    const out = mkdtempSync(join(work, 'acme-'));
    const previous = [
      {
        target: 'msi',
        path: join(out, 'holdfast-acme.msi'),
        description: 'msi',
        installCommands: [{ channel: 'msiexec' as const, command: 'msiexec /i holdfast-acme.msi /qn /norestart /l*v install.log TECHNICIANID=<id>' }],
      },
      {
        target: 'pkg',
        path: join(out, 'holdfast-acme.pkg'),
        description: 'pkg',
        installCommands: [{ channel: 'installer' as const, command: 'sudo installer -pkg holdfast-acme.pkg -target /' }],
      },
    ];
    const artifacts = await guideTarget.make({
      loaded,
      secrets: { technicianId: 'SECRET-TECH-9999', proxyPassword: 'proxy-pass-secret' },
      outDir: out,
      cacheDir: out,
      previous,
      progress: () => {},
    });
    expect(artifacts.map((a) => a.path.slice(out.length + 1))).toEqual(['deployment-guide.md', 'deployment-guide.html']);
    const md = readFileSync(join(out, 'deployment-guide.md'), 'utf8');
    const html = readFileSync(join(out, 'deployment-guide.html'), 'utf8');
    // HTML text as a browser shows it (handlebars escapes & < > " ' ` =).
    const shown = html
      .replace(/&#x([0-9A-Fa-f]+);/g, (_m, h: string) => String.fromCodePoint(parseInt(h, 16)))
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&amp;/g, '&');
    for (const doc of [md, shown]) {
      for (const s of seedSections) expect(doc).toContain(s);
      expect(doc).not.toContain('SECRET-TECH-9999');
      expect(doc).not.toContain('proxy-pass-secret');
      for (const s of ['12.159.133.0/26', '12.159.133.0 - 12.159.133.63', '66.151.228.0/24', '66.151.228.0 - 66.151.228.255', '2001:db8:16::/48'])
        expect(doc).toContain(s);
      expect(doc).toContain('12.159.133.10:16384');
      expect(doc).toContain('port 16384');
      // Every channel's silent line.
      expect(doc).toContain('msiexec /i holdfast-acme.msi /qn /norestart /l*v install.log TECHNICIANID=');
      expect(doc).toContain('msiexec /i "holdfast-acme.msi" /qn /norestart'); // Intune
      expect(doc).toContain('holdfast-deploy push intune acme.fleet.json --tenant');
      expect(doc).toContain('install-holdfast-acme.cmd');
      expect(doc).toContain('/qn /norestart /l*v');
      expect(doc).toContain('sudo installer -pkg holdfast-acme.pkg -target /');
      expect(doc).toContain('holdfast-deploy push jamf acme.fleet.json --url');
      expect(doc).toContain('sudo jamf policy -event holdfast-acme');
      expect(doc).toContain('holdfast-acme.admx');
      expect(doc).toMatch(/socks5/);
      expect(doc).toContain('proxy.acme.example');
      expect(doc).toContain('status --json');
      expect(doc).toContain('no UDP and no ICMP');
      // What the fleet backs up: every user profile (empty include), its excludes, the per-OS defaults, protected paths.
      expect(doc).toContain('What is backed up');
      expect(doc).toContain('Every local user profile on each machine');
      expect(doc).toContain('the user profiles in the ProfileList registry key');
      expect(doc).toContain('the folders in /Users');
      expect(doc).toContain('AppData/Local/Temp');
      expect(doc).toContain('Library/Caches');
      expect(doc).toContain('Documents/Finance of every user (');
    }
    expect(md).toContain('| 1 | outbound | TCP | backup clients (inside) | 12.159.133.0/26, 66.151.228.0/24, 2001:db8:16::/48 | 16384 |');
    expect(md).toContain('built into the installers of this fleet');
    expect(shown).toContain('Documents/Finance of every user (C:\\Users\\<user>\\Documents\\Finance, /Users/<user>/Documents/Finance)');
    execFileSync('xmllint', ['--html', '--noout', join(out, 'deployment-guide.html')]);
  });

  it('escapes hostile values: HTML auto-escaped, Markdown-significant characters backslash-escaped', () => {
    const doc = JSON.parse(readFileSync(join(repoRoot, 'examples/fleets/acme.fleet.json'), 'utf8'));
    doc.customer = '<script>alert(1)</script> **bold** [link](javascript:x) | pipe ` tick # & ]]>';
    doc.proxy = { type: 'http', host: 'gw.example', port: 3128 };
    doc.branding.supportUrl = 'https://example.com/a?b=1&c=2';
    const fleet = parseFleet(JSON.stringify(doc), 'hostile.fleet.json');
    const { markdown, html } = renderGuide(guideContext(fleet, [], installTimeSecrets(fleet, {})));
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; **bold** [link](javascript:x) | pipe &#x60; tick # &amp; ]]&gt;');
    expect(html).toContain('href="https://example.com/a?b&#x3D;1&amp;c&#x3D;2"');
    expect(markdown).not.toContain('<script>');
    expect(markdown).toContain('&lt;script\\>alert(1)&lt;/script\\> \\*\\*bold\\*\\* \\[link\\](javascript:x) \\| pipe \\` tick \\# &amp; \\]\\]\\>');
    // The title line stays one heading line; table rows keep their cell count.
    expect(markdown.split('\n')[0].startsWith('# ')).toBe(true);
    for (const row of markdown.split('\n').filter((l) => /^\| \d /.test(l))) expect(row.replace(/\\\|/g, '').split('|').length).toBe(10);
    // Not embedded: the guide tells admins to give the Technician ID at install time.
    expect(markdown).toContain('TECHNICIANID=<Technician ID>');
    expect(markdown).toMatch(/CONNECT method to port 16384/);
  });

  it("documents uninstalling through Intune (the app's msiexec /x line) and Jamf (the uninstall policy the push creates)", async () => {
    const loaded = await loadFleet(join(repoRoot, 'examples/fleets/acme.fleet.json'));
    const out = mkdtempSync(join(work, 'uninstall-'));
    const appJson = join(out, 'win32LobApp.json');
    writeFileSync(appJson, JSON.stringify({ uninstallCommandLine: 'msiexec /x "{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}" /qn /norestart' }));
    const previous = [
      { target: 'intune', path: appJson, description: 'Graph win32LobApp body' },
      { target: 'pkg', path: join(out, 'holdfast-acme-uninstall.sh'), description: 'Uninstall script' },
    ];
    const { markdown } = renderGuide(guideContext(loaded.fleet, previous, [], 'acme.fleet.json'));
    const section = markdown.slice(markdown.indexOf('## Uninstalling through your MDM'), markdown.indexOf('## Configuring your firewall'));
    expect(section).toContain('### Windows, Microsoft Intune');
    expect(section).toContain('msiexec /x "{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}" /qn /norestart');
    expect(section).toMatch(/add the devices' group under Uninstall/);
    expect(section).toContain('### macOS, Jamf Pro');
    expect(section).toContain('--uninstall-group <computer-group-id>');
    expect(section).toContain('sudo jamf policy -event holdfast-acme-uninstall');
    expect(section).toContain('"Uninstall ACME Backup (acme)"');
    expect(section).toContain('holdfast-acme-uninstall.sh');
    // keepOnUninstall: the guide says how to purge.
    expect(section).toContain('parameter 4 to "--purge"');
  });
});
