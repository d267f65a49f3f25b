// macOS managed preferences: what a configuration profile (Jamf "Application & Custom Settings", the deployer's
// settings mobileconfig) sets for the agent's preference domain. A computer-level profile lands in
// /Library/Managed Preferences/<domain>.plist (binary or XML); the agent reads that file as root, maps its keys
// (the settings table's plist keys) onto the config, and wins over agent.json exactly as group policy does on Windows.
// HOLDFAST_MANAGED_PREFS_DIR points the reader at another folder (tests, or a Mac whose MDM writes elsewhere).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseBuffer } from 'bplist-parser';
import { parse } from 'plist';

import type { AgentConfig } from './config-types.js';
import { PolicyError, policyOverridesFrom } from './settings.js';

export const MANAGED_PREFS_DIR = '/Library/Managed Preferences';

/** The folder to read: HOLDFAST_MANAGED_PREFS_DIR, else the system folder on macOS, else none. */
export function managedPrefsDir(platform: NodeJS.Platform = process.platform, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.HOLDFAST_MANAGED_PREFS_DIR) return env.HOLDFAST_MANAGED_PREFS_DIR;
  return platform === 'darwin' ? MANAGED_PREFS_DIR : undefined;
}

/** Parses a binary ("bplist00") or XML property list whose root is a dictionary. */
export function parsePlist(data: Buffer, file: string): Record<string, unknown> {
  let root: unknown;
  try {
    root = data.subarray(0, 8).toString('latin1') === 'bplist00' ? parseBuffer(data)[0] : parse(data.toString('utf8'));
  } catch (err) {
    throw new PolicyError(`cannot read managed preferences ${file}: not a valid property list (${(err as Error).message.slice(0, 200)})`);
  }
  if (root === null || typeof root !== 'object' || Array.isArray(root) || root instanceof Date || Buffer.isBuffer(root)) {
    throw new PolicyError(`cannot read managed preferences ${file}: the top level is not a dictionary`);
  }
  return root as Record<string, unknown>;
}

/** Maps a managed-preferences dictionary onto config fields (merged with the config's own objects, like GPO). */
export function managedPrefsOverrides(prefs: Record<string, unknown>, config: AgentConfig, file: string): Partial<AgentConfig> {
  return policyOverridesFrom<AgentConfig>(
    {
      what: `managed preference (${file})`,
      key: (row) => row.plistKey,
      read(row, key) {
        const v = prefs[key];
        if (v === undefined) return undefined;
        if (row.map) {
          const plain = v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date) && !Buffer.isBuffer(v);
          if (!plain || Object.values(v).some((item) => typeof item !== 'string')) return JSON.stringify(v);
          return Object.keys(v).length === 0 ? undefined : (v as Record<string, string>);
        }
        if (row.list) {
          if (!Array.isArray(v) || v.some((item) => typeof item !== 'string')) return String(v);
          const list = (v as string[]).map((s) => s.trim()).filter((s) => s.length > 0);
          return list;
        }
        if (typeof v === 'number') return v;
        if (typeof v !== 'string') return JSON.stringify(v);
        const s = v.trim();
        return s === '' ? undefined : s;
      },
    },
    config,
  );
}

/** Overrides from `<dir>/<domain>.plist`; {} when the folder, the domain or the file does not exist. */
export async function readManagedPrefsOverrides(
  config: AgentConfig,
  platform: NodeJS.Platform = process.platform,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Partial<AgentConfig>> {
  const dir = managedPrefsDir(platform, env);
  const domain = config.policy?.domain;
  if (!dir || !domain) return {};
  const file = join(dir, `${domain}.plist`);
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new PolicyError(`cannot read managed preferences ${file}: ${(err as Error).message}`);
  }
  return managedPrefsOverrides(parsePlist(data, file), config, file);
}
