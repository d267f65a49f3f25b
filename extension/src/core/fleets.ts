import { basename } from 'node:path';

import { FleetValidationError, loadFleet, resolveSecrets, type FleetIssue } from '../../../fleet/load.js';
import type { Fleet, FleetSecrets } from '../../../fleet/types.js';
import { readGenerateResult, type GenerateResult } from './manifest.js';

/** A fleet file as the sidebar shows it: valid (maybe missing secrets for generate) or invalid with its issues. */
export type FleetEntry =
  | { kind: 'valid'; file: string; fleet: Fleet; missing: FleetIssue[]; secrets: FleetSecrets; generate?: GenerateResult; warnings?: FleetIssue[] }
  | { kind: 'invalid'; file: string; issues: FleetIssue[] };

/** Which secret references are not resolvable from `env` (what generate would refuse or leave to install time). */
export function missingSecrets(fleet: Fleet, env: NodeJS.ProcessEnv): FleetIssue[] {
  const missing: FleetIssue[] = [];
  for (const key of ['technicianId', 'proxyPassword', 'signingPassword', 'installerSigningPassword'] as const) {
    try {
      resolveSecrets(fleet, env, [key]);
    } catch (err) {
      if (err instanceof FleetValidationError) missing.push(...err.issues);
      else throw err;
    }
  }
  return missing;
}

export async function describeFleetFile(file: string, outDir: string, env: NodeJS.ProcessEnv = process.env): Promise<FleetEntry> {
  try {
    const loaded = await loadFleet(file);
    const fleet = loaded.fleet;
    return {
      kind: 'valid',
      file: loaded.file,
      fleet,
      missing: missingSecrets(fleet, env),
      secrets: resolveSecrets(fleet, env),
      warnings: loaded.warnings ?? [],
      generate: await readGenerateResult(outDir, fleet.fleet),
    };
  } catch (err) {
    if (err instanceof FleetValidationError) return { kind: 'invalid', file, issues: err.issues };
    return { kind: 'invalid', file, issues: [{ path: '/', allowed: 'a readable fleet file', message: (err as Error).message }] };
  }
}

export async function describeFleetFiles(files: string[], outDirFor: (file: string) => string, env: NodeJS.ProcessEnv = process.env): Promise<FleetEntry[]> {
  const entries = await Promise.all(files.map((f) => describeFleetFile(f, outDirFor(f), env)));
  return entries.sort((a, b) => basename(a.file).localeCompare(basename(b.file)));
}

export function fleetLabel(entry: FleetEntry): string {
  return entry.kind === 'valid' ? entry.fleet.fleet : basename(entry.file).replace(/\.fleet\.json$/, '');
}

/** A fleet the local agent can run with: valid and with a Technician ID at hand. */
export function agentReady(entry: FleetEntry): boolean {
  return entry.kind === 'valid' && entry.secrets.technicianId !== undefined;
}
