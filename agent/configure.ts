// Writes the agent config (agent.json) at install time and removes it at uninstall. The MSI runs this through
// `holdfast-agent configure` as a deferred custom action (LocalSystem); admins may run it by hand too.
// Precedence per installer setting: a value given now (msiexec property) > the value of an earlier install >
// the fleet default. Everything else (TLS pin, backup policy, escrow key) always comes from the fleet defaults,
// so a newer installer updates policy but keeps what was set at the first install.
import { logFileSet, WINDOWS_LOG_NAMES } from './service-log.js';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { AgentConfig } from './config-types.js';
import { writeFileAtomic } from '../common/fs-atomic.js';
import { JsonFileError, readJsonFile } from '../common/json-file.js';
import { AgentConfigError, validateAgentConfig } from './config.js';
import { statePaths } from './state.js';
import { getPath, INSTALL_SETTINGS, isSecret, setPath, settingSchema } from './settings.js';

/** Settings an installer property may override (MSI: TECHNICIANID, REGPRIMARY, ...): the settings table's install settings. */
export const CONFIGURABLE_SETTINGS = INSTALL_SETTINGS.map((s) => s.name);
export type ConfigurableSetting = (typeof INSTALL_SETTINGS)[number]['name'];

const SECRET_SETTINGS: ReadonlySet<string> = new Set(INSTALL_SETTINGS.filter(isSecret).map((s) => s.name));
/** Settings whose value is a number in agent.json. */
const NUMERIC_SETTINGS: ReadonlySet<string> = new Set(INSTALL_SETTINGS.filter((s) => settingSchema(s).type === 'integer').map((s) => s.name));

export type SettingSource = 'given' | 'previous install' | 'fleet default' | 'unset';

export interface ConfigureOptions {
  /** agent.json to write. */
  configPath: string;
  /** The fleet defaults (fleet-defaults.json the installer lays down); default: the existing agent.json. */
  defaultsPath?: string;
  /** Values given now; empty strings count as "not given" (an unset MSI property formats to ""). */
  overrides?: Partial<Record<ConfigurableSetting, string>>;
  /** The installation that owns the config (the MSI ProductCode); recorded in installer.json beside it. */
  owner?: string;
  /** On Windows, limit the config folder to LocalSystem and Administrators (it holds secrets). */
  restrictAccess?: boolean;
}

/**
 * agent.json holds the Technician ID and proxy password, and ProgramData is readable by every local user: on Windows
 * the folder is limited to LocalSystem (S-1-5-18) and Administrators (S-1-5-32-544) with icacls. No-op elsewhere
 * (installers there create the folder with mode 0700/0600).
 */
export async function restrictToAdministrators(dir: string): Promise<void> {
  if (process.platform !== 'win32') return;
  const icacls = join(process.env.SystemRoot ?? 'C:\\Windows', 'System32', 'icacls.exe');
  await new Promise<void>((resolveDone, reject) => {
    execFile(icacls, [dir, '/inheritance:r', '/grant:r', '*S-1-5-18:(OI)(CI)F', '*S-1-5-32-544:(OI)(CI)F'], (err) =>
      err ? reject(new ConfigureError(`could not restrict access to ${dir} with icacls: ${err.message}`)) : resolveDone(),
    );
  });
}

/** installer.json beside agent.json: which installation wrote the config, so an older one's uninstall leaves it. */
export const OWNER_FILE = 'installer.json';
/** configure.log beside agent.json: what each install-time run did or why it failed (an MSI log cannot show it). */
export const CONFIGURE_LOG = 'configure.log';

/** Appends lines to configure.log; callers pass only text free of secret values. */
export async function appendConfigureLog(configPath: string, text: string): Promise<void> {
  const dir = dirname(resolve(configPath));
  await mkdir(dir, { recursive: true });
  const stamped = text
    .split('\n')
    .map((l) => `${new Date().toISOString()} ${l}`)
    .join('\n');
  await appendFile(join(dir, CONFIGURE_LOG), `${stamped}\n`);
}

export interface ConfigureResult {
  path: string;
  /** Where each setting came from; values are deliberately absent (some are secrets). */
  sources: Record<ConfigurableSetting, SettingSource>;
}

