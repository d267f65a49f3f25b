// Deselection guard: users may exclude files from backup, but not the files a restore (Heal) needs: the agent's
// own state (identity, device key) and the admin's protected paths. Such an exclusion is refused, with the
// reason, unless forced. User exclusions live in the state folder (the config file belongs to the installer).
import { mkdirSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { statePaths } from '../state.js';
import { writeFileAtomicSync } from '../../common/fs-atomic.js';
import { JsonFileError, readJsonFileSync } from '../../common/json-file.js';
import { compilePattern, isSameOrInside, literalPrefix, portablePath } from './patterns.js';

export interface ProtectedPath {
  path: string;
  why: string;
}

export interface Violation {
  pattern: string;
  protectedPath: string;
  why: string;
}

export class DeselectionRefusedError extends Error {
  constructor(readonly violations: Violation[]) {
    const lines = violations.map((v) => `  "${v.pattern}" would exclude ${v.protectedPath} (${v.why})`);
    super(
      `refusing to exclude files a restore (Heal) needs:\n${lines.join('\n')}\n` +
        'Excluding them means they cannot be healed after a loss. Use --force if you are sure.',
    );
    this.name = 'DeselectionRefusedError';
  }
}

export function protectedPaths(stateDir: string, configured: string[]): ProtectedPath[] {
  return [
    { path: portablePath(stateDir), why: "the agent's identity and device key" },
    ...configured.map((p) => ({ path: portablePath(p), why: 'protected by your administrator' })),
  ];
}

/** Patterns that would exclude a protected path, a folder holding one, or something inside one. */
export function findViolations(patterns: string[], prot: ProtectedPath[]): Violation[] {
  const out: Violation[] = [];
  for (const pattern of patterns) {
    const m = compilePattern(pattern);
    const prefix = literalPrefix(pattern);
    for (const p of prot) {
      const covers = m.matches(p.path) || (prefix !== '' && prefix !== '/' && isSameOrInside(prefix, p.path));
      if (covers) out.push({ pattern, protectedPath: p.path, why: p.why });
    }
  }
  return out;
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

/** Add a user exclusion; throws DeselectionRefusedError (nothing saved) when it covers protected paths. */
export function addExclusion(stateDir: string, configured: string[], given: string, force = false): { pattern: string; violations: Violation[] } {
  if (given.trim() === '') throw new Error('exclude pattern is empty');
  // Relative paths mean "from here": store them absolute, since the service runs elsewhere.
  const pattern = given.startsWith('**') || given.startsWith('~') || isAbsolute(given) ? given : resolve(given);
  const violations = findViolations([pattern], protectedPaths(stateDir, configured));
  if (violations.length > 0 && !force) throw new DeselectionRefusedError(violations);
  const ex = readExclusions(stateDir);
  if (!ex.patterns.includes(pattern)) ex.patterns.push(pattern);
  if (violations.length > 0 && !ex.forced.includes(pattern)) ex.forced.push(pattern);
  writeExclusions(stateDir, ex);
  return { pattern, violations };
}

export function removeExclusion(stateDir: string, given: string): boolean {
  const ex = readExclusions(stateDir);
  const pattern = ex.patterns.includes(given) || given.startsWith('**') || given.startsWith('~') || isAbsolute(given) ? given : resolve(given);
  if (!ex.patterns.includes(pattern)) return false;
  writeExclusions(stateDir, { patterns: ex.patterns.filter((p) => p !== pattern), forced: ex.forced.filter((p) => p !== pattern) });
  return true;
}

/** The exclusions a backup applies, after the guard: config excludes + user excludes. */
export function effectiveExcludes(stateDir: string, configExclude: string[], configured: string[], force = false): string[] {
  const ex = readExclusions(stateDir);
  const checked = [...configExclude, ...ex.patterns.filter((p) => !ex.forced.includes(p))];
  const violations = findViolations(checked, protectedPaths(stateDir, configured));
  if (violations.length > 0 && !force) throw new DeselectionRefusedError(violations);
  return [...new Set([...configExclude, ...ex.patterns])];
}
