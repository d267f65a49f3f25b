// The machine's people: the local user profiles a service backs up by default, enumerated at each backup so new
// users are picked up, and the {profiles} token admins use in include, exclude and protected paths
// ("{profiles}/Documents" = the Documents folder of every user). Windows: the ProfileList key (S-1-5-21-* SIDs, i.e.
// local and domain users; LocalSystem, LocalService and NetworkService are S-1-5-18/19/20); macOS /Users/*;
// Linux /home/*. Tests point HOLDFAST_PROFILES_ROOT at a fake /Users or /home, or HOLDFAST_PROFILE_LIST at a key.
import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseRegQuery, regQuery } from './policy.js';

export const PROFILES_TOKEN = '{profiles}';
export const PROFILE_LIST_KEY = 'HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList';

export interface UserProfile {
  /** The profile folder's name (usually the user name). */
  user: string;
  path: string;
  /** Windows: the user's SID. */
  sid?: string;
}

export interface ProfileScan {
  profiles: UserProfile[];
  /** Where they came from: the registry key or the folder listed. */
  source: string;
}

/** Folders under /Users or /home that are not a person's profile. */
const NOT_PEOPLE = new Set(['Shared', 'Guest', 'Deleted Users', 'lost+found']);

function isFolder(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function listFolderProfiles(root: string): UserProfile[] {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  return names
    .filter((n) => !n.startsWith('.') && !NOT_PEOPLE.has(n) && isFolder(join(root, n)))
    .sort()
    .map((user) => ({ user, path: join(root, user) }));
}

/** %SystemDrive% and friends in a REG_EXPAND_SZ value. */
function expandEnv(value: string, env: NodeJS.ProcessEnv): string {
  return value.replace(/%([^%]+)%/g, (m, name: string) => {
    const key = Object.keys(env).find((k) => k.toLowerCase() === name.toLowerCase());
    return key ? (env[key] ?? m) : m;
  });
}

/** Profiles in `reg query <ProfileList> /s` output: S-1-5-21-* SIDs with a ProfileImagePath that is a folder. */
export function profilesFromRegQuery(text: string, env: NodeJS.ProcessEnv = process.env): UserProfile[] {
  const out: UserProfile[] = [];
  for (const [key, values] of parseRegQuery(text)) {
    const sid = key.slice(key.lastIndexOf('\\') + 1);
    // "S-1-5-21-...-1001.bak" keys are profiles Windows could not load; the live key has no suffix.
    if (!/^S-1-5-21-[0-9-]+$/i.test(sid)) continue;
    const image = values.get('ProfileImagePath');
    if (!image || typeof image.value !== 'string') continue;
    const path = expandEnv(image.value.trim(), env);
    if (!isFolder(path)) continue;
    out.push({ user: basename(path.replace(/[\\/]+$/, '')), path, sid });
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** The machine's user profiles, read now. */
export async function listProfiles(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): Promise<ProfileScan> {
  const root = env.HOLDFAST_PROFILES_ROOT;
  if (root) return { profiles: listFolderProfiles(root), source: root };
  if (platform === 'win32') {
    const key = env.HOLDFAST_PROFILE_LIST || PROFILE_LIST_KEY;
    const text = await regQuery(key, 'the user profile list');
    return { profiles: text === undefined ? [] : profilesFromRegQuery(text, env), source: key };
  }
  const dir = platform === 'darwin' ? '/Users' : '/home';
  return { profiles: listFolderProfiles(dir), source: dir };
}

/** A path or pattern starting with {profiles}: the part after it ('' for the profile folder itself), else undefined. */
function afterToken(p: string): string | undefined {
  if (!p.startsWith(PROFILES_TOKEN)) return undefined;
  const rest = p.slice(PROFILES_TOKEN.length);
  if (rest !== '' && rest[0] !== '/' && rest[0] !== '\\') return undefined;
  return rest.replace(/^[\\/]+/, '');
}

export function usesProfiles(p: string): boolean {
  return afterToken(p) !== undefined;
}

/** One entry per profile for each {profiles} entry; other entries unchanged. */
export function expandProfiles(list: string[], profiles: UserProfile[]): string[] {
  return list.flatMap((p) => {
    const rest = afterToken(p);
    if (rest === undefined) return [p];
    return profiles.map((u) => (rest === '' ? u.path : join(u.path, rest)));
  });
}

export interface NamedRoot {
  path: string;
  /** Name of the folder inside snapshots: the user for a whole profile, else "<user>-<rest>" so users never clash. */
  name: string;
}

/** Include entries with {profiles} expanded into named roots; other entries keep their folder name. */
export function expandProfileRoots(list: string[], profiles: UserProfile[]): Array<string | NamedRoot> {
  return list.flatMap((p): Array<string | NamedRoot> => {
    const rest = afterToken(p);
    if (rest === undefined) return [p];
    const suffix = rest.replace(/[\\/:]+/g, '-');
    return profiles.map((u) => ({ path: rest === '' ? u.path : join(u.path, rest), name: suffix ? `${u.user}-${suffix}` : u.user }));
  });
}

/** What an empty include means on a service: every local user profile. */
export const DEFAULT_INCLUDE = [PROFILES_TOKEN];

/**
 * Per-OS folders no backup wants, in the style of peers (CrashPlan, Backblaze, Carbonite): temp folders, caches,
 * trash, registry hives Windows keeps locked, cloud-sync placeholders (online-only files a read would download).
 */
export const DEFAULT_EXCLUDES: Record<'win32' | 'darwin' | 'linux', string[]> = {
  win32: [
    '{profiles}/AppData/Local/Temp',
    '{profiles}/AppData/Local/Microsoft/Windows/INetCache',
    '{profiles}/AppData/Local/Microsoft/Windows/Explorer',
    '{profiles}/AppData/Local/CrashDumps',
    '{profiles}/AppData/Local/Microsoft/Windows/UsrClass.dat*',
    '{profiles}/NTUSER.DAT*',
    '{profiles}/ntuser.dat.LOG*',
  ],
  darwin: [
    '{profiles}/Library/Caches',
    '{profiles}/Library/Containers/*/Data/Library/Caches',
    '{profiles}/Library/Logs',
    '{profiles}/Library/CloudStorage',
    '{profiles}/.Trash',
    '**/.*.icloud',
  ],
  linux: ['{profiles}/.cache', '{profiles}/.local/share/Trash', '{profiles}/.thumbnails'],
};

export function defaultExcludes(platform: NodeJS.Platform = process.platform): string[] {
  return DEFAULT_EXCLUDES[platform === 'win32' || platform === 'darwin' ? platform : 'linux'];
}

/** Where {profiles} finds the users on each OS, in words (guide, docs). */
export const PROFILE_SOURCES: Record<'win32' | 'darwin' | 'linux', { os: string; where: string; example: string }> = {
  win32: { os: 'Windows', where: 'the user profiles in the ProfileList registry key (users with S-1-5-21-* SIDs)', example: 'C:\\Users\\<user>' },
  darwin: { os: 'macOS', where: 'the folders in /Users (not Shared or Guest)', example: '/Users/<user>' },
  linux: { os: 'Linux', where: 'the folders in /home', example: '/home/<user>' },
};

/** One include entry in words: "Documents of every user (C:\\Users\\<user>\\Documents, /Users/<user>/Documents)". */
export function describeIncludeEntry(p: string): string {
  const rest = afterToken(p);
  if (rest === undefined) return p;
  const win = `${PROFILE_SOURCES.win32.example}${rest ? `\\${rest.replace(/\//g, '\\')}` : ''}`;
  const mac = `${PROFILE_SOURCES.darwin.example}${rest ? `/${rest.replace(/\\/g, '/')}` : ''}`;
  return `${rest ? `${rest.replace(/\\/g, '/')} of every user` : 'every user profile'} (${win}, ${mac})`;
}
