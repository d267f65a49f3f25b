// Firewall rule sheets from the fleet's server subnets and port: nftables, iptables/ip6tables, pf, Windows
// Defender Firewall (PowerShell) and a vendor-neutral table. Outbound TCP to the servers' port only, return
// traffic only for established connections, no UDP or ICMP: what the seed guide asks of a firewall admin.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { fleetDialAddresses, fleetForwardings, fleetPorts } from '../../fleet/addresses.js';
import { formatEndpoint } from '../../common/endpoint.js';
import { parseCidr } from '../../fleet/load.js';
import type { Fleet } from '../../fleet/types.js';
import { renderTemplate } from './mdm-templates.js';
import { needsNoTools, type Artifact, type BuildContext, type Target } from './target.js';
import { csvTable } from '../../common/csv.js';

export const FIREWALL_DIR = 'firewall';

export interface Subnet {
  /** Network address/prefix with host bits cleared, in canonical text form. */
  cidr: string;
  family: 4 | 6;
}

function ipv4ToInt(a: string): number {
  return a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

function ipv6ToBigInt(a: string): bigint {
  let text = a;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = ipv4ToInt(v4[1]);
    text = `${text.slice(0, v4.index)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function bigIntToIpv6(n: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  // RFC 5952: compress the longest run (length >= 2) of zero groups.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** Canonical network/prefix of a CIDR string (host bits cleared); throws naming the bad value. */
export function normalizeSubnet(s: string): Subnet {
  const c = parseCidr(s);
  if (!c) throw new Error(`serverSubnets: ${JSON.stringify(s)} is not an IPv4 or IPv6 subnet in CIDR notation`);
  if (c.family === 4) {
    const mask = c.prefix === 0 ? 0 : (0xffffffff << (32 - c.prefix)) >>> 0;
    const n = (ipv4ToInt(c.address) & mask) >>> 0;
    return { cidr: `${[24, 16, 8, 0].map((sh) => (n >>> sh) & 255).join('.')}/${c.prefix}`, family: 4 };
  }
  const mask = c.prefix === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - c.prefix)) - 1n);
  return { cidr: `${bigIntToIpv6(ipv6ToBigInt(c.address) & mask)}/${c.prefix}`, family: 6 };
}

/** First and last address of an IPv4 subnet, as the seed guide writes them (12.159.133.0-63). */
export function ipv4Range(cidr: string): string | undefined {
  const c = parseCidr(cidr);
  if (!c || c.family !== 4) return undefined;
  const size = 2 ** (32 - c.prefix);
  const start = ipv4ToInt(normalizeSubnet(cidr).cidr.split('/')[0]);
  const fmt = (n: number) => [24, 16, 8, 0].map((sh) => Math.floor(n / 2 ** sh) % 256).join('.');
  return `${fmt(start)} - ${fmt(start + size - 1)}`;
}

/** Text safe inside a one-line comment of any of the sheets (no line breaks, no control characters). */
export function commentText(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ');
}

/** A PowerShell single-quoted string: its quote characters (ASCII and typographic) are doubled. */
export function psQuote(s: string): string {
  return `'${commentText(s).replace(/['\u2018\u2019\u201a\u201b]/g, (q) => q + q)}'`;
}

/** Whether a subnet holds an address (same family only). */
export function subnetContains(subnet: Subnet, host: string): boolean {
  const [net, bits] = subnet.cidr.split('/');
  const prefix = Number(bits);
  const hostIs4 = /^\d+\.\d+\.\d+\.\d+$/.test(host);
  if ((subnet.family === 4) !== hostIs4) return false;
  if (subnet.family === 4) {
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    return (ipv4ToInt(host) & mask) >>> 0 === (ipv4ToInt(net) & mask) >>> 0;
  }
  const mask = prefix === 0 ? 0n : ((1n << 128n) - 1n) ^ ((1n << BigInt(128 - prefix)) - 1n);
  return (ipv6ToBigInt(host) & mask) === (ipv6ToBigInt(net) & mask);
}

