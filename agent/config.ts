// Finds, reads and validates the agent config (agent.json), then lays admin policy overrides over it.
// Lookup: --config > HOLDFAST_CONFIG > agent.json beside the running bundle > the platform default.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { AgentConfig } from './config-types.js';
import { agentConfigSchema, fieldRule } from './config-schema.js';
import { readPolicyOverrides } from './policy.js';
import { statePaths, type StatePaths } from './state.js';
import { endpointFaultDetail, parseEndpoint } from '../common/endpoint.js';
import { JsonFileError, readJsonFile } from '../common/json-file.js';
import { schemaCheck, SchemaIssuesError, type SchemaIssue } from '../common/json-schema.js';

/** A problem in agent.json: its JSON pointer, the (masked) value, what is allowed, and the line to print. */
export type ConfigIssue = SchemaIssue;

export class AgentConfigError extends SchemaIssuesError {
  override name = 'AgentConfigError';
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

const ENDPOINT = fieldRule('endpoint');

/** Why `s` is not an IP:port the agent can use (worded as schema errors are), or undefined when it is fine. */
export function endpointProblem(s: unknown): string | undefined {
  if (typeof s === 'string' && parseEndpoint(s)) return undefined;
  const detail = typeof s === 'string' ? endpointFaultDetail(s) : undefined;
  return `${JSON.stringify(s)} is not allowed${detail ? `: ${detail}` : ''}; expected ${ENDPOINT.allowed}`;
}

const checkAgentConfig = schemaCheck(agentConfigSchema);

/**
 * Validates a parsed agent.json against agent-config.schema.json and returns it completed with the schema's
 * defaults (the input is not changed). Secret values (Technician ID, proxy password) never appear in issues.
 */
export function validateAgentConfig(raw: unknown, file: string): AgentConfig {
  const config = structuredClone(raw);
  const issues = checkAgentConfig(config);
  if (issues.length) throw new AgentConfigError(file, issues);
  return config as AgentConfig;
}

/** The config with group policy values laid over it (policy wins field by field), validated again. */
export function withPolicyOverrides(config: AgentConfig, overrides: Partial<AgentConfig>, file: string): AgentConfig {
  if (Object.keys(overrides).length === 0) return config;
  return validateAgentConfig({ ...config, ...overrides }, `${file} (with policy overrides)`);
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
    throw new AgentConfigError(path, [{ path: '/', allowed: 'a readable JSON file', message }]);
  }
  const fromFile = validateAgentConfig(raw, path);
  const config = withPolicyOverrides(fromFile, await readPolicyOverrides(fromFile), path);
  const stateDir = config.stateDir ? resolve(dirname(path), config.stateDir) : join(dirname(path), 'state');
  return { config, path, stateDir, state: statePaths(stateDir) };
}
