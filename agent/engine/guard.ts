// Deselection guard: users may exclude files from backup, but not the files a restore (Heal) needs: the agent's
// identity and device key and the admin's protected paths. The guard judges a rule by what it would actually drop
// (the protected paths it matches, the folders above them, and every file a protected folder holds now), not by its
// text, so "**/*.bin" cannot take a protected folder's .bin files. Such an exclusion is refused with the list of what
// it would drop, unless forced; backups keep protected files whatever an exclude says (excludeFilter).
// User exclusions live in the state folder (the config file belongs to the installer).
import { mkdirSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { statePaths } from '../state.js';
import { writeFileAtomicSync } from '../../common/fs-atomic.js';
import { JsonFileError, readJsonFileSync } from '../../common/json-file.js';
import { compilePattern, isSameOrInside, literalPrefix, PatternSet, portablePath } from './patterns.js';
import { walk } from './walker.js';

export interface ProtectedPath {
  path: string;
  why: string;
}

export interface Violation {
  pattern: string;
  protectedPath: string;
  why: string;
  /** The first paths the rule would drop (portable form); the protected path itself when it drops all of it. */
  drops: string[];
  /** How many files and folders it would drop today (0: it names the protected path but nothing is there yet). */
  count: number;
}

/** Paths listed per violation in messages and results; the count is always complete. */
export const DROPS_LISTED = 10;

export class DeselectionRefusedError extends Error {
  constructor(readonly violations: Violation[]) {
    super(
      `refusing to exclude files a restore (Heal) needs:\n${violations.map(describeViolation).join('\n')}\n` +
        'Excluding them means they cannot be healed after a loss. Use --force if you are sure.',
    );
    this.name = 'DeselectionRefusedError';
  }
}

/** One violation as text: the rule, the protected path, what it would drop (first paths and a count). */
export function describeViolation(v: Violation): string {
  const what = v.count === 0 ? 'nothing there yet, but everything put there later' : `${v.count} path${v.count === 1 ? '' : 's'}`;
  const head = `  "${v.pattern}" would drop from ${v.protectedPath} (${v.why}): ${what}`;
  const more = v.count > v.drops.length ? [`    ... and ${v.count - v.drops.length} more`] : [];
  return [head, ...v.drops.map((d) => `    ${d}`), ...more].join('\n');
}

/** The state files a Heal needs (the change cache and last result are rebuilt by the next backup). */
function stateNeededForHeal(stateDir: string): string[] {
  const s = statePaths(stateDir);
  return [s.identity, s.registration, s.deviceKey];
}

export function protectedPaths(stateDir: string, configured: string[]): ProtectedPath[] {
  return [
    ...stateNeededForHeal(stateDir).map((p) => ({ path: portablePath(p), why: "the agent's identity and device key" })),
    ...configured.map((p) => ({ path: portablePath(p), why: 'protected by your administrator' })),
  ];
}

/** What each pattern would drop of the protected paths, found by walking them as a backup would. */
export function findViolations(patterns: string[], prot: ProtectedPath[]): Violation[] {
  const out: Violation[] = [];
  const contents = new Map<string, string[]>();
  const inside = (p: string): string[] => {
    let list = contents.get(p);
    if (!list) {
      list = [
        p,
        ...walk([p])
          .entries.slice(1)
          .map((e) => portablePath(e.source)),
      ];
      contents.set(p, list);
    }
    return list;
  };
  for (const pattern of patterns) {
    const m = compilePattern(pattern);
    const prefix = literalPrefix(pattern);
    for (const p of prot) {
      // A rule naming a place inside a protected folder drops what is put there later, even if nothing is there yet.
      const aimsInside = prefix !== '' && prefix !== '/' && isSameOrInside(prefix, p.path);
      const dropped = m.matches(p.path) ? [p.path] : inside(p.path).filter((path) => m.matches(path));
      const count = m.matches(p.path) ? inside(p.path).length : dropped.length;
      if (dropped.length > 0 || aimsInside) out.push({ pattern, protectedPath: p.path, why: p.why, drops: dropped.slice(0, DROPS_LISTED), count });
    }
  }
  return out;
}

/** What a backup's exclusion filter kept although an exclude matched it: protected paths, per pattern. */
export interface KeptProtected {
  pattern: string;
  count: number;
  paths: string[];
}

export interface ExcludeFilter {
  isExcluded(portable: string): boolean;
  /** Filled during the walk. */
  kept: Map<string, KeptProtected>;
}

/**
 * The exclusion test a backup walks with. A path a `guarded` pattern matches is skipped unless it is protected (kept,
 * and noted in `kept`) or a folder above a protected path (walked, so the protected path is reached); `forced`
 * patterns (the user accepted what they drop) apply as given.
 */
export function excludeFilter(ex: BackupExclusions): ExcludeFilter {
  const guarded = new PatternSet(ex.guarded);
  const forced = new PatternSet(ex.forced);
  const kept = new Map<string, KeptProtected>();
  return {
    kept,
    isExcluded(path) {
      if (forced.find(path)) return true;
      const m = guarded.find(path);
      if (!m) return false;
      if (ex.protect.some((p) => isSameOrInside(path, p))) {
        const k = kept.get(m.pattern) ?? { pattern: m.pattern, count: 0, paths: [] };
        if (k.paths.length < DROPS_LISTED) k.paths.push(path);
        k.count++;
        kept.set(m.pattern, k);
        return false;
      }
      return !ex.protect.some((p) => isSameOrInside(p, path));
    },
  };
}

/** One warning line per pattern whose matches a backup kept because they are protected. */
export function keptWarnings(kept: Iterable<KeptProtected>): string[] {
  return [...kept].map((k) => {
    const paths = `${k.paths.join(', ')}${k.count > k.paths.length ? ', ...' : ''}`;
    return `exclude "${k.pattern}" matches ${k.count} protected path${k.count === 1 ? '' : 's'}, backed up anyway: ${paths}`;
  });
}

export interface UserExclusions {
  patterns: string[];
  /** Patterns added with --force over the guard; backups do not refuse them again. */
  forced: string[];
}

export function exclusionsPath(stateDir: string): string {
  return statePaths(stateDir).exclusions;
}

export function readExclusions(stateDir: string): UserExclusions {
  try {
    const data = readJsonFileSync(exclusionsPath(stateDir)) as UserExclusions;
    return { patterns: data.patterns ?? [], forced: data.forced ?? [] };
  } catch (err) {
    if (err instanceof JsonFileError && err.code === 'ENOENT') return { patterns: [], forced: [] };
    throw err instanceof JsonFileError ? new Error(`${err.message} (the exclusions file is damaged)`) : err;
  }
}

function writeExclusions(stateDir: string, ex: UserExclusions): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileAtomicSync(exclusionsPath(stateDir), `${JSON.stringify(ex, null, 2)}\n`, 0o600);
}

