// The firewall sheets let through every address the fleet's agents dial (registration pair, server subnets on the
// server port, and any other port an address of the fleet uses), and validation warns about an address off the
// server port. Through the real CLI; nftables and iptables sheets are loaded into a private network namespace
// (unshare -n) and real TCP connections to 127.0.0.x / ::1 show what passes; pf, PowerShell and the plain tables
// are read back rule by rule.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { BlockList } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployBin, repoRoot } from './helpers/paths.js';

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'hf-fwports-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Dial {
  host: string;
  port: number;
}

function deploy(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [deployBin, ...args], { encoding: 'utf8', cwd: work });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function requireTool(cmd: string, pkg: string): void {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) throw new Error(`${cmd} is missing: install it with \`apt-get install -y ${pkg}\``);
}

function inList(cidrs: string[], host: string): boolean {
  const list = new BlockList();
  for (const c of cidrs) {
    const [net, prefix] = c.split('/');
    list.addSubnet(net, Number(prefix), net.includes(':') ? 'ipv6' : 'ipv4');
  }
  return list.check(host, host.includes(':') ? 'ipv6' : 'ipv4');
}

const portsOf = (text: string) =>
  text
    .split(/[\s,{}]+/)
    .filter(Boolean)
    .map(Number);

/** What each read-back sheet permits outbound: destination networks and ports of its allow rule. */
const readers: Record<string, (text: string) => { cidrs: string[]; ports: number[] }> = {
  'pf.conf': (t) => ({
    cidrs: /^table <\w+> const \{ (.*) \}$/m.exec(t)![1].split(', '),
    ports: portsOf(/^pass out quick proto tcp from any to <\w+> port (.*) flags/m.exec(t)![1]),
  }),
  'windows-firewall.ps1': (t) => ({
    cidrs: [.../^\$servers = @\((.*)\)$/m.exec(t)![1].matchAll(/'([^']+)'/g)].map((m) => m[1]),
    ports: portsOf(/-Direction Outbound -Action Allow -Protocol TCP -RemoteAddress \$servers -RemotePort (\S+)/.exec(t)![1]),
  }),
  'rules.csv': (t) => {
    const cells = [...t.split('\r\n')[1].matchAll(/("(?:[^"]|"")*"|[^,]*)(?:,|$)/g)].map((m) => m[1].replace(/^"|"$/g, ''));
    return { cidrs: cells[4].split(', '), ports: portsOf(cells[5]) };
  },
  'rules.md': (t) => {
    const cells = /^\| 1 \|(.*)$/m
      .exec(t)![1]
      .split(' | ')
      .map((c) => c.trim());
    return { cidrs: cells[3].split(', '), ports: portsOf(cells[4]) };
  },
};

/** Dial every address from inside a fresh network namespace that has only the sheet loaded; the ones that connected. */
function dialThroughSheet(loader: string, sheet: string, dials: Dial[]): Dial[] {
  const probe = join(work, 'probe.mjs');
  writeFileSync(
    probe,
    `import net from 'node:net';
const dials = JSON.parse(process.argv[2]);
const servers = [];
for (const d of dials) servers.push(await new Promise((ok, fail) => { const s = net.createServer((c) => c.end()); s.once('error', fail); s.listen(d.port, d.host, () => ok(s)); }));
const reached = [];
for (const d of dials) {
  const ok = await new Promise((done) => {
    const c = net.connect({ host: d.host, port: d.port });
    // A dropped SYN never answers: 1.5 s without a connection counts as blocked.
    const t = setTimeout(() => { c.destroy(); done(false); }, 1500);
    c.once('connect', () => { clearTimeout(t); c.destroy(); done(true); });
    c.once('error', () => { clearTimeout(t); done(false); });
  });
  if (ok) reached.push(d);
}
for (const s of servers) s.close();
process.stdout.write(JSON.stringify(reached));
`,
  );
  const script = `ip link set lo up && ${loader} ${JSON.stringify(sheet)} && exec ${JSON.stringify(process.execPath)} ${JSON.stringify(probe)} "$0"`;
  const r = spawnSync('unshare', ['-n', 'sh', '-c', script, JSON.stringify(dials)], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`unshare -n (${loader}) failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Dial[];
}

describe('firewall sheets and the ports agents dial', () => {
  it('validate warns about the demo fleet alternate on 16385, naming the field, and still exits 0', () => {
    const r = deploy(['validate', join(repoRoot, 'examples/fleets/demo.fleet.json')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/warning: \/registration\/alternate: "127\.0\.0\.1:16385" uses port 16385, not the fleet's server port 16384 \(\/port\)/);
    expect(r.stdout).toContain('1 valid, 0 invalid, 1 warning');
    const json = JSON.parse(deploy(['validate', '--json', join(repoRoot, 'examples/fleets/demo.fleet.json')]).stdout);
    expect(json[0]).toMatchObject({ ok: true, issues: [], warnings: [{ path: '/registration/alternate' }] });
    const acme = JSON.parse(deploy(['validate', '--json', join(repoRoot, 'examples/fleets/acme.fleet.json')]).stdout);
    expect(acme[0].warnings).toEqual([]);
  });

  it('generate prints the warning and every sheet permits the registration pair, subnets and any address off the subnets', () => {
    const doc = JSON.parse(readFileSync(join(repoRoot, 'examples/fleets/demo.fleet.json'), 'utf8'));
    doc.fleet = 'offnet';
    doc.serverSubnets = ['127.0.0.0/30', '::1/128'];
    doc.registration = { primary: '127.0.0.1:16384', alternate: '127.0.0.9:17001' };
    const offnet = join(work, 'offnet.fleet.json');
    writeFileSync(offnet, JSON.stringify(doc));
    for (const [file, dials] of [
      [
        join(repoRoot, 'examples/fleets/demo.fleet.json'),
        [
          { host: '127.0.0.1', port: 16384 },
          { host: '127.0.0.1', port: 16385 },
          { host: '127.0.0.2', port: 16384 },
          { host: '::1', port: 16384 },
        ],
      ],
      [
        offnet,
        [
          { host: '127.0.0.1', port: 16384 },
          { host: '127.0.0.9', port: 17001 },
          { host: '127.0.0.2', port: 16384 },
        ],
      ],
    ] as const) {
      const out = join(work, `out-${file.length}`);
      const r = deploy(['generate', file, '--target', 'firewall', '--out', out]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/warning: \/registration\/alternate: .* uses port (16385|17001)/);
      const fleetId = JSON.parse(readFileSync(file, 'utf8')).fleet as string;
      const dir = join(out, fleetId, 'firewall');
      for (const [name, read] of Object.entries(readers)) {
        const { cidrs, ports } = read(readFileSync(join(dir, name), 'utf8'));
        for (const d of dials) {
          expect(inList(cidrs, d.host), `${fleetId} ${name}: ${d.host} in ${cidrs.join(' ')}`).toBe(true);
          expect(ports, `${fleetId} ${name}: port ${d.port}`).toContain(d.port);
        }
      }
    }
  });

  it('a mapped firewall: every sheet permits the firewall addresses agents dial, and nftables, iptables and pf forward each to its server', () => {
    const doc = JSON.parse(readFileSync(join(repoRoot, 'examples/fleets/acme.fleet.json'), 'utf8'));
    Object.assign(doc, { fleet: 'mapped', technicianId: 'TECH-0001', proxy: { type: 'none' } });
    doc.addressMap = {
      '12.159.133.10:16384': '192.168.1.1:20001',
      '66.151.228.10:16384': '192.168.1.1:20002',
      '12.159.133.11:16384': '192.168.1.1:20003',
      '[2001:db8:16::5]:16384': '[fd00::1]:20004',
    };
    const file = join(work, 'mapped.fleet.json');
    writeFileSync(file, JSON.stringify(doc));
    const out = join(work, 'out-mapped');
    const r = deploy(['generate', file, '--target', 'firewall', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('warning');
    const dir = join(out, 'mapped', 'firewall');
    const dials: Dial[] = [20001, 20002, 20003].map((port) => ({ host: '192.168.1.1', port }));
    dials.push({ host: 'fd00::1', port: 20004 });
    for (const [name, read] of Object.entries(readers)) {
      const { cidrs, ports } = read(readFileSync(join(dir, name), 'utf8'));
      for (const d of dials) {
        expect(inList(cidrs, d.host), `${name}: ${d.host} in ${cidrs.join(' ')}`).toBe(true);
        expect(ports, `${name}: port ${d.port}`).toContain(d.port);
      }
    }
    const sheet = (name: string) => readFileSync(join(dir, name), 'utf8');
    expect(sheet('nftables.nft')).toContain('ip daddr 192.168.1.1 tcp dport 20001 dnat ip to 12.159.133.10:16384');
    expect(sheet('nftables.nft')).toContain('ip6 daddr fd00::1 tcp dport 20004 dnat ip6 to [2001:db8:16::5]:16384');
    expect(sheet('iptables.rules')).toContain('-A PREROUTING -d 192.168.1.1 -p tcp -m tcp --dport 20002 -j DNAT --to-destination 66.151.228.10:16384');
    expect(sheet('ip6tables.rules')).toContain('-A PREROUTING -d fd00::1 -p tcp -m tcp --dport 20004 -j DNAT --to-destination [2001:db8:16::5]:16384');
    expect(sheet('pf.conf')).toContain('rdr pass inet proto tcp from any to 192.168.1.1 port 20003 -> 12.159.133.11 port 16384');
    expect(sheet('rules.md')).toContain('| F4 | [fd00::1]:20004 | [2001:db8:16::5]:16384 | TCP |');
    expect(sheet('rules.csv')).toContain('F1,forward (mapped firewall),TCP,backup clients (inside),192.168.1.1:20001,20001,new,forward to 12.159.133.10:16384');
    requireTool('nft', 'nftables');
    requireTool('iptables-restore', 'iptables');
    for (const [cmd, args, name] of [
      ['nft', ['-c', '-f'], 'nftables.nft'],
      ['iptables-restore', ['--test'], 'iptables.rules'],
      ['ip6tables-restore', ['--test'], 'ip6tables.rules'],
    ] as const) {
      const c = spawnSync(cmd, [...args, join(dir, name)], { encoding: 'utf8' });
      expect(c.status, `${cmd} ${name}: ${c.stderr}`).toBe(0);
    }
  });

  it('nftables and iptables sheets, loaded in a private network namespace, let real connections to every demo address through', () => {
    requireTool('unshare', 'util-linux');
    requireTool('ip', 'iproute2');
    requireTool('nft', 'nftables');
    requireTool('iptables-restore', 'iptables');
    const out = join(work, 'real');
    const r = deploy(['generate', join(repoRoot, 'examples/fleets/demo.fleet.json'), '--target', 'firewall', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    const dir = join(out, 'demo', 'firewall');
    const v4: Dial[] = [
      { host: '127.0.0.1', port: 16384 },
      { host: '127.0.0.1', port: 16385 },
      { host: '127.0.0.2', port: 16384 },
    ];
    const v6: Dial[] = [{ host: '::1', port: 16384 }];
    // The sheets really filter: a port no address of the fleet uses stays closed.
    const closed: Dial = { host: '127.0.0.1', port: 16399 };
    expect(dialThroughSheet('nft -f', join(dir, 'nftables.nft'), [...v4, ...v6, closed])).toEqual([...v4, ...v6]);
    expect(dialThroughSheet('iptables-restore --noflush', join(dir, 'iptables.rules'), [...v4, closed])).toEqual(v4);
    expect(dialThroughSheet('ip6tables-restore --noflush', join(dir, 'ip6tables.rules'), [...v6, { host: '::1', port: 16399 }])).toEqual(v6);
  }, 120_000);
});
