// The three sidebar trees as plain data, so their logic is testable without the editor.
import { basename, relative } from 'node:path';

import type { Fleet } from '../../../fleet/types.js';
import type { FleetIssue } from '../../../fleet/load.js';
import { fleetPorts } from '../../../fleet/addresses.js';
import type { FleetEntry } from './fleets.js';
import { fleetLabel } from './fleets.js';
import { formatBytes, formatWhen } from './format.js';
import { maskSecret } from './mask.js';
import { versionsNodes, type VersionsViewState } from './versions-tree.js';

export interface NodeIcon {
  /** A codicon id (e.g. "error") or a file under the extension's media/ folder (e.g. "media/fleet.svg"). */
  id: string;
  /** A theme color id, e.g. "testing.iconFailed"; only for codicons. */
  color?: string;
}

export interface NodeSpec {
  id: string;
  label: string;
  description?: string;
  /** Markdown. */
  tooltip?: string;
  icon?: NodeIcon;
  /** Used in `when` clauses of menus: viewItem == ... */
  contextValue?: string;
  collapsible?: 'collapsed' | 'expanded';
  command?: { command: string; title: string; arguments?: unknown[] };
  /** A file this node stands for (open / reveal act on it). */
  resourcePath?: string;
  children?: NodeSpec[];
}

