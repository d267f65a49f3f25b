// Admin policy (GPO) overrides for the agent config: HKLM\Software\Policies\<vendor>\<product> on Windows.
// Policies win over the config file wherever a registry is available; elsewhere this returns {} without
// spawning anything. The value names match the ADMX the deployer's gpo target writes (templates/gpo).
import { execFile } from 'node:child_process';

import type { AgentConfig, AgentSchedule } from './config-types.js';
import { fieldRule, PROXY_TYPES, SCHEDULE_DAYS, SCHEDULE_FREQUENCIES } from './config-schema.js';

/** Registry value names under the policy key; the ADMX writes exactly these. */
export const POLICY_VALUES = {
  technicianId: 'TechnicianId',
  registrationPrimary: 'RegistrationPrimary',
  registrationAlternate: 'RegistrationAlternate',
  proxyType: 'ProxyType',
  proxyHost: 'ProxyHost',
  proxyPort: 'ProxyPort',
  proxyUsername: 'ProxyUsername',
  scheduleFrequency: 'ScheduleFrequency',
  scheduleAt: 'ScheduleAt',
  scheduleDay: 'ScheduleDay',
} as const;
/** Subkey holding the exclusion list (ADMX <list>: values named 1, 2, 3...). */
export const POLICY_EXCLUSIONS_KEY = 'Exclusions';

const TECHNICIAN_ID = fieldRule('technicianId');
const SCHEDULE_AT = fieldRule('scheduleAt');

export class PolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyError';
  }
}

export type RegistryValue = { type: 'REG_SZ' | 'REG_EXPAND_SZ' | 'REG_MULTI_SZ'; value: string } | { type: 'REG_DWORD' | 'REG_QWORD'; value: number };

/** Registry key path (as `reg query` prints it) -> value name -> value. */
export type RegistryTree = Map<string, Map<string, RegistryValue>>;

export function policyKey(vendor: string, product: string): string {
  return `HKLM\\Software\\Policies\\${vendor}\\${product}`;
}

/** Parse the output of `reg query <key> /s`. Value lines are indented by four spaces and fields separated by four. */
export function parseRegQuery(text: string): RegistryTree {
  const tree: RegistryTree = new Map();
  let current: Map<string, RegistryValue> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/\r$/, '');
    if (/^HKEY_/i.test(line)) {
      current = new Map();
      tree.set(line.trim(), current);
      continue;
    }
    const m = /^ {4}(.*?) {4}(REG_[A-Z_]+)(?: {4}(.*))?$/.exec(line);
    if (!m || !current) continue;
    const [, name, type, data = ''] = m;
    const valueName = name === '(Default)' ? '' : name;
    if (type === 'REG_DWORD' || type === 'REG_QWORD') current.set(valueName, { type, value: Number(BigInt(data.trim())) });
    else if (type === 'REG_SZ' || type === 'REG_EXPAND_SZ' || type === 'REG_MULTI_SZ') current.set(valueName, { type, value: data });
  }
  return tree;
}

function findKey(tree: RegistryTree, suffix: string): Map<string, RegistryValue> | undefined {
  const want = suffix.toLowerCase();
  for (const [key, values] of tree) if (key.toLowerCase().endsWith(want)) return values;
  return undefined;
}

function text(values: Map<string, RegistryValue>, name: string): string | undefined {
  const v = values.get(name);
  if (v === undefined) return undefined;
  const s = String(v.value).trim();
  return s === '' ? undefined : s;
}

function oneOf<T extends string>(values: Map<string, RegistryValue>, name: string, allowed: readonly T[]): T | undefined {
  const s = text(values, name);
  if (s === undefined) return undefined;
  const lower = s.toLowerCase() as T;
  if (!allowed.includes(lower)) {
    throw new PolicyError(`policy value ${name}: ${JSON.stringify(s.slice(0, 80))} is not allowed; expected one of ${allowed.join(', ')}`);
  }
  return lower;
}

/**
 * Map the values under the policy key (and its Exclusions subkey) onto config fields, merged with the
 * config's own nested objects so the caller can lay the result over the config with a shallow spread.
 */