/** Patterns stored as given: "**" (anywhere), "~" (home), "{profiles}" (every user profile), absolute paths. */
function isAnchored(p: string): boolean {
  return p.startsWith('**') || p.startsWith('~') || p.startsWith('{profiles}') || isAbsolute(p);
}

/** Add a user exclusion; throws DeselectionRefusedError (nothing saved) when it covers protected paths. */
export function addExclusion(
  stateDir: string,
  configured: string[],
  given: string,
  force = false,
  expand: (pattern: string) => string[] = (p) => [p],
): { pattern: string; violations: Violation[] } {
  if (given.trim() === '') throw new Error('exclude pattern is empty');
  // Relative paths mean "from here": store them absolute, since the service runs elsewhere.
  const pattern = isAnchored(given) ? given : resolve(given);
  const violations = findViolations(expand(pattern), protectedPaths(stateDir, configured)).map((v) => ({ ...v, pattern }));
  if (violations.length > 0 && !force) throw new DeselectionRefusedError(violations);
  const ex = readExclusions(stateDir);
  if (!ex.patterns.includes(pattern)) ex.patterns.push(pattern);
  if (violations.length > 0 && !ex.forced.includes(pattern)) ex.forced.push(pattern);
  writeExclusions(stateDir, ex);
  return { pattern, violations };
}

export function removeExclusion(stateDir: string, given: string): boolean {
  const ex = readExclusions(stateDir);
  const pattern = ex.patterns.includes(given) || isAnchored(given) ? given : resolve(given);
  if (!ex.patterns.includes(pattern)) return false;
  writeExclusions(stateDir, { patterns: ex.patterns.filter((p) => p !== pattern), forced: ex.forced.filter((p) => p !== pattern) });
  return true;
}

export interface BackupExclusions {
  /** Patterns that never drop protected paths: the config's and the user's unforced ones. */
  guarded: string[];
  /** User patterns added with --force (every pattern with `backup --force`): they apply as given. */
  forced: string[];
  /** The protected paths (portable form). */
  protect: string[];
}

/**
 * The exclusions a backup applies: config excludes (already expanded) + user excludes, protected paths kept unless
 * forced. `expand` turns a user pattern into the patterns it stands for ({profiles}: one per user profile).
 */
export function backupExclusions(
  stateDir: string,
  configExclude: string[],
  configured: string[],
  force = false,
  expand: (patterns: string[]) => string[] = (p) => p,
): BackupExclusions {
  const ex = readExclusions(stateDir);
  const unforced = [...new Set([...configExclude, ...expand(ex.patterns.filter((p) => !ex.forced.includes(p)))])];
  const forced = expand(ex.forced);
  const protect = protectedPaths(stateDir, configured).map((p) => p.path);
  if (force) return { guarded: [], forced: [...unforced, ...forced], protect };
  return { guarded: unforced, forced, protect };
}
