// The sidebar's model without the editor: fleet entries, the three trees, masking, new-fleet text, install
// command choices and server log parsing (extension/src/core has no `vscode` import).
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { describeFleetFile, describeFleetFiles, type FleetEntry } from '../extension/src/core/fleets.js';
import { formatBytes, formatWhen } from '../extension/src/core/format.js';
import { installChoices } from '../extension/src/core/install-commands.js';
import { readGenerateResult } from '../extension/src/core/manifest.js';
import { maskSecret } from '../extension/src/core/mask.js';
import { checkAnswer, FleetValidationError, newFleetText } from '../extension/src/core/new-fleet.js';
import { parseListening, parsePin } from '../extension/src/core/test-server.js';
import { agentTree, fleetTree, testServerTree, type NodeSpec } from '../extension/src/core/tree-model.js';
import { parseFleet } from '../fleet/load.js';
import { repoRoot } from './helpers/paths.js';

let dir: string;
const out = () => join(dir, 'dist');
const find = (nodes: NodeSpec[], label: string): NodeSpec | undefined => {
  for (const n of nodes) {
    if (n.label === label) return n;
    const hit = find(n.children ?? [], label);
    if (hit) return hit;
  }
  return undefined;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hf-ext-tree-'));
  for (const name of ['demo.fleet.json', 'acme.fleet.json']) {
    await writeFile(join(dir, name), await readFile(join(repoRoot, 'examples', 'fleets', name)));
  }
  const broken = JSON.parse(await readFile(join(dir, 'demo.fleet.json'), 'utf8'));
  broken.registration.primary = 'backup.example.com:16384';
  delete broken.tlsPin;
  await writeFile(join(dir, 'broken.fleet.json'), JSON.stringify(broken));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('fleet entries', () => {
  it('reads valid, secret-missing and invalid fleets, sorted by file name', async () => {
    const entries = await describeFleetFiles(
      ['demo', 'broken', 'acme'].map((n) => join(dir, `${n}.fleet.json`)),
      out,
      {},
    );
    expect(entries.map((e) => [e.kind, e.file.split('/').pop()])).toEqual([
      ['valid', 'acme.fleet.json'],
      ['invalid', 'broken.fleet.json'],
      ['valid', 'demo.fleet.json'],
    ]);
    const [acme, broken, demo] = entries as [
      Extract<FleetEntry, { kind: 'valid' }>,
      Extract<FleetEntry, { kind: 'invalid' }>,
      Extract<FleetEntry, { kind: 'valid' }>,
    ];
    expect(acme.missing.map((m) => m.path)).toEqual(['/technicianId', '/proxy/password']);
    expect(demo.missing).toEqual([]);
    expect(broken.issues.map((i) => i.path).sort()).toEqual(['/registration/primary', '/tlsPin']);
  });

  it('resolves env secrets when set, and never shows them in the tree', async () => {
    const env = { ACME_TECHNICIAN_ID: 'ACME-SECRET-7781', ACME_PROXY_PASSWORD: 'hunter2-proxy' };
    const acme = await describeFleetFile(join(dir, 'acme.fleet.json'), out(), env);
    expect(acme.kind === 'valid' && acme.missing).toEqual([]);
    const tree = fleetTree([acme]);
    const text = JSON.stringify(tree);
    expect(text).not.toContain('ACME-SECRET-7781');
    expect(text).not.toContain('hunter2-proxy');
    expect(find(tree, 'Technician ID')?.description).toBe('••••••••7781 from $ACME_TECHNICIAN_ID');
    expect(find(tree, 'Proxy')?.description).toBe('socks5 proxy.acme.example:1080 as backup-agent (password from $ACME_PROXY_PASSWORD)');
  });
});

describe('fleets tree', () => {
  it('shows a valid fleet with its masked settings and a "not generated" artifacts row', async () => {
    const demo = await describeFleetFile(join(dir, 'demo.fleet.json'), out(), {});
    const [node] = fleetTree([demo]);
    expect(node).toMatchObject({ label: 'demo', description: 'Holdfast Demo · v1.0.0', contextValue: 'holdfast.fleet.valid', icon: { id: 'media/fleet.svg' } });
    expect(JSON.stringify(node)).not.toContain('DEMO-TECH-0001');
    const rows = Object.fromEntries(node.children!.map((c) => [c.label, c.description]));
    expect(rows).toMatchObject({
      'Technician ID': '••••••••0001',
      Registration: '127.0.0.1:16384 · 127.0.0.1:16385',
      Firewall: 'TCP 16384, 16385 → 127.0.0.0/8, ::1/128',
      Proxy: 'direct (no proxy)',
      Backup: 'daily 02:00 · 3 excludes',
      Artifacts: 'not generated yet',
    });
    expect(find([node], 'Artifacts')?.command).toEqual({ command: 'holdfast.generate', title: 'Generate Installers', arguments: [demo.file] });
    expect(find([node], 'Last generate')).toBeUndefined();
    // The alternate on 16385 is off the server port: a warning row that opens the field, and a line in the tooltip.
    expect(find([node], '/registration/alternate')).toMatchObject({
      icon: { id: 'warning' },
      command: { command: 'holdfast.openFleetAt', arguments: [demo.file, '/registration/alternate'] },
    });
    expect(node.tooltip).toMatch(/⚠ Warning: \/registration\/alternate: .* uses port 16385/);
  });

  it('flags a fleet whose secrets are missing for generate', async () => {
    const acme = await describeFleetFile(join(dir, 'acme.fleet.json'), out(), {});
    const [node] = fleetTree([acme]);
    expect(node.description).toBe('needs ACME_TECHNICIAN_ID, ACME_PROXY_PASSWORD · ACME Widgets & Co');
    expect(node.icon?.id).toBe('media/fleet-warning.svg');
    expect(find([node], 'Technician ID')).toMatchObject({ description: '$ACME_TECHNICIAN_ID not set', icon: { id: 'warning' } });
  });

  it('marks an invalid fleet with every validation error in its hover and children', async () => {
    const broken = await describeFleetFile(join(dir, 'broken.fleet.json'), out(), {});
    const [node] = fleetTree([broken]);
    expect(node).toMatchObject({
      label: 'broken',
      description: 'invalid · 2 problems',
      contextValue: 'holdfast.fleet.invalid',
      icon: { id: 'media/fleet-error.svg' },
    });
    expect(node.tooltip).toMatch(/not a valid fleet/);
    expect(node.tooltip).toMatch(/registration\/primary: "backup\\\.example\\\.com:16384" is not allowed/);
    expect(node.tooltip).toMatch(/tlsPin: required field is missing/);
    const primary = node.children!.find((c) => c.label === '/registration/primary')!;
    expect(primary.command).toEqual({ command: 'holdfast.openFleetAt', title: 'Show problem', arguments: [broken.file, '/registration/primary'] });
  });

  it('lists generated artifacts from the manifest, grouped by target, with the time of the last generate', async () => {
    const fleetOut = join(out(), 'demo');
    await mkdir(join(fleetOut, 'firewall'), { recursive: true });
    const manifest = {
      fleet: 'demo',
      generatedAt: '2026-11-24T10:00:00.000Z',
      artifacts: [
        {
          target: 'msi',
          path: 'holdfast-demo.msi',
          size: 35_000_000,
          sha256: 'ab'.repeat(32),
          description: 'Windows MSI',
          installCommands: [{ channel: 'gpo', command: 'gpo line' }],
        },
        { target: 'firewall', path: 'firewall/rules.md', size: 1134 },
        { target: 'firewall', path: 'firewall/nftables.nft', size: 1583 },
      ],
      installCommands: { uninstall: 'msiexec /x holdfast-demo.msi /qn', msiexec: 'msiexec /i holdfast-demo.msi /qn /norestart' },
    };
    await writeFile(join(fleetOut, 'manifest.json'), JSON.stringify(manifest));
    const demo = await describeFleetFile(join(dir, 'demo.fleet.json'), out(), {});
    const [node] = fleetTree([demo], new Date('2026-11-24T10:05:00.000Z'));
    const artifacts = find([node], 'Artifacts')!;
    expect(artifacts.description).toBe('3 files in demo/');
    expect(artifacts.collapsible).toBe('expanded');
    expect(artifacts.children!.map((g) => [g.label, g.description])).toEqual([
      ['msi', '1 file · 33 MiB'],
      ['firewall', '2 files · 2.7 KiB'],
    ]);
    const msi = find([node], 'holdfast-demo.msi')!;
    expect(msi).toMatchObject({
      resourcePath: join(fleetOut, 'holdfast-demo.msi'),
      contextValue: 'holdfast.artifact',
      command: { command: 'holdfast.openArtifact' },
    });
    expect(msi.tooltip).toContain(`SHA-256: \`${'ab'.repeat(32)}\``);
    expect(find([node], 'firewall/rules.md')?.resourcePath).toBe(join(fleetOut, 'firewall', 'rules.md'));
    expect(find([node], 'Last generate')?.description).toMatch(/\(5 min ago\)$/);

    // Install commands: manifest-level and artifact-level lines, msiexec first.
    const gen = await readGenerateResult(out(), 'demo');
    expect(installChoices(gen).map((c) => c.channel)).toEqual(['msiexec', 'gpo', 'uninstall']);
    expect(installChoices(gen)[0].command).toBe('msiexec /i holdfast-demo.msi /qn /norestart');
    expect(installChoices(undefined)).toEqual([]);
    await rm(out(), { recursive: true });
  });
});

describe('test server and agent trees', () => {
  it('shows the server state and offers start or stop', () => {
    const stopped = testServerTree({ status: 'stopped' });
    expect(stopped.map((n) => n.label)).toEqual(['State', 'Start test server']);
    expect(stopped[0].icon?.id).toBe('circle-outline');
    expect(stopped[1].command?.command).toBe('holdfast.startTestServer');
    const running = testServerTree({
      status: 'running',
      pid: 42,
      addresses: ['127.0.0.1:5000', '127.0.0.1:5001'],
      devices: 2,
      storedBytes: 3 * 1024 * 1024,
      dataDir: '/srv/hf',
    });
    expect(running.map((n) => [n.label, n.description])).toEqual([
      ['State', 'running · pid 42'],
      ['Listening', '127.0.0.1:5000 · 127.0.0.1:5001'],
      ['Registered devices', '2'],
      ['Stored', '3.0 MiB'],
      ['Data folder', '/srv/hf'],
      ['Stop test server', undefined],
    ]);
    expect(running.at(-1)?.command?.command).toBe('holdfast.stopTestServer');
    expect(testServerTree({ status: 'failed', error: 'port in use' })[0].description).toBe('failed: port in use');
  });

  it('shows the agent actions, a busy action and the last result', () => {
    const at = new Date('2026-11-24T10:00:00Z');
    const nodes = agentTree(
      {
        fleet: 'demo',
        device: 'dev-1',
        busy: 'backup',
        last: { action: 'restore', ok: true, summary: 'verified 4 files', at },
        history: [{ action: 'restore', ok: true, summary: 'verified 4 files', at }],
      },
      true,
      at,
    );
    expect(nodes.map((n) => [n.label, n.description])).toEqual([
      ['Fleet', 'demo'],
      ['Device', 'registered · dev-1'],
      ['Register', undefined],
      ['Backup Now', 'running…'],
      ['Restore & verify', undefined],
      ['Last result', '✓ verified 4 files'],
    ]);
    expect(nodes[3].icon?.id).toBe('loading~spin');
    expect(nodes.map((n) => n.command?.command)).toEqual([
      'holdfast.selectAgentFleet',
      undefined,
      'holdfast.register',
      'holdfast.backupNow',
      'holdfast.restoreVerify',
      'holdfast.showOutput',
    ]);
    expect(agentTree({ history: [] }, false)[0].description).toBe('none selected');
  });

  it('a backup that skipped paths is shown as completed with warnings, each path and its reason in the tooltip', () => {
    const at = new Date('2026-11-24T10:00:00Z');
    const last = {
      action: 'backup' as const,
      ok: true,
      summary: 'backed up 2 files, 2 paths skipped',
      at,
      warnings: ['/home/ann/locked.db: EACCES: permission denied', '/home/ann/*bold*: ENOENT'],
    };
    const node = agentTree({ last, history: [last] }, true, at).at(-1)!;
    expect(node.description).toBe('⚠ backed up 2 files, 2 paths skipped — completed with warnings (2)');
    expect(node.icon).toEqual({ id: 'warning', color: 'list.warningForeground' });
    expect(node.tooltip).toContain('**Completed with warnings:**\n- /home/ann/locked\\.db: EACCES: permission denied\n- /home/ann/\\*bold\\*: ENOENT');
    expect(node.tooltip).toContain('- ⚠ **backup** backed up 2 files, 2 paths skipped');
  });
});

describe('helpers', () => {
  it('masks secrets, formats sizes and times', () => {
    expect(maskSecret('DEMO-TECH-0001')).toBe('••••••••0001');
    expect(maskSecret('abcd')).toBe('••••');
    expect(maskSecret('abcdef')).not.toContain('a');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(274_173)).toBe('268 KiB');
    const now = new Date(2026, 10, 25, 14, 0, 0);
    expect(formatWhen(new Date(2026, 10, 25, 13, 58, 30), now)).toBe('today 13:58:30 (1 min ago)');
    expect(formatWhen(new Date(2026, 10, 23, 9, 5, 0), now)).toBe('2026-11-23 09:05 (2 d ago)');
  });

  it('parses the server start lines', () => {
    expect(parseListening('holdfast-server: listening on 127.0.0.1:41234 127.0.0.1:41235')).toEqual(['127.0.0.1:41234', '127.0.0.1:41235']);
    expect(parseListening('holdfast-server: listening on [::1]:5000')).toEqual(['[::1]:5000']);
    expect(parseListening('holdfast-server: data folder /tmp/x')).toBeUndefined();
    const pin = '6D:C4:F3:16:E4:ED:A5:DB:94:C1:03:A4:49:CA:FC:58:46:AB:63:9D:67:4B:6A:13:D1:57:06:16:78:8C:30:38';
    expect(parsePin(`holdfast-server: certificate pin ${pin.toLowerCase()} (new certificate)`)).toBe(pin);
  });

  it('builds a new fleet file that the deployer accepts, and rejects bad answers by field', () => {
    const text = newFleetText({
      fleet: 'contoso',
      customer: 'Contoso Ltd',
      technicianId: '$CONTOSO_TECH',
      primary: '203.0.113.10:16384',
      alternate: '203.0.113.11:16384',
      subnets: '203.0.113.0/24, 2001:db8::/32',
    });
    const fleet = parseFleet(text);
    expect(fleet).toMatchObject({ fleet: 'contoso', technicianId: { env: 'CONTOSO_TECH' }, serverSubnets: ['203.0.113.0/24', '2001:db8::/32'], port: 16384 });
    expect(fleet.branding.upgradeCode).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-/);
    expect(checkAnswer('primary', 'backup.example.com:16384')).toMatch(/no host names/);
    expect(checkAnswer('subnets', '10.0.0.0/8, 10.1.0.0/33')).toBe('10.1.0.0/33 is not a subnet in CIDR form (e.g. 203.0.113.0/24)');
    expect(checkAnswer('technicianId', 'env:ACME_ID')).toBeUndefined();
    expect(checkAnswer('fleet', 'Contoso')).toMatch(/lower-case/);
    // Same address twice passes each prompt but not the fleet's own rule: the error names the field.
    const sameAddressTwice = {
      fleet: 'x1',
      customer: 'X',
      technicianId: 'TECH-0001',
      primary: '203.0.113.10:16384',
      alternate: '203.0.113.10:16384',
      subnets: '203.0.113.0/24',
    };
    let thrown: unknown;
    try {
      newFleetText(sameAddressTwice);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(FleetValidationError);
    expect((thrown as FleetValidationError).issues[0].path).toBe('/registration/alternate');
  });
});