export function policyOverrides(tree: RegistryTree, config: AgentConfig): Partial<AgentConfig> {
  const policy = config.policy;
  if (!policy) return {};
  const base = `\\Software\\Policies\\${policy.vendor}\\${policy.product}`;
  const values = findKey(tree, base);
  const exclusions = findKey(tree, `${base}\\${POLICY_EXCLUSIONS_KEY}`);
  const out: Partial<AgentConfig> = {};
  if (values) {
    const n = POLICY_VALUES;
    const technicianId = text(values, n.technicianId);
    if (technicianId !== undefined) {
      // Never echo the Technician ID: it is a secret.
      if (!TECHNICIAN_ID.pattern.test(technicianId))
        throw new PolicyError(`policy value ${n.technicianId}: (hidden secret) is not allowed; expected ${TECHNICIAN_ID.allowed}`);
      out.technicianId = technicianId;
    }
    const primary = text(values, n.registrationPrimary);
    const alternate = text(values, n.registrationAlternate);
    if (primary !== undefined || alternate !== undefined) {
      out.registration = { primary: primary ?? config.registration.primary, alternate: alternate ?? config.registration.alternate };
    }
    const type = oneOf(values, n.proxyType, PROXY_TYPES);
    const host = text(values, n.proxyHost);
    const portValue = values.get(n.proxyPort);
    const username = text(values, n.proxyUsername);
    if (type !== undefined || host !== undefined || portValue !== undefined || username !== undefined) {
      let port: number | undefined;
      if (portValue !== undefined) {
        port = Number(portValue.value);
        if (!Number.isInteger(port) || port < 1 || port > 65535) {
          throw new PolicyError(
            `policy value ${n.proxyPort}: ${JSON.stringify(String(portValue.value).slice(0, 20))} is not allowed; expected an integer from 1 to 65535`,
          );
        }
      }
      out.proxy =
        type === 'none'
          ? { type: 'none' }
          : {
              ...config.proxy,
              ...(type !== undefined && { type }),
              ...(host !== undefined && { host }),
              ...(port !== undefined && { port }),
              ...(username !== undefined && { username }),
            };
    }
    const frequency = oneOf(values, n.scheduleFrequency, SCHEDULE_FREQUENCIES);
    const at = text(values, n.scheduleAt);
    const day = oneOf(values, n.scheduleDay, SCHEDULE_DAYS);
    if (at !== undefined && !SCHEDULE_AT.pattern.test(at)) {
      throw new PolicyError(`policy value ${n.scheduleAt}: ${JSON.stringify(at.slice(0, 20))} is not allowed; expected ${SCHEDULE_AT.allowed}`);
    }
    if (frequency !== undefined || at !== undefined || day !== undefined) {
      const schedule: AgentSchedule = { ...config.backup.schedule, ...(frequency && { frequency }), ...(at && { at }), ...(day && { day }) };
      out.backup = { ...config.backup, schedule };
    }
  }
  if (exclusions && exclusions.size > 0) {
    // ADMX list values are named 1, 2, 3...: keep their order.
    const list = [...exclusions.entries()]
      .sort(([a], [b]) => (Number(a) || 0) - (Number(b) || 0) || a.localeCompare(b))
      .map(([, v]) => String(v.value).trim())
      .filter((s) => s.length > 0);
    out.backup = { ...(out.backup ?? config.backup), exclude: list };
  }
  return out;
}

/** Run `reg query <key> /s`; undefined when the key does not exist (reg exits 1). `what` names the data in errors. */
export function regQuery(key: string, what = 'group policy'): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    execFile('reg', ['query', key, '/s'], { windowsHide: true, timeout: 15_000, maxBuffer: 4 << 20 }, (err, stdout) => {
      if (!err) return resolve(stdout);
      const code = (err as { code?: unknown }).code;
      if (code === 1) return resolve(undefined);
      if (code === 'ENOENT') return reject(new PolicyError(`cannot read ${what}: reg.exe was not found`));
      return reject(new PolicyError(`cannot read ${what} at ${key}: ${err.message}`));
    });
  });
}

/** Values set by policy, to be laid over the config file. Empty where no registry or no policy exists. */
export async function readPolicyOverrides(config: AgentConfig, platform: NodeJS.Platform = process.platform): Promise<Partial<AgentConfig>> {
  if (platform !== 'win32' || !config.policy) return {};
  const text = await regQuery(policyKey(config.policy.vendor, config.policy.product));
  if (text === undefined) return {};
  return policyOverrides(parseRegQuery(text), config);
}