export class ConfigureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigureError';
  }
}

/** "proxy.port=1080" -> ["proxy.port", "1080"], refusing unknown settings (named, value never shown). */
export function parseSetting(arg: string): [ConfigurableSetting, string] {
  const eq = arg.indexOf('=');
  const key = eq < 0 ? arg : arg.slice(0, eq);
  if (!(CONFIGURABLE_SETTINGS as readonly string[]).includes(key)) {
    throw new ConfigureError(`unknown setting "${key}"; allowed: ${CONFIGURABLE_SETTINGS.join(', ')} (as --set name=value)`);
  }
  if (eq < 0) throw new ConfigureError(`--set ${key}: expected ${key}=value`);
  return [key as ConfigurableSetting, arg.slice(eq + 1)];
}

/**
 * Settings as name=value lines (what the MSI's configure action writes to stdin, so secrets never appear on a command
 * line). Blank lines are skipped; a later line wins. A bad line is named by its number only: it may be the tail of a
 * secret that held a line break.
 */
export function parseSettingLines(text: string): Partial<Record<ConfigurableSetting, string>> {
  const settings: Partial<Record<ConfigurableSetting, string>> = {};
  text.split(/\r?\n/).forEach((line, i) => {
    if (line === '') return;
    const eq = line.indexOf('=');
    const key = line.slice(0, Math.max(eq, 0));
    if (!(CONFIGURABLE_SETTINGS as readonly string[]).includes(key)) {
      throw new ConfigureError(`settings line ${i + 1} (stdin) is not name=value with a name of ${CONFIGURABLE_SETTINGS.join(', ')}`);
    }
    settings[key as ConfigurableSetting] = line.slice(eq + 1);
  });
  return settings;
}

async function readJson(path: string, what: string): Promise<unknown> {
  try {
    return await readJsonFile(path, what);
  } catch (err) {
    throw err instanceof JsonFileError ? new ConfigureError(`${what} ${err.message}`) : err;
  }
}

function getSetting(config: AgentConfig, key: ConfigurableSetting): string | undefined {
  const v = getPath(config, key);
  return v === undefined || v === null || v === '' ? undefined : String(v);
}

function setSetting(config: AgentConfig, key: ConfigurableSetting, value: string | undefined): void {
  setPath(config as unknown as Record<string, unknown>, key, NUMERIC_SETTINGS.has(key) && value !== undefined && /^\d+$/.test(value) ? Number(value) : value);
}

export async function configureAgent(opts: ConfigureOptions): Promise<ConfigureResult> {
  const configPath = resolve(opts.configPath);
  const previous = existsSync(configPath) ? await readJson(configPath, 'existing config').catch(() => undefined) : undefined;
  const defaultsRaw = opts.defaultsPath ? await readJson(resolve(opts.defaultsPath), 'fleet defaults') : previous;
  if (!defaultsRaw) throw new ConfigureError(`no fleet defaults given and no existing config at ${configPath}`);
  const defaults = validateAgentConfig(defaultsRaw, opts.defaultsPath ?? configPath);
  const prior = previous && typeof previous === 'object' ? (previous as AgentConfig) : undefined;

  const config: AgentConfig = structuredClone(defaults);
  config.proxy = { ...defaults.proxy };
  config.registration = { ...defaults.registration };
  const sources = {} as Record<ConfigurableSetting, SettingSource>;
  for (const key of CONFIGURABLE_SETTINGS) {
    const given = opts.overrides?.[key];
    const before = prior && prior.registration && prior.proxy ? getSetting(prior, key) : undefined;
    const fallback = getSetting(defaults, key);
    const [value, source]: [string | undefined, SettingSource] =
      given !== undefined && given !== ''
        ? [given, 'given']
        : before !== undefined
          ? [before, 'previous install']
          : fallback !== undefined
            ? [fallback, 'fleet default']
            : [undefined, 'unset'];
    setSetting(config, key, value);
    sources[key] = source;
  }
  if (prior?.stateDir !== undefined) config.stateDir = prior.stateDir;
  if (config.proxy.type === 'none') config.proxy = { type: 'none' };

  let valid: AgentConfig;
  try {
    valid = validateAgentConfig(config, configPath);
  } catch (err) {
    if (err instanceof AgentConfigError) {
      // Name the installer setting behind each bad field; validateAgentConfig never shows secret values.
      throw new ConfigureError(`the resulting config is not valid:\n${err.issues.map((i) => `  ${i.message}`).join('\n')}`);
    }
    throw err;
  }
  const stateDir = valid.stateDir ? resolve(dirname(configPath), valid.stateDir) : join(dirname(configPath), 'state');
  if (valid.technicianId === undefined && !existsSync(statePaths(stateDir).registration)) {
    throw new ConfigureError('no Technician ID: the installer carries none and none was given; set TECHNICIANID=... (msiexec) or --set technicianId=...');
  }
  await mkdir(dirname(configPath), { recursive: true });
  if (opts.restrictAccess) await restrictToAdministrators(dirname(configPath));
  await writeFileAtomic(configPath, `${JSON.stringify(valid, null, 2)}\n`, 0o600);
  if (opts.owner) {
    const record = `${JSON.stringify({ owner: opts.owner, configuredAt: new Date().toISOString() })}\n`;
    await writeFileAtomic(join(dirname(configPath), OWNER_FILE), record, 0o644);
  }
  return { path: configPath, sources };
}

