// Finds, reads and validates the agent config (agent.json), then lays admin policy overrides over it.
// Lookup: --config > HOLDFAST_CONFIG > agent.json beside the running bundle > the platform default.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { AgentConfig, AgentProxy } from './config-types.js';
import { readPolicyOverrides } from './policy.js';
import { statePaths, type StatePaths } from './state.js';
import { checkEndpoint } from '../common/endpoint.js';
import { JsonFileError, readJsonFile } from '../common/json-file.js';
import { problemsMessage } from '../common/problems.js';

export interface ConfigIssue {
  /** JSON pointer of the offending field, e.g. /registration/primary. */
  path: string;
  message: string;
}

export class AgentConfigError extends Error {
  constructor(
    readonly file: string,
    readonly issues: ConfigIssue[],
  ) {
    super(
      problemsMessage(
        file,
        issues.map((i) => `${i.path}: ${i.message}`),
      ),
    );
    this.name = 'AgentConfigError';
  }
}

export interface LoadedAgentConfig {
  config: AgentConfig;
  /** Absolute path of the config file. */
  path: string;
  /** Absolute path of the state folder (config.stateDir or "state" beside the config file). */
  stateDir: string;
  state: StatePaths;
}

/** Where the installers put agent.json with the default branding (MSI: %ProgramData%\\<vendor>\\<product>). */
export function platformDefaultConfigPath(platform = process.platform): string {
  if (platform === 'win32') return join(process.env.ProgramData ?? 'C:\\ProgramData', 'Holdfast', 'Holdfast Backup', 'agent.json');
  if (platform === 'darwin') return '/Library/Application Support/Holdfast/agent.json';
  return '/etc/holdfast/agent.json';
}

/** Which config file the agent uses, and why (for error messages). */
export function resolveConfigPath(flag?: string, env: NodeJS.ProcessEnv = process.env): { path: string; source: string } {
  if (flag) return { path: resolve(flag), source: '--config' };
  if (env.HOLDFAST_CONFIG) return { path: resolve(env.HOLDFAST_CONFIG), source: 'HOLDFAST_CONFIG' };
  const script = process.argv[1];
  if (script) {
    const beside = join(dirname(resolve(script)), 'agent.json');
    if (existsSync(beside)) return { path: beside, source: 'beside the agent' };
  }
  return { path: platformDefaultConfigPath(), source: 'platform default' };
}

/** Why `s` is not an IP:port the agent can use, or undefined when it is fine. */
export function endpointProblem(s: unknown): string | undefined {
  if (typeof s !== 'string' || s === '') return `${JSON.stringify(s)} is not allowed; expected IPv4:port or [IPv6]:port`;
  const c = checkEndpoint(s);
  if (c.fault === 'syntax') return `${JSON.stringify(s)} is not allowed; expected IPv4:port or [IPv6]:port, e.g. 203.0.113.10:16384`;
  if (c.fault === 'host') return `${JSON.stringify(s)} is not allowed: ${JSON.stringify(c.host)} is not an IP address (agents connect by IP, no DNS)`;
  if (c.fault === 'port') return `${JSON.stringify(s)} is not allowed: port must be 1-65535`;
  return undefined;
}

const PIN = /^(?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f]{64}$/;
const PROXY_TYPES = ['none', 'socks4', 'socks4a', 'socks5', 'http'];
const FREQUENCIES = ['manual', 'hourly', 'daily', 'weekly'];
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