export interface FirewallModel {
  fleet: string;
  customer: string;
  product: string;
  /** The fleet's server port (what the seed has every server listen on). */
  port: number;
  /** Every port the fleet's agents dial: the server port and any other port an address of the fleet uses. */
  ports: number[];
  /** `ports` as each syntax writes a list ("16384" for one port, so one-port sheets stay as they were). */
  portText: { nft: string; iptDport: string; iptSport: string; pf: string; ps: string; plain: string };
  subnets: Subnet[];
  v4: string[];
  v6: string[];
  /** Mapped firewall: one firewall port per server address, forwarded (DNAT / rdr) to it. */
  forwards: Array<{
    n: number;
    family: 4 | 6;
    firewall: string;
    firewallHost: string;
    firewallPort: number;
    server: string;
    serverHost: string;
    serverPort: number;
  }>;
  /** nftables table name / iptables chain name / pf table name. */
  nftTable: string;
  chain: string;
  pfTable: string;
  /** PowerShell quoted values. */
  ps: {
    group: string;
    outName: string;
    outDisplay: string;
    udpName: string;
    udpDisplay: string;
    icmp4Name: string;
    icmp4Display: string;
    icmp6Name: string;
    icmp6Display: string;
    inName: string;
    inDisplay: string;
    addresses: string;
  };
  rows: Array<{ n: number; direction: string; protocol: string; source: string; destination: string; port: string; state: string; action: string }>;
}

export function firewallModel(fleet: Fleet): FirewallModel {
  const subnets: Subnet[] = [];
  for (const s of fleet.serverSubnets) {
    const n = normalizeSubnet(s);
    if (!subnets.some((x) => x.cidr === n.cidr)) subnets.push(n);
  }
  // Every address agents dial must pass, also one outside the server subnets (as a single-host entry).
  const dialed = fleetDialAddresses(fleet);
  for (const a of dialed) {
    if (subnets.some((x) => subnetContains(x, a.host))) continue;
    subnets.push(normalizeSubnet(`${a.host}/${a.host.includes(':') ? 128 : 32}`));
  }
  const ports = fleetPorts(fleet);
  const forwards = fleetForwardings(fleet).map((f, i) => ({
    n: i + 1,
    family: (f.server.host.includes(':') ? 6 : 4) as 4 | 6,
    firewall: formatEndpoint(f.firewall.host, f.firewall.port),
    firewallHost: f.firewall.host,
    firewallPort: f.firewall.port,
    server: formatEndpoint(f.server.host, f.server.port),
    serverHost: f.server.host,
    serverPort: f.server.port,
  }));
  const one = ports.length === 1;
  const v4 = subnets.filter((s) => s.family === 4).map((s) => s.cidr);
  const v6 = subnets.filter((s) => s.family === 6).map((s) => s.cidr);
  const id = fleet.fleet;
  const product = commentText(fleet.branding.product);
  const port = fleet.port;
  const all = subnets.map((s) => s.cidr).join(', ');
  return {
    fleet: id,
    customer: commentText(fleet.customer),
    product,
    port,
    ports,
    portText: {
      nft: one ? String(ports[0]) : `{ ${ports.join(', ')} }`,
      iptDport: one ? `-m tcp --dport ${ports[0]}` : `-m multiport --dports ${ports.join(',')}`,
      iptSport: one ? `-m tcp --sport ${ports[0]}` : `-m multiport --sports ${ports.join(',')}`,
      pf: one ? String(ports[0]) : `{ ${ports.join(' ')} }`,
      ps: ports.join(','),
      plain: ports.join(', '),
    },
    subnets,
    forwards,
    v4,
    v6,
    nftTable: `holdfast_${id.replace(/-/g, '_')}`,
    // iptables chain names hold at most 28 characters.
    chain: `HF-${id.slice(0, 20)}`,
    pfTable: `holdfast_${id.replace(/-/g, '_')}`,
    ps: {
      group: psQuote(`Holdfast ${id}`),
      outName: psQuote(`Holdfast-${id}-Out-TCP`),
      outDisplay: psQuote(`${product}: outbound TCP ${ports.join(', ')} to the backup servers`),
      udpName: psQuote(`Holdfast-${id}-Block-UDP`),
      udpDisplay: psQuote(`${product}: no UDP to the backup servers`),
      icmp4Name: psQuote(`Holdfast-${id}-Block-ICMPv4`),
      icmp4Display: psQuote(`${product}: no ICMPv4 to the backup servers`),
      icmp6Name: psQuote(`Holdfast-${id}-Block-ICMPv6`),
      icmp6Display: psQuote(`${product}: no ICMPv6 to the backup servers`),
      inName: psQuote(`Holdfast-${id}-Block-Inbound`),
      inDisplay: psQuote(`${product}: no connections initiated by the backup servers`),
      addresses: `@(${subnets.map((s) => psQuote(s.cidr)).join(', ')})`,
    },
    rows: [
      {
        n: 1,
        direction: 'outbound',
        protocol: 'TCP',
        source: 'backup clients (inside)',
        destination: all,
        port: ports.join(', '),
        state: 'new, established',
        action: 'permit',
      },
      {
        n: 2,
        direction: 'inbound',
        protocol: 'TCP',
        source: `${all} (source port ${ports.join(', ')})`,
        destination: 'backup clients (inside)',
        port: 'client port (any, ephemeral)',
        state: 'established only (replies)',
        action: 'permit',
      },
      {
        n: 3,
        direction: 'inbound',
        protocol: 'any',
        source: all,
        destination: 'backup clients (inside)',
        port: 'any',
        state: 'new (initiated from outside)',
        action: 'deny',
      },
      {
        n: 4,
        direction: 'both',
        protocol: 'UDP, ICMP, other TCP ports',
        source: 'backup clients (inside)',
        destination: all,
        port: 'any',
        state: 'any',
        action: 'deny',
      },
    ],
  };
}

