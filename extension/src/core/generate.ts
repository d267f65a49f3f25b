import { nodeEnv, parseJsonOutput, runNode, type RunResult } from './process.js';

export interface TargetInfo {
  name: string;
  description: string;
}

/** Targets the deployer knows, asked from the bundled CLI itself so the list never drifts from it. */
export async function listTargets(deployBin: string): Promise<TargetInfo[]> {
  const r = await runNode(deployBin, ['targets', '--json']).catch(() => undefined);
  const json = r && r.code === 0 ? parseJsonOutput<unknown>(r.stdout) : undefined;
  const list = Array.isArray(json) ? json : Array.isArray((json as { targets?: unknown })?.targets) ? (json as { targets: unknown[] }).targets : undefined;
  if (list) {
    return list
      .filter((t): t is { name: string; description?: string } => !!t && typeof (t as { name?: unknown }).name === 'string')
      .map((t) => ({ name: t.name, description: t.description ?? '' }));
  }
  // Older deployer without `targets`: read the names from `generate --help`.
  const help = await runNode(deployBin, ['generate', '--help']);
  const m = /known targets?:?\s*([a-z0-9, -]+)/i.exec(help.stdout);
  return (m ? m[1].split(/[,\s]+/).filter(Boolean) : []).map((name) => ({ name, description: '' }));
}

export interface GenerateOptions {
  deployBin: string;
  fleetFiles: string[];
  outDir: string;
  targets: string[];
  env?: NodeJS.ProcessEnv;
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  signal?: AbortSignal;
}

export class GenerateError extends Error {
  constructor(readonly result: RunResult) {
    const lines = (result.stderr.trim() || result.stdout.trim()).split('\n');
    super(lines.slice(-6).join('\n') || `generate failed with exit code ${result.code}`);
    this.name = 'GenerateError';
  }
}

/** `holdfast-deploy generate <fleet…> --out DIR --target a,b`: the same pipeline the CLI runs. */
export async function runGenerate(o: GenerateOptions): Promise<RunResult> {
  const args = ['generate', ...o.fleetFiles, '--out', o.outDir];
  if (o.targets.length) args.push('--target', o.targets.join(','));
  const result = await runNode(o.deployBin, args, { env: nodeEnv(o.env), onLine: o.onLine, signal: o.signal });
  if (result.code !== 0) throw new GenerateError(result);
  return result;
}

/** A progress line from the deployer, shortened for a notification. */
export function progressMessage(line: string): string | undefined {
  const t = line.trim();
  if (!t || t.startsWith('{')) return undefined;
  return t.length > 90 ? `${t.slice(0, 87)}...` : t;
}