function isObj(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

/** Validates a parsed agent.json. Secret values (Technician ID, proxy password) never appear in issues. */
export function validateAgentConfig(raw: unknown, file: string): AgentConfig {
  const issues: ConfigIssue[] = [];
  const add = (path: string, message: string) => issues.push({ path, message });
  if (!isObj(raw)) throw new AgentConfigError(file, [{ path: '/', message: 'the file must hold a JSON object' }]);

  if (raw.technicianId !== undefined && (typeof raw.technicianId !== 'string' || raw.technicianId.trim() === '')) {
    add('/technicianId', 'must be a non-empty string (value not shown: it is a secret)');
  }
  if (raw.fleet !== undefined && typeof raw.fleet !== 'string') add('/fleet', `${JSON.stringify(raw.fleet)} is not allowed; expected a string`);
  if (!isObj(raw.registration)) add('/registration', 'missing; expected { "primary": "IP:port", "alternate": "IP:port" }');
  else
    for (const k of ['primary', 'alternate'] as const) {
      const p = endpointProblem(raw.registration[k]);
      if (p) add(`/registration/${k}`, p);
    }
  if (typeof raw.tlsPin !== 'string' || !PIN.test(raw.tlsPin)) {
    add('/tlsPin', `${JSON.stringify(raw.tlsPin)} is not allowed; expected the server certificate's SHA-256 fingerprint, AA:BB:... (32 hex pairs)`);
  }

  const proxy = raw.proxy ?? { type: 'none' };
  if (!isObj(proxy)) add('/proxy', 'expected an object { "type": "none" | "socks4" | "socks4a" | "socks5" | "http", ... }');
  else {
    if (!PROXY_TYPES.includes(proxy.type as string))
      add('/proxy/type', `${JSON.stringify(proxy.type)} is not allowed; expected one of ${PROXY_TYPES.join(', ')}`);
    else if (proxy.type !== 'none') {
      if (typeof proxy.host !== 'string' || proxy.host === '')
        add('/proxy/host', `${JSON.stringify(proxy.host)} is not allowed; expected the proxy's IP address or DNS name`);
      if (!Number.isInteger(proxy.port) || (proxy.port as number) < 1 || (proxy.port as number) > 65535) {
        add('/proxy/port', `${JSON.stringify(proxy.port)} is not allowed; expected an integer 1-65535`);
      }
    }
    if (proxy.username !== undefined && typeof proxy.username !== 'string') add('/proxy/username', 'expected a string');
    if (proxy.password !== undefined && typeof proxy.password !== 'string') add('/proxy/password', 'expected a string (value not shown: it is a secret)');
  }

  const backup = raw.backup ?? {};
  if (!isObj(backup)) add('/backup', 'expected an object { include, exclude, protectedPaths, schedule }');
  else {
    for (const k of ['include', 'exclude', 'protectedPaths'] as const) {
      const v = backup[k] ?? [];
      if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) add(`/backup/${k}`, `${JSON.stringify(v)} is not allowed; expected a list of strings`);
    }
    const s = backup.schedule ?? { frequency: 'manual', at: '00:00' };
    if (!isObj(s)) add('/backup/schedule', 'expected { "frequency": "manual|hourly|daily|weekly", "at": "HH:MM" }');
    else {
      if (!FREQUENCIES.includes(s.frequency as string))
        add('/backup/schedule/frequency', `${JSON.stringify(s.frequency)} is not allowed; expected one of ${FREQUENCIES.join(', ')}`);
      if (typeof s.at !== 'string' || !/^([01]\d|2[0-3]):[0-5]\d$/.test(s.at))
        add('/backup/schedule/at', `${JSON.stringify(s.at)} is not allowed; expected HH:MM (24 h)`);
      if (s.day !== undefined && !DAYS.includes(s.day as string))
        add('/backup/schedule/day', `${JSON.stringify(s.day)} is not allowed; expected one of ${DAYS.join(', ')}`);
    }
  }
  if (raw.stateDir !== undefined && (typeof raw.stateDir !== 'string' || raw.stateDir === ''))
    add('/stateDir', `${JSON.stringify(raw.stateDir)} is not allowed; expected a folder path`);
  if (raw.escrowPublicKeyPem !== undefined && (typeof raw.escrowPublicKeyPem !== 'string' || !raw.escrowPublicKeyPem.includes('BEGIN PUBLIC KEY'))) {
    add('/escrowPublicKeyPem', 'expected a PEM public key ("-----BEGIN PUBLIC KEY-----...")');
  }
  if (issues.length) throw new AgentConfigError(file, issues);

  const b = (isObj(backup) ? backup : {}) as Record<string, unknown>;
  return {
    ...(raw as unknown as AgentConfig),
    proxy: proxy as unknown as AgentProxy,
    backup: {
      include: (b.include as string[]) ?? [],
      exclude: (b.exclude as string[]) ?? [],
      protectedPaths: (b.protectedPaths as string[]) ?? [],
      schedule: (b.schedule as AgentConfig['backup']['schedule']) ?? { frequency: 'manual', at: '00:00' },
    },
  };
}

/** Reads, validates and completes the config; policy (GPO) values win over the file. */
export async function loadAgentConfig(flag?: string): Promise<LoadedAgentConfig> {
  const { path, source } = resolveConfigPath(flag);
  let raw: unknown;
  try {
    raw = await readJsonFile(path);
  } catch (err) {
    if (!(err instanceof JsonFileError)) throw err;
    const message = err.code === 'ENOENT' ? `no agent config here (chosen by ${source}); pass --config <file> or set HOLDFAST_CONFIG` : err.problem;
    throw new AgentConfigError(path, [{ path: '/', message }]);
  }
  let config = validateAgentConfig(raw, path);
  const overrides = await readPolicyOverrides(config);
  if (Object.keys(overrides).length) config = validateAgentConfig({ ...config, ...overrides }, `${path} (with policy overrides)`);
  const stateDir = config.stateDir ? resolve(dirname(path), config.stateDir) : join(dirname(path), 'state');
  return { config, path, stateDir, state: statePaths(stateDir) };
}