/** File name -> content of every sheet. */
export function renderFirewallSheets(fleet: Fleet): Record<string, string> {
  const m = firewallModel(fleet);
  const sheets: Record<string, string> = {
    'nftables.nft': renderTemplate('firewall/nftables.nft.hbs', m, { escape: false }),
    'iptables.rules': renderTemplate(
      'firewall/iptables.rules.hbs',
      { ...m, family: 4, subnetsOfFamily: m.v4, forwardsOfFamily: m.forwards.filter((f) => f.family === 4) },
      { escape: false },
    ),
    'ip6tables.rules': renderTemplate(
      'firewall/iptables.rules.hbs',
      { ...m, family: 6, subnetsOfFamily: m.v6, forwardsOfFamily: m.forwards.filter((f) => f.family === 6) },
      { escape: false },
    ),
    'pf.conf': renderTemplate('firewall/pf.conf.hbs', m, { escape: false }),
    'windows-firewall.ps1': renderTemplate('firewall/windows-firewall.ps1.hbs', m, { escape: false }),
    'rules.md': renderTemplate(
      'firewall/rules.md.hbs',
      { ...m, rows: m.rows.map(escapeRow), customer: markdownText(m.customer), product: markdownText(m.product) },
      { escape: false },
    ),
    'rules.csv': renderCsv(m),
  };
  return sheets;
}

/** Markdown-significant characters of a fleet value, backslash-escaped; HTML-ish characters as entities. */
export function markdownText(s: string): string {
  return commentText(s)
    .replace(/[\\`*_[\]#|~>]/g, (c) => `\\${c}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;');
}

function escapeRow(r: FirewallModel['rows'][number]): FirewallModel['rows'][number] {
  return { ...r, source: r.source.replace(/\|/g, '\\|'), destination: r.destination.replace(/\|/g, '\\|') };
}

function renderCsv(m: FirewallModel): string {
  const header = ['rule', 'direction', 'protocol', 'source', 'destination', 'port', 'state', 'action'];
  const rows = m.rows.map((r) => [String(r.n), r.direction, r.protocol, r.source, r.destination, r.port, r.state, r.action]);
  for (const f of m.forwards) {
    rows.push([`F${f.n}`, 'forward (mapped firewall)', 'TCP', 'backup clients (inside)', f.firewall, String(f.firewallPort), 'new', `forward to ${f.server}`]);
  }
  return csvTable(header, rows, 'windows');
}

export const firewallTarget: Target = {
  name: 'firewall',
  description: 'Firewall rule sheets: nftables, iptables, ip6tables, pf, Windows Defender Firewall and a plain table',
  isSupported: needsNoTools,
  async make(ctx: BuildContext): Promise<Artifact[]> {
    const dir = join(ctx.outDir, FIREWALL_DIR);
    await mkdir(dir, { recursive: true });
    ctx.progress('firewall: writing rule sheets');
    const descriptions: Record<string, string> = {
      'nftables.nft': 'nftables rule set (check with `nft -c -f`, load with `nft -f`)',
      'iptables.rules': 'iptables rules (check with `iptables-restore --test`, load with `iptables-restore --noflush`)',
      'ip6tables.rules': 'ip6tables rules (check with `ip6tables-restore --test`, load with `ip6tables-restore --noflush`)',
      'pf.conf': 'pf anchor for macOS/BSD (load with `pfctl -a holdfast -f`)',
      'windows-firewall.ps1': 'Windows Defender Firewall rules (New-NetFirewallRule, run as administrator)',
      'rules.md': 'vendor-neutral rule table (Markdown)',
      'rules.csv': 'vendor-neutral rule table (CSV)',
    };
    const out: Artifact[] = [];
    for (const [name, content] of Object.entries(renderFirewallSheets(ctx.loaded.fleet))) {
      const path = join(dir, name);
      await writeFile(path, content);
      out.push({ path, target: 'firewall', description: descriptions[name] ?? name });
    }
    return out;
  },
};
