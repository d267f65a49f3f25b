// Admin policy overrides for the agent config: group policy (HKLM\Software\Policies\<vendor>\<product>) on Windows,
// macOS managed preferences elsewhere (agent/managed-prefs.ts). Policies win over the config file; off Windows no
// process is spawned. The value names come from the settings table (agent/settings.ts), as the ADMX's do.
import { execFile } from 'node:child_process';

import type { AgentConfig } from './config-types.js';
import { readManagedPrefsOverrides } from './managed-prefs.js';
import { POLICY_SETTINGS, PolicyError, policyOverridesFrom } from './settings.js';

/** Registry value names under the policy key (from the settings table); the ADMX writes exactly these. */
export const POLICY_VALUES: Readonly<Record<string, string>> = Object.fromEntries(
  POLICY_SETTINGS.filter((s) => !('list' in s) && !('map' in s)).map((s) => [s.name, s.policyValue]),
);
/** Subkey holding the exclusion list (ADMX <list>: values named 1, 2, 3...). */
export const POLICY_EXCLUSIONS_KEY = POLICY_SETTINGS.find((s) => s.name === 'backup.exclude')!.policyValue;
/** Subkey holding the address map (ADMX <list explicitValue>: value name = server IP:port, data = firewall IP:port). */
export const POLICY_ADDRESS_MAP_KEY = POLICY_SETTINGS.find((s) => s.name === 'addressMap')!.policyValue;

export { PolicyError };

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

/**
 * Map the values under the policy key (and its list subkeys) onto config fields, merged with the config's own nested
 * objects so the caller can lay the result over the config with a shallow spread.
 */
export function policyOverrides(tree: RegistryTree, config: AgentConfig): Partial<AgentConfig> {
  const policy = config.policy;
  if (!policy) return {};
  const base = `\\Software\\Policies\\${policy.vendor}\\${policy.product}`;
  const values = findKey(tree, base);
  return policyOverridesFrom<AgentConfig>(
    {
      what: 'policy value',
      key: (row) => row.policyValue,
      read(row, name) {
        if (row.map) {
          const sub = findKey(tree, `${base}\\${name}`);
          if (!sub || sub.size === 0) return undefined;
          return Object.fromEntries([...sub.entries()].map(([k, v]) => [k.trim(), String(v.value).trim()]));
        }
        if (row.list) {
          // ADMX list values are named 1, 2, 3...: keep their order. An empty or missing subkey sets nothing.
          const sub = findKey(tree, `${base}\\${name}`);
          if (!sub || sub.size === 0) return undefined;
          const list = [...sub.entries()]
            .sort(([a], [b]) => (Number(a) || 0) - (Number(b) || 0) || a.localeCompare(b))
            .map(([, v]) => String(v.value).trim())
            .filter((s) => s.length > 0);
          return list;
        }
        const v = values?.get(name);
        if (v === undefined) return undefined;
        if (typeof v.value === 'number') return v.value;
        const s = v.value.trim();
        return s === '' ? undefined : s;
      },
    },
    config,
  );
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

/**
 * Values set by policy, to be laid over the config file: group policy on Windows, managed preferences on macOS (or
 * wherever HOLDFAST_MANAGED_PREFS_DIR points). Empty where neither exists.
 */
export async function readPolicyOverrides(
  config: AgentConfig,
  platform: NodeJS.Platform = process.platform,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Partial<AgentConfig>> {
  if (platform !== 'win32') return readManagedPrefsOverrides(config, platform, env);
  if (!config.policy) return {};
  const text = await regQuery(policyKey(config.policy.vendor, config.policy.product));
  if (text === undefined) return {};
  return policyOverrides(parseRegQuery(text), config);
}
