import { nodeEnv, runNode, type RunResult } from './process.js';

export interface TargetInfo {
  name: string;
  description: string;
  dependsOn: readonly string[];
  /** Whether this machine has the tools the target needs; otherwise the missing tool and its install line. */
  support: { ok: true } | { ok: false; missing: string; install: string };
}

/**
 * The deployer's target registry, read from the same modules the CLI runs (names, descriptions, dependencies
 * and each target's own tool check), so the picker never drifts from `holdfast-deploy generate --target`.
 */
export async function listTargets(): Promise<TargetInfo[]> {
  const { targets } = await import('../../../deployer/targets/index.js');
  return Promise.all(
    targets.map(async (t) => ({
      name: t.name,
      description: t.description,
      dependsOn: t.dependsOn ?? [],
      support: await t.isSupported().catch((err: Error) => ({ ok: false as const, missing: err.message, install: '' })),
    })),
  );
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
