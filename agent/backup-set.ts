// What a backup covers, resolved now: the include list (empty: every local user profile), the config's and the
// per-OS default excludes plus the agent's own caches, and the protected paths, with {profiles} expanded against the
// profiles found at this moment. Backups, the guard, `exclude` and `status` all take it from here.
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { LoadedAgentConfig } from './config.js';
import {
  DEFAULT_INCLUDE,
  defaultExcludes,
  expandProfileRoots,
  expandProfiles,
  listProfiles,
  type NamedRoot,
  type ProfileScan,
  usesProfiles,
} from './profiles.js';
import { statePaths } from './state.js';
import { nameRoots } from './engine/walker.js';

export interface BackupSet {
  /** Folders to back up, profile folders with their snapshot names ("alice", "alice-Documents"). */
  roots: Array<string | NamedRoot>;
  /** True when the config's include list is empty and the default (every user profile) applies. */
  defaultInclude: boolean;
  /** Exclude patterns: the config's, then the per-OS defaults and the agent's own caches. */
  exclude: string[];
  /** Protected paths, expanded. */
  protectedPaths: string[];
  /** The profiles found (and where), when any entry uses {profiles}. */
  profiles: ProfileScan | null;
}

/** "~" is the home of the account the agent runs as; relative folders are relative to the config file. */
function absolute(loaded: LoadedAgentConfig, p: string): string {
  if (usesProfiles(p) || p.startsWith('**')) return p;
  return resolve(dirname(loaded.path), p === '~' || p.startsWith('~/') || p.startsWith('~\\') ? homedir() + p.slice(1) : p);
}

/** The agent's own files that change with every backup: never worth backing up. */
function ownCaches(stateDir: string): string[] {
  const s = statePaths(stateDir);
  return [`${s.changeCache}*`, `${s.lastResult}*`];
}

export async function resolveBackupSet(loaded: LoadedAgentConfig, env: NodeJS.ProcessEnv = process.env): Promise<BackupSet> {
  const { backup } = loaded.config;
  const defaultInclude = backup.include.length === 0;
  const include = defaultInclude ? DEFAULT_INCLUDE : backup.include;
  const excludeGiven = [...backup.exclude, ...defaultExcludes()];
  const needsProfiles = [...include, ...excludeGiven, ...backup.protectedPaths].some(usesProfiles);
  const profiles = needsProfiles ? await listProfiles(env) : null;
  const users = profiles?.profiles ?? [];
  return {
    roots: expandProfileRoots(include, users).map((r) => (typeof r === 'string' ? absolute(loaded, r) : r)),
    defaultInclude,
    exclude: [...new Set([...expandProfiles(excludeGiven, users), ...ownCaches(loaded.stateDir)])],
    protectedPaths: expandProfiles(backup.protectedPaths, users).map((p) => absolute(loaded, p)),
    profiles,
  };
}

/** The backup set as `status` reports it: what the include says, and the folders and users it means right now. */
export interface BackupSetReport {
  include: string[];
  /** "every local user profile" when the include is empty. */
  meaning: string;
  profilesFrom: string | null;
  users: string[];
  folders: Array<{ name: string; path: string }>;
  exclude: string[];
  protectedPaths: string[];
}

export function reportBackupSet(loaded: LoadedAgentConfig, set: BackupSet): BackupSetReport {
  return {
    include: set.defaultInclude ? [...DEFAULT_INCLUDE] : [...loaded.config.backup.include],
    meaning: set.defaultInclude ? 'every local user profile (include is empty)' : 'the include list',
    profilesFrom: set.profiles?.source ?? null,
    users: set.profiles?.profiles.map((u) => u.user) ?? [],
    folders: nameRoots(set.roots).map((r) => ({ name: r.name, path: r.path })),
    exclude: set.exclude,
    protectedPaths: set.protectedPaths,
  };
}