/** One line per setting, for logs: where it came from, never the value of a secret. */
export function describeSources(result: ConfigureResult): string {
  return CONFIGURABLE_SETTINGS.map((k) => `${k}: ${result.sources[k]}${SECRET_SETTINGS.has(k) ? ' (secret)' : ''}`).join('\n');
}

/** State files that make up the device identity; kept on uninstall when the fleet says so. */
export function identityFiles(stateDir: string): string[] {
  const p = statePaths(stateDir);
  return [p.identity, p.registration, p.deviceKey];
}

/**
 * Uninstall: removes agent.json, the service log and the state folder. With keepIdentity the identity files stay,
 * so a reinstall or reimage re-registers as the same device instead of creating a duplicate.
 */
export async function unconfigureAgent(opts: {
  configPath: string;
  keepIdentity: boolean;
  /** Remove only if this installation owns the config; a newer one that replaced it keeps everything. */
  owner?: string;
}): Promise<{ removed: string[]; kept: string[]; ownedBy?: string }> {
  const configPath = resolve(opts.configPath);
  const dataDir = dirname(configPath);
  const ownerFile = join(dataDir, OWNER_FILE);
  if (opts.owner && existsSync(ownerFile)) {
    const recorded = ((await readJson(ownerFile, 'installer record').catch(() => ({}))) as { owner?: string }).owner;
    if (recorded && recorded.toUpperCase() !== opts.owner.toUpperCase()) return { removed: [], kept: [], ownedBy: recorded };
  }
  let stateDir = join(dataDir, 'state');
  if (existsSync(configPath)) {
    const raw = (await readJson(configPath, 'config').catch(() => undefined)) as AgentConfig | undefined;
    if (raw?.stateDir) stateDir = resolve(dataDir, raw.stateDir);
  }
  const removed: string[] = [];
  const kept: string[] = [];
  const wrapperLog = join(dataDir, WINDOWS_LOG_NAMES.wrapper);
  // The wrapper keeps one older copy of its log (holdfast-service.c, rotate_log).
  const logs = [...logFileSet(join(dataDir, WINDOWS_LOG_NAMES.agent)), wrapperLog, `${wrapperLog}.1`];
  for (const f of [configPath, ...logs, join(dataDir, CONFIGURE_LOG), ownerFile]) {
    if (existsSync(f)) {
      await rm(f, { force: true });
      removed.push(f);
    }
  }
  if (existsSync(stateDir)) {
    const keep = new Set(opts.keepIdentity ? identityFiles(stateDir) : []);
    for (const name of await readdir(stateDir)) {
      const f = join(stateDir, name);
      if (keep.has(f)) kept.push(f);
      else {
        await rm(f, { recursive: true, force: true });
        removed.push(f);
      }
    }
  }
  // Leave no empty folders behind (state, the product folder, the vendor folder); non-empty ones stay.
  for (const dir of [stateDir, dataDir, dirname(dataDir)]) await rmdir(dir).catch(() => {});
  return { removed, kept };
}
