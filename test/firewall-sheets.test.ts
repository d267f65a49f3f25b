// Firewall rule sheets: golden files for the example fleet; Debian's nft and iptables-restore accept them
// (check mode only: nothing is applied); pf and PowerShell structure; IPv6; hostile fleet values.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadFleet, parseFleet } from '../fleet/load.js';
import type { Fleet } from '../fleet/types.js';
import { firewallTarget, normalizeSubnet, renderFirewallSheets } from '../deployer/targets/firewall.js';
import { repoRoot } from './helpers/paths.js';

const golden = join(repoRoot, 'test/golden/firewall');
let work: string;
let acme: Fleet;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hf-firewall-'));
  acme = (await loadFleet(join(repoRoot, 'examples/fleets/acme.fleet.json'))).fleet;
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function requireTool(cmd: string, pkg: string): void {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`]);
  if (r.status !== 0) throw new Error(`${cmd} is missing: install it with \`apt-get install -y ${pkg}\``);
}

/** Run a checker in check mode only; returns its exit status and output. */
function check(cmd: string, args: string[], file: string): { status: number | null; output: string } {
  const r = spawnSync(cmd, [...args, file], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

function sheetsIn(dir: string, fleet: Fleet): Record<string, string> {
  const sheets = renderFirewallSheets(fleet);
  for (const [name, text] of Object.entries(sheets)) writeFileSync(join(dir, name), text);
  return sheets;
}

function hostileFleet(): Fleet {
  const doc = JSON.parse(readFileSync(join(repoRoot, 'examples/fleets/acme.fleet.json'), 'utf8'));
  doc.customer = `Evil' + $(Remove-Item C:\\ -Recurse) "; rm -rf / # \u2019) } ]]> <x> & \`whoami\` ${'A'.repeat(40)}`;
  doc.branding.product = `Backup -- it's (ours) & co`;
  doc.fleet = 'evil--fleet';
  doc.port = 443;
  doc.registration = { primary: '10.1.2.3:443', alternate: '192.168.7.9:443' };
  doc.serverSubnets = ['10.1.2.3/8', '2001:DB8:0:0:1::5/64', '192.168.7.0/24'];
  return parseFleet(JSON.stringify(doc), 'hostile.fleet.json');
}

describe('firewall rule sheets', () => {
  it('match the golden files for examples/fleets/acme.fleet.json', () => {
    const sheets = renderFirewallSheets(acme);
    expect(Object.keys(sheets).sort()).toEqual([
      'ip6tables.rules',
      'iptables.rules',
      'nftables.nft',
      'pf.conf',
      'rules.csv',
      'rules.md',
      'windows-firewall.ps1',
    ]);
    for (const [name, text] of Object.entries(sheets)) expect(text, name).toBe(readFileSync(join(golden, name), 'utf8'));
  });

  it('are accepted by nft -c -f, iptables-restore --test and ip6tables-restore --test, and a broken sheet is refused', () => {
    requireTool('nft', 'nftables');
    requireTool('iptables-restore', 'iptables');
    const dir = mkdtempSync(join(work, 'acme-'));
    sheetsIn(dir, acme);
    for (const [cmd, args, file] of [
      ['nft', ['-c', '-f'], 'nftables.nft'],
      ['iptables-restore', ['--test'], 'iptables.rules'],
      ['ip6tables-restore', ['--test'], 'ip6tables.rules'],
    ] as const) {
      const r = check(cmd, [...args], join(dir, file));
      expect(r.status, `${cmd} ${file}: ${r.output}`).toBe(0);
    }
    // The checkers really check: a subnet typo fails both.
    writeFileSync(join(dir, 'bad.nft'), readFileSync(join(dir, 'nftables.nft'), 'utf8').replace('12.159.133.0/26', '12.159.133.0/26x'));
    expect(check('nft', ['-c', '-f'], join(dir, 'bad.nft')).status).not.toBe(0);
    writeFileSync(join(dir, 'bad.rules'), readFileSync(join(dir, 'iptables.rules'), 'utf8').replace('--dport 16384', '--dport 99999'));
    expect(check('iptables-restore', ['--test'], join(dir, 'bad.rules')).status).not.toBe(0);
  });

  it('permit outbound TCP to every subnet and port, replies only for established connections, and nothing else', () => {
    const s = renderFirewallSheets(acme);
    const v4 = ['12.159.133.0/26', '66.151.228.0/24'];
    const v6 = ['2001:db8:16::/48'];
    expect(s['nftables.nft']).toContain(`elements = { ${v4.join(', ')} }`);
    expect(s['nftables.nft']).toContain(`elements = { ${v6.join(', ')} }`);
    expect(s['nftables.nft']).toMatch(/ip saddr @servers_v4 tcp sport 16384 ct state established accept/);
    expect(s['nftables.nft']).not.toMatch(/udp|icmp .* accept/);
    for (const net of v4) {
      expect(s['iptables.rules']).toContain(`-d ${net} -p tcp -m tcp --dport 16384 -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT`);
      expect(s['iptables.rules']).toContain(`-s ${net} -p tcp -m tcp --sport 16384 -m conntrack --ctstate ESTABLISHED -j ACCEPT`);
      expect(s['ip6tables.rules']).not.toContain(net);
    }
    expect(s['ip6tables.rules']).toContain('-d 2001:db8:16::/48 -p tcp');
    expect(s['iptables.rules']).not.toMatch(/-p (udp|icmp)[^\n]*ACCEPT/);
    // pf: one table with every subnet, one stateful pass out on TCP to the port, blocks both ways.
    expect(s['pf.conf']).toContain(`table <holdfast_acme> const { ${[...v4, ...v6].join(', ')} }`);
    expect(s['pf.conf'].match(/^pass /gm)).toHaveLength(1);
    expect(s['pf.conf']).toMatch(/^pass out quick proto tcp from any to <holdfast_acme> port 16384 flags S\/SA keep state$/m);
    expect(s['pf.conf']).toMatch(/^block drop in quick from <holdfast_acme> to any$/m);
    // PowerShell: exactly one Allow rule, outbound TCP to the port; UDP/ICMP and inbound blocked.
    const rules = s['windows-firewall.ps1'].split('\n').filter((l) => l.startsWith('New-NetFirewallRule'));
    expect(rules.filter((l) => l.includes('-Action Allow'))).toEqual([
      expect.stringMatching(/-Direction Outbound -Action Allow -Protocol TCP -RemoteAddress \$servers -RemotePort 16384/),
    ]);
    expect(rules.filter((l) => l.includes('-Action Block')).map((l) => /-Protocol (\w+)/.exec(l)?.[1] ?? 'Any')).toEqual(['UDP', 'ICMPv4', 'ICMPv6', 'Any']);
    expect(s['windows-firewall.ps1']).toContain("$servers = @('12.159.133.0/26', '66.151.228.0/24', '2001:db8:16::/48')");
    expect(s['rules.csv'].split('\r\n')[0]).toBe('rule,direction,protocol,source,destination,port,state,action');
  });

  it('normalise subnets (host bits cleared, IPv6 canonical) and escape hostile fleet values in every sheet', () => {
    expect(normalizeSubnet('10.1.2.3/8').cidr).toBe('10.0.0.0/8');
    expect(normalizeSubnet('2001:DB8:0:0:1::5/64').cidr).toBe('2001:db8::/64');
    expect(normalizeSubnet('::ffff:10.0.0.1/120').cidr).toBe('::ffff:a00:0/120');
    const fleet = hostileFleet();
    const dir = mkdtempSync(join(work, 'hostile-'));
    const s = sheetsIn(dir, fleet);
    expect(check('nft', ['-c', '-f'], join(dir, 'nftables.nft')).status).toBe(0);
    expect(check('iptables-restore', ['--test'], join(dir, 'iptables.rules')).status).toBe(0);
    expect(check('ip6tables-restore', ['--test'], join(dir, 'ip6tables.rules')).status).toBe(0);
    expect(s['iptables.rules']).toContain('-d 10.0.0.0/8 -p tcp -m tcp --dport 443');
    expect(s['ip6tables.rules']).toContain('-d 2001:db8::/64 -p tcp -m tcp --dport 443');
    // Every line of the shell-ish sheets that carries the customer name is a comment.
    for (const name of ['nftables.nft', 'iptables.rules', 'ip6tables.rules', 'pf.conf', 'windows-firewall.ps1']) {
      for (const line of s[name].split('\n').filter((l) => l.includes('Evil'))) expect(line, `${name}: ${line}`).toMatch(/^#/);
    }
    // PowerShell: every argument is a complete single-quoted string (quote characters doubled).
    const psString = /'(?:[^'\u2018\u2019\u201a\u201b]|['\u2018\u2019\u201a\u201b]{2})*'/g;
    for (const line of s['windows-firewall.ps1'].split('\n').filter((l) => l.startsWith('New-NetFirewallRule'))) {
      const rest = line.replace(psString, "''");
      expect(rest, line).toMatch(/^New-NetFirewallRule( -\w+ ('{2}|\$servers|\w+))+ \| Out-Null$/);
    }
    expect(s['windows-firewall.ps1']).toContain("'Backup -- it''s (ours) & co: outbound TCP 443 to the backup servers'");
    // Markdown: table cells cannot be broken by the values; HTML-significant characters are entities.
    expect(s['rules.md']).not.toContain('<x>');
    expect(s['rules.md'].split('\n')[0]).not.toMatch(/[<]/);
    // CSV: values quoted so the column count stays 8.
    for (const line of s['rules.csv'].trim().split('\r\n')) expect(line.match(/("([^"]|"")*"|[^,]*)(,|$)/g)!.filter(Boolean).length).toBeGreaterThanOrEqual(8);
  });

  it('the target writes every sheet under firewall/', async () => {
    const out = mkdtempSync(join(work, 'target-'));
    const loaded = await loadFleet(join(repoRoot, 'examples/fleets/acme.fleet.json'));
    const artifacts = await firewallTarget.make({ loaded, secrets: {}, outDir: out, cacheDir: out, previous: [], progress: () => {} });
    expect(artifacts.map((a) => a.path.slice(out.length + 1)).sort()).toEqual([
      'firewall/ip6tables.rules',
      'firewall/iptables.rules',
      'firewall/nftables.nft',
      'firewall/pf.conf',
      'firewall/rules.csv',
      'firewall/rules.md',
      'firewall/windows-firewall.ps1',
    ]);
    expect(execFileSync('nft', ['-c', '-f', join(out, 'firewall/nftables.nft')]).length).toBe(0);
  });
});
