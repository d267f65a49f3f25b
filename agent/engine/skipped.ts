// Paths a backup could not read (permission denied, locked, vanished between walk and read): kept with a reason so
// every face (CLI, status, service log, Jamf EAs, sidebar) tells the same story.
import { escapeForTerminal } from '../../common/terminal-text.js';
import { showName } from './names.js';

export interface SkippedPath {
  /** As walked (names in the form of names.ts). */
  path: string;
  /** Why it was not backed up: "permission denied", "locked", "vanished", or the system's message. */
  reason: string;
}

/** Skipped paths kept in the last-backup record for status (the count is always complete). */
export const SKIPPED_PATHS_KEPT = 20;

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EBUSY: 'locked',
  ETXTBSY: 'locked',
  ENOENT: 'vanished',
  ENOTDIR: 'vanished',
  ELOOP: 'too many symbolic links',
  EIO: 'read error',
};

/** A reason from an error, its code, or a message that starts with a code ("EACCES: permission denied, open ..."). */
export function skipReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException | string;
  const text = typeof e === 'string' ? e : (e?.code ?? e?.message ?? String(e));
  const code = /^(E[A-Z]+)\b/.exec(text)?.[1];
  if (code) return REASONS[code] ?? code;
  return text;
}

/** One line for text output: the name and the reason, both safe for a terminal. */
export function describeSkipped(s: SkippedPath): string {
  return `${showName(s.path)}: ${escapeForTerminal(s.reason, false)}`;
}

/** Count and the first paths, as the last-backup record and status keep them. */
export function summarizeSkipped(skipped: SkippedPath[]): { count: number; paths: SkippedPath[] } {
  return { count: skipped.length, paths: skipped.slice(0, SKIPPED_PATHS_KEPT) };
}

/** "completed with warnings" when a backup has any warning (skipped paths, files changed while read, protected paths kept). */
export function outcomeOf(result: { warnings: string[] }): 'completed' | 'completed with warnings' {
  return result.warnings.length > 0 ? 'completed with warnings' : 'completed';
}

/**
 * Exit code of `backup` when it stored a snapshot but skipped paths (their data is not in it). Other warnings (files
 * changed while read, protected paths kept) leave the exit code 0: their data is in the snapshot. Failure is 1.
 */
export const EXIT_SKIPPED = 3;

/** The lines the CLI and the service log print for skipped paths: a count, then the first paths with their reason. */
export function skippedLines(skipped: SkippedPath[], indent = '  '): string[] {
  if (skipped.length === 0) return [];
  const lines = [`${skipped.length} path${skipped.length === 1 ? '' : 's'} skipped (not backed up):`];
  for (const s of skipped.slice(0, SKIPPED_PATHS_KEPT)) lines.push(`${indent}${describeSkipped(s)}`);
  if (skipped.length > SKIPPED_PATHS_KEPT) lines.push(`${indent}... and ${skipped.length - SKIPPED_PATHS_KEPT} more`);
  return lines;
}