const mdEscape = (s: string) => s.replace(/([\\`*_{}[\]()#+\-.!|<>])/g, '\\$1');

function technicianIdRow(fleet: Fleet, entry: Extract<FleetEntry, { kind: 'valid' }>, id: string): NodeSpec {
  const ref = fleet.technicianId;
  if (typeof ref === 'string') {
    return {
      id,
      label: 'Technician ID',
      description: maskSecret(ref),
      icon: { id: 'key' },
      tooltip: 'Technician ID (masked). It is written into the installers.',
    };
  }
  const set = entry.secrets.technicianId !== undefined;
  return {
    id,
    label: 'Technician ID',
    description: set ? `${maskSecret(entry.secrets.technicianId!)} from $${ref.env}` : `$${ref.env} not set`,
    icon: set ? { id: 'key' } : { id: 'warning', color: 'list.warningForeground' },
    tooltip: set
      ? `Read from the environment variable \`${ref.env}\` at generate time (masked).`
      : `The environment variable \`${ref.env}\` is not set in the editor's environment: generated installers will have no Technician ID and need ` +
        `\`TECHNICIANID=…\` at install time.`,
  };
}

function proxyText(fleet: Fleet, entry: Extract<FleetEntry, { kind: 'valid' }>): string {
  const p = fleet.proxy;
  if (p.type === 'none') return 'direct (no proxy)';
  let text = `${p.type} ${p.host ?? '?'}:${p.port ?? '?'}`;
  if (p.username) text += ` as ${p.username}`;
  if (p.password !== undefined) {
    if (typeof p.password === 'string') text += ' (password set)';
    else text += entry.secrets.proxyPassword !== undefined ? ` (password from $${p.password.env})` : ` ($${p.password.env} not set)`;
  }
  return text;
}

function scheduleText(fleet: Fleet): string {
  const s = fleet.backup.schedule;
  const when =
    s.frequency === 'manual' ? 'manual' : s.frequency === 'weekly' ? `weekly ${s.day ?? 'mon'} ${s.at}` : s.frequency === 'hourly' ? 'hourly' : `daily ${s.at}`;
  const ex = fleet.backup.exclude.length;
  return `${when} · ${ex} exclude${ex === 1 ? '' : 's'}`;
}

const TARGET_ICONS: Record<string, string> = {
  msi: 'package',
  pkg: 'package',
  intune: 'cloud-upload',
  gpo: 'organization',
  firewall: 'shield',
  guide: 'book',
  'jamf-profiles': 'device-desktop',
};

export function artifactNodes(entry: Extract<FleetEntry, { kind: 'valid' }>, idBase: string): NodeSpec {
  const gen = entry.generate;
  if (!gen || gen.artifacts.length === 0) {
    return {
      // Its own id: the expanded group that replaces it after a generate must not inherit its (leaf) state.
      id: `${idBase}/artifacts-none`,
      label: 'Artifacts',
      description: 'not generated yet',
      icon: { id: 'circle-slash' },
      contextValue: 'holdfast.fleet.artifacts.none',
      tooltip: 'Run **Holdfast: Generate Installers** to build installers and hand-off files for this fleet.',
      command: { command: 'holdfast.generate', title: 'Generate Installers', arguments: [entry.file] },
    };
  }
  const fileNode = (a: (typeof gen.artifacts)[number]): NodeSpec => ({
    id: `${idBase}/artifact/${a.path}`,
    label: relative(gen.dir, a.path) || basename(a.path),
    description: [byTarget.size > 1 ? undefined : a.target, a.size !== undefined ? formatBytes(a.size) : undefined].filter(Boolean).join(' · '),
    tooltip: [
      `**${mdEscape(basename(a.path))}**`,
      a.description ? mdEscape(a.description) : undefined,
      `Target: ${a.target}`,
      a.size !== undefined ? `Size: ${formatBytes(a.size)}` : undefined,
      a.sha256 ? `SHA-256: \`${a.sha256}\`` : undefined,
    ]
      .filter(Boolean)
      .join('\n\n'),
    icon: { id: TARGET_ICONS[a.target] ?? 'file' },
    contextValue: 'holdfast.artifact',
    resourcePath: a.path,
    command: { command: 'holdfast.openArtifact', title: 'Open', arguments: [a.path] },
  });
  const byTarget = new Map<string, typeof gen.artifacts>();
  for (const a of gen.artifacts) byTarget.set(a.target, [...(byTarget.get(a.target) ?? []), a]);
  // One target: its files directly. Several: a group per target, small groups open, large ones closed.
  const children =
    byTarget.size === 1
      ? gen.artifacts.map(fileNode)
      : [...byTarget].map(
          ([target, files]): NodeSpec => ({
            id: `${idBase}/target/${target}`,
            label: target,
            description: `${files.length} file${files.length === 1 ? '' : 's'} · ${formatBytes(files.reduce((n, f) => n + (f.size ?? 0), 0))}`,
            icon: { id: TARGET_ICONS[target] ?? 'file' },
            collapsible: files.length > 3 ? 'collapsed' : 'expanded',
            children: files.map(fileNode),
          }),
        );
  return {
    id: `${idBase}/artifacts`,
    label: 'Artifacts',
    description: `${gen.artifacts.length} file${gen.artifacts.length === 1 ? '' : 's'} in ${basename(gen.dir)}/`,
    icon: { id: 'files' },
    collapsible: 'expanded',
    contextValue: 'holdfast.fleet.artifacts',
    resourcePath: gen.dir,
    tooltip: `Generated into ${mdEscape(gen.dir)}; the manifest lists every file with its size and SHA-256.`,
    children,
  };
}

function validFleetNode(entry: Extract<FleetEntry, { kind: 'valid' }>, now: Date): NodeSpec {
  const { fleet } = entry;
  const id = `fleet:${entry.file}`;
  const missingNames = entry.missing.map((m) => /variable (\S+)/.exec(m.allowed)?.[1] ?? m.path);
  const children: NodeSpec[] = [
    technicianIdRow(fleet, entry, `${id}/tech`),
    {
      id: `${id}/registration`,
      label: 'Registration',
      description: `${fleet.registration.primary} · ${fleet.registration.alternate}`,
      icon: { id: 'server-environment' },
      tooltip:
        `Primary **${fleet.registration.primary}**, alternate **${fleet.registration.alternate}**: agents register here on first use (by IP ` +
        `address, no DNS).`,
    },
    {
      id: `${id}/firewall`,
      label: 'Firewall',
      description: `TCP ${fleetPorts(fleet).join(', ')} → ${fleet.serverSubnets.join(', ')}`,
      icon: { id: 'shield' },
      tooltip: `Outbound TCP to port ${fleetPorts(fleet).join(', ')} on ${fleet.serverSubnets.map(mdEscape).join(', ')}; no UDP or ICMP, nothing inbound.`,
      command: { command: 'holdfast.showFirewallRules', title: 'Show Firewall Rules', arguments: [entry.file] },
    },
    {
      id: `${id}/proxy`,
      label: 'Proxy',
      description: proxyText(fleet, entry),
      icon: { id: fleet.proxy.type === 'none' ? 'arrow-right' : 'arrow-swap' },
    },
    { id: `${id}/schedule`, label: 'Backup', description: scheduleText(fleet), icon: { id: 'history' } },
  ];
  if (entry.generate?.generatedAt) {
    children.push({
      id: `${id}/last-generate`,
      label: 'Last generate',
      description: formatWhen(entry.generate.generatedAt, now),
      icon: { id: 'clock' },
      tooltip: `Manifest: ${entry.generate.dir}/manifest.json`,
    });
  }
  children.push(artifactNodes(entry, id));
  const warnings = entry.warnings ?? [];
  children.push(...warnings.map((w, i) => warningNode(entry.file, `${id}/warning/${i}`, w)));
  const tooltip = [
    `**${mdEscape(fleet.customer)}** — fleet \`${fleet.fleet}\` v${fleet.version}`,
    `File: ${mdEscape(entry.file)}`,
    entry.missing.length
      ? `⚠ Missing for generate: ${entry.missing.map((m) => mdEscape(m.message)).join('; ')}`
      : '✓ Valid against the fleet schema; all secrets resolvable.',
    ...warnings.map((w) => `⚠ Warning: ${mdEscape(w.message)}`),
  ].join('\n\n');
  return {
    id,
    label: fleet.fleet,
    description: entry.missing.length ? `needs ${missingNames.join(', ')} · ${fleet.customer}` : `${fleet.customer} · v${fleet.version}`,
    tooltip,
    icon: entry.missing.length ? { id: 'media/fleet-warning.svg' } : { id: 'media/fleet.svg' },
    contextValue: 'holdfast.fleet.valid',
    collapsible: 'collapsed',
    resourcePath: entry.file,
    children,
  };
}

/** A fleet issue as a row that opens the fleet file at the field; errors and warnings look alike but for the icon. */
function issueNode(file: string, id: string, issue: FleetIssue, icon: NodeSpec['icon']): NodeSpec {
  return {
    id,
    label: issue.path,
    description: issue.message.replace(/^\S+: /, ''),
    tooltip: `${mdEscape(issue.message)}\n\nAllowed: ${mdEscape(issue.allowed)}`,
    icon,
    command: { command: 'holdfast.openFleetAt', title: 'Show problem', arguments: [file, issue.path] },
  };
}

function warningNode(file: string, id: string, issue: FleetIssue): NodeSpec {
  return issueNode(file, id, issue, { id: 'warning', color: 'list.warningForeground' });
}

function invalidFleetNode(entry: Extract<FleetEntry, { kind: 'invalid' }>): NodeSpec {
  const id = `fleet:${entry.file}`;
  const n = entry.issues.length;
  return {
    id,
    label: fleetLabel(entry),
    description: `invalid · ${n} problem${n === 1 ? '' : 's'}`,
    tooltip: [`**${mdEscape(basename(entry.file))} is not a valid fleet**`, ...entry.issues.map((i) => `- ${mdEscape(i.message)}`)].join('\n\n'),
    icon: { id: 'media/fleet-error.svg' },
    contextValue: 'holdfast.fleet.invalid',
    collapsible: 'collapsed',
    resourcePath: entry.file,
    children: entry.issues.map((issue, i) => issueNode(entry.file, `${id}/issue/${i}`, issue, { id: 'error', color: 'list.errorForeground' })),
  };
}

export function fleetTree(entries: FleetEntry[], now: Date = new Date()): NodeSpec[] {
  return entries.map((e) => (e.kind === 'valid' ? validFleetNode(e, now) : invalidFleetNode(e)));
}

/** What the test server view knows about the server the extension runs. */
export interface TestServerState {
  status: 'stopped' | 'starting' | 'running' | 'stopping' | 'failed';
  pid?: number;
  addresses?: string[];
  devices?: number;
  storedBytes?: number;
  dataDir?: string;
  error?: string;
  startedAt?: Date;
}

export function testServerTree(s: TestServerState, now: Date = new Date()): NodeSpec[] {
  const running = s.status === 'running';
  const stateIcon: Record<TestServerState['status'], NodeIcon> = {
    stopped: { id: 'circle-outline', color: 'disabledForeground' },
    starting: { id: 'loading~spin' },
    running: { id: 'pass-filled', color: 'testing.iconPassed' },
    stopping: { id: 'loading~spin' },
    failed: { id: 'error', color: 'testing.iconFailed' },
  };
  const nodes: NodeSpec[] = [
    {
      id: 'server/state',
      label: 'State',
      description: running ? `running · pid ${s.pid}` : s.status === 'failed' ? `failed: ${s.error ?? 'see output'}` : s.status,
      icon: stateIcon[s.status],
      tooltip: running && s.startedAt ? `Started ${formatWhen(s.startedAt, now)}` : s.error ? mdEscape(s.error) : undefined,
      contextValue: `holdfast.server.${s.status}`,
    },
  ];
  if (running) {
    nodes.push(
      {
        id: 'server/port',
        label: 'Listening',
        description: (s.addresses ?? []).join(' · '),
        icon: { id: 'plug' },
        tooltip: 'Registration and backup service on 127.0.0.1 only. The agent runs of this sidebar point their registration pair here.',
      },
      { id: 'server/devices', label: 'Registered devices', description: String(s.devices ?? 0), icon: { id: 'device-desktop' } },
      { id: 'server/bytes', label: 'Stored', description: formatBytes(s.storedBytes ?? 0), icon: { id: 'database' } },
    );
  }
  if (s.dataDir) {
    nodes.push({
      id: 'server/data',
      label: 'Data folder',
      description: s.dataDir,
      icon: { id: 'folder-library' },
      resourcePath: s.dataDir,
      tooltip: mdEscape(s.dataDir),
    });
  }
  nodes.push(
    running || s.status === 'starting'
      ? {
          id: 'server/action',
          label: 'Stop test server',
          icon: { id: 'debug-stop', color: 'testing.iconFailed' },
          command: { command: 'holdfast.stopTestServer', title: 'Stop Test Server' },
        }
      : {
          id: 'server/action',
          label: 'Start test server',
          icon: { id: 'play', color: 'testing.iconPassed' },
          command: { command: 'holdfast.startTestServer', title: 'Start Test Server' },
        },
  );
  return nodes;
}

export interface AgentResult {
  action: 'register' | 'backup' | 'restore' | 'versions';
  ok: boolean;
  summary: string;
  at: Date;
  /** Done, but with these warnings (e.g. the paths a backup skipped, with their reason): shown as "completed with warnings". */
  warnings?: string[];
}

export interface AgentViewState {
  fleet?: string;
  fleetFile?: string;
  device?: string;
  busy?: string;
  last?: AgentResult;
  history: AgentResult[];
  /** Listed snapshots and one file's versions (Holdfast: Snapshots & Versions). */
  versions?: VersionsViewState;
}

export function agentTree(s: AgentViewState, serverRunning: boolean, now: Date = new Date()): NodeSpec[] {
  const nodes: NodeSpec[] = [
    {
      id: 'agent/fleet',
      label: 'Fleet',
      description: s.fleet ?? 'none selected',
      icon: { id: 'media/fleet.svg' },
      tooltip: 'The fleet whose agent configuration the test agent uses (registration pair pointed at the test server). Click to choose another.',
      command: { command: 'holdfast.selectAgentFleet', title: 'Select Fleet' },
    },
    {
      id: 'agent/device',
      label: 'Device',
      description: s.device ? `registered · ${s.device}` : 'not registered',
      icon: { id: s.device ? 'verified-filled' : 'unverified' },
    },
  ];
  const starts = serverRunning ? '' : ' The test server is started first.';
  const action = (id: string, label: string, command: string, icon: string, what: string): NodeSpec => ({
    id: `agent/${id}`,
    label,
    description: s.busy === id ? 'running…' : undefined,
    icon: { id: s.busy === id ? 'loading~spin' : icon },
    command: { command, title: label },
    tooltip: `${what}${starts}`,
  });
  nodes.push(
    action('register', 'Register', 'holdfast.register', 'person-add', 'Register the test agent with the Technician ID of the fleet.'),
    action(
      'backup',
      'Backup Now',
      'holdfast.backupNow',
      'cloud-upload',
      'Back up the sample folder (or holdfast.agent.sourceFolder) to the test server, registering first if needed.',
    ),
    action(
      'restore',
      'Restore & verify',
      'holdfast.restoreVerify',
      'cloud-download',
      'Restore the latest snapshot into a fresh folder and compare it byte for byte with the source.',
    ),
  );
  nodes.push(...versionsNodes(s.versions, now, s.busy === 'versions'));
  if (s.last) {
    const mark = (r: AgentResult) => (!r.ok ? '✗' : r.warnings?.length ? '⚠' : '✓');
    const warned = s.last.ok && (s.last.warnings?.length ?? 0) > 0;
    const warnings = warned ? s.last.warnings! : [];
    nodes.push({
      id: 'agent/last',
      label: 'Last result',
      description: `${mark(s.last)} ${s.last.summary}${warned ? ` — completed with warnings (${warnings.length})` : ''}`,
      icon: !s.last.ok
        ? { id: 'error', color: 'testing.iconFailed' }
        : warned
          ? { id: 'warning', color: 'list.warningForeground' }
          : { id: 'pass-filled', color: 'testing.iconPassed' },
      tooltip: [
        ...(warned ? ['**Completed with warnings:**', ...warnings.slice(0, 20).map((w) => `- ${mdEscape(w)}`), ''] : []),
        ...s.history
          .slice(-8)
          .reverse()
          .map((r) => `- ${mark(r)} **${r.action}** ${mdEscape(r.summary)} — ${formatWhen(r.at, now)}`),
      ].join('\n'),
      command: { command: 'holdfast.showOutput', title: 'Show Output' },
    });
  }
  return nodes;
}
