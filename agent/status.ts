// What the agent reports about itself (status --json): read by Jamf scripts and the VS Code extension.
import { reportBackupSet, resolveBackupSet, type BackupSetReport } from './backup-set.js';
import { loadAgentConfig, type LoadedAgentConfig } from './config.js';
import { backupOutcome, readLastResult, readRegistration, type LastBackup } from './state.js';
import { describeSkipped } from './engine/skipped.js';
import type { ServerPair } from '../protocol/messages.js';
import { AGENT_VERSION } from './version.js';
import { escapeForTerminal } from '../common/terminal-text.js';
import { showName } from './engine/names.js';
import { dialRoutes, formatDialRoutes, type DialRoute } from './dial-plan.js';

export interface AgentStatus {
  version: string;
  fleet: string | null;
  registered: boolean;
  deviceId: string | null;
  servers: ServerPair | null;
  lastSuccessfulBackup: string | null;
  lastBackup: LastBackup | null;
  lastError: string | null;
  configPath: string;
  stateDir: string;
  registration: ServerPair;
  proxy: string;
  /** Mapped proxy firewall (server -> firewall address), from agent.json or policy; null without one. */
  addressMap: Record<string, string> | null;
  /** The address each known server is dialled at (through the map). */
  dials: DialRoute[];
  /** What a backup covers now (folders per user profile, excludes, protected paths), or why it cannot be told. */
  backupSet: BackupSetReport | { error: string };
}

export async function readStatus(options: { loaded?: LoadedAgentConfig; configPath?: string } = {}): Promise<AgentStatus> {
  const loaded = options.loaded ?? (await loadAgentConfig(options.configPath));
  const [reg, last, backupSet] = await Promise.all([
    readRegistration(loaded.state),
    readLastResult(loaded.state),
    resolveBackupSet(loaded).then(
      (set) => reportBackupSet(loaded, set),
      (err: Error) => ({ error: err.message }),
    ),
  ]);
  const p = loaded.config.proxy;
  return {
    version: AGENT_VERSION,
    fleet: loaded.config.fleet ?? null,
    registered: reg !== undefined,
    deviceId: reg?.deviceId ?? null,
    servers: reg ? { ...reg.servers } : null,
    lastSuccessfulBackup: last.lastSuccessfulBackup,
    lastBackup: last.lastBackup,
    lastError: last.lastError,
    configPath: loaded.path,
    stateDir: loaded.stateDir,
    registration: { ...loaded.config.registration },
    proxy: !p || p.type === 'none' ? 'none' : `${p.type} ${p.host}:${p.port}`,
    addressMap: loaded.config.addressMap && Object.keys(loaded.config.addressMap).length > 0 ? { ...loaded.config.addressMap } : null,
    dials: dialRoutes(loaded.config, reg?.servers ?? null),
    backupSet,
  };
}

export function formatStatus(s: AgentStatus): string {
  const lines = [
    `Holdfast agent ${s.version}${s.fleet ? ` (fleet ${s.fleet})` : ''}`,
    `config:        ${s.configPath}`,
    `registered:    ${s.registered ? `yes, device ${s.deviceId}` : 'no (run "holdfast-agent register")'}`,
  ];
  if (s.servers) lines.push(`servers:       primary ${s.servers.primary}, alternate ${s.servers.alternate}`);
  lines.push(`proxy:         ${s.proxy}`, ...formatDialRoutes(s.addressMap, s.dials));
  lines.push(...formatBackupSet(s.backupSet), ...formatProtectedKept(s.lastBackup));
  lines.push(`last success:  ${s.lastSuccessfulBackup ?? 'never'}`);
  if (s.lastBackup) {
    const b = s.lastBackup;
    lines.push(
      `last backup:   ${backupOutcome(b) === 'failed' ? 'FAILED' : backupOutcome(b)} at ` +
        `${b.finishedAt}${b.files !== undefined ? `, ${b.files} files` : ''}${b.bytes !== undefined ? `, ${b.bytes} bytes` : ''}`,
    );
  }
  const changed = s.lastBackup?.changedDuringBackup;
  if (changed) {
    lines.push(`changed during backup: ${changed.count} file${changed.count === 1 ? '' : 's'} (stored as last read; the next backup reads them again)`);
    for (const p of changed.paths) lines.push(`  ${showName(p)}`);
    if (changed.count > changed.paths.length) lines.push(`  ... and ${changed.count - changed.paths.length} more`);
  }
  if (s.lastBackup?.skipped) lines.push(...formatSkipped(s.lastBackup.skipped));
  if (s.lastError) lines.push(...`last error:    ${s.lastError}`.split('\n').map((l) => escapeForTerminal(l, false)));
  return lines.join('\n');
}

function formatSkipped(k: NonNullable<LastBackup['skipped']>): string[] {
  const lines = [`skipped:       ${k.count} path${k.count === 1 ? '' : 's'} not backed up`];
  for (const p of k.paths) lines.push(`  ${describeSkipped(p)}`);
  if (k.count > k.paths.length) lines.push(`  ... and ${k.count - k.paths.length} more`);
  return lines;
}

function formatBackupSet(b: AgentStatus['backupSet']): string[] {
  if ('error' in b) return [`backs up:      unknown (${b.error})`];
  const lines = [`backs up:      ${b.meaning}: ${b.include.join(', ')}`];
  if (b.profilesFrom) lines.push(`user profiles: ${b.users.length ? b.users.join(', ') : 'none found'} (from ${b.profilesFrom})`);
  for (const f of b.folders) lines.push(`  folder:      ${f.path} (as ${f.name})`);
  if (b.folders.length === 0) lines.push('  folder:      none');
  lines.push(`excludes:      ${b.exclude.length} patterns (status --json lists them)`);
  for (const p of b.protectedPaths) lines.push(`  protected:   ${p}`);
  return lines;
}

/** Protected paths the last backup kept although an exclude matched them. */
function formatProtectedKept(b: LastBackup | null): string[] {
  return (b?.protectedKept ?? []).map(
    (k) => `  kept:        exclude "${k.pattern}" matched ${k.count} protected path(s), backed up anyway (e.g. ${k.paths[0]})`,
  );
}
