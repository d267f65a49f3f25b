import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';

/** One generated file as the deployer's manifest lists it (dist/<fleet>/manifest.json). */
export interface ManifestArtifact {
  target: string;
  /** Absolute path on disk. */
  path: string;
  size?: number;
  sha256?: string;
  description?: string;
}

export interface GenerateResult {
  fleet: string;
  dir: string;
  generatedAt?: Date;
  artifacts: ManifestArtifact[];
  /** Silent install command lines by channel (msiexec, intune, gpo, installer, jamf, ...). */
  installCommands: Record<string, string>;
}

export function manifestPath(outDir: string, fleetId: string): string {
  return join(outDir, fleetId, 'manifest.json');
}

function commandsFrom(raw: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(raw)) {
    // [{channel, command}] as targets report them
    for (const c of raw) if (c && typeof c.channel === 'string' && typeof c.command === 'string') out[c.channel] ??= c.command;
  } else if (raw && typeof raw === 'object') {
    for (const [k, v] of Object.entries(raw)) {
      if (typeof v === 'string') out[k] = v;
      else if (Array.isArray(v) && typeof v[0] === 'string') out[k] = v[0];
      else if (v && typeof v === 'object' && typeof (v as { command?: unknown }).command === 'string') out[k] = (v as { command: string }).command;
    }
  }
  return out;
}

/** The last generate of a fleet, or undefined when it was never generated into `outDir`. */
export async function readGenerateResult(outDir: string, fleetId: string): Promise<GenerateResult | undefined> {
  const file = manifestPath(outDir, fleetId);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const dir = join(outDir, fleetId);
  const artifacts: ManifestArtifact[] = [];
  const installCommands = commandsFrom(doc.installCommands);
  for (const a of Array.isArray(doc.artifacts) ? doc.artifacts : []) {
    if (!a || typeof a.path !== 'string') continue;
    artifacts.push({
      target: typeof a.target === 'string' ? a.target : 'other',
      path: isAbsolute(a.path) ? a.path : resolve(dir, a.path),
      size: typeof a.size === 'number' ? a.size : undefined,
      sha256: typeof a.sha256 === 'string' ? a.sha256 : undefined,
      description: typeof a.description === 'string' ? a.description : undefined,
    });
    for (const [k, v] of Object.entries(commandsFrom(a.installCommands))) installCommands[k] ??= v;
  }
  let generatedAt: Date | undefined;
  if (typeof doc.generatedAt === 'string' && !Number.isNaN(Date.parse(doc.generatedAt))) generatedAt = new Date(doc.generatedAt);
  else generatedAt = (await stat(file).catch(() => undefined))?.mtime;
  return { fleet: fleetId, dir, generatedAt, artifacts, installCommands };
}
