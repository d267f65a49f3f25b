// The generate pipeline: fleet files -> validated fleets -> targets in dependency order -> artifacts +
// <out>/<fleet>/manifest.json (out: holdfast-out/ by default). Shared work (the MSI payload, runtimes, the service wrapper) is built once per run and
// cached across runs. `holdfast-deploy generate` and the VS Code extension call generateFleets. The bench
// (`npm run bench -- --deploy`) runs the CLI as a child process on purpose: it measures a whole process under GNU
// time (wall, CPU with the tools', peak RSS) with nothing warm in memory, which the library in-process could not.
import { mkdir, stat } from 'node:fs/promises';
import { withCancel } from '../common/cancel.js';
import { join, resolve } from 'node:path';
import { envSecretIssues, FleetValidationError, listFleetFiles, loadFleet, resolveSecrets } from '../fleet/load.js';
import type { FleetSecrets, LoadedFleet } from '../fleet/types.js';
import { buildManifest, writeManifest, type Manifest } from './manifest.js';
import { defaultCacheDir } from '../installers/runtimes.js';
import { targets as registeredTargets } from './targets/index.js';
import { installTimeSecrets, type Artifact, type InstallTimeSecret, type Target } from './targets/target.js';

/** Where generate writes when no --out is given (not dist/: that folder holds the CLI bundles). */
export const DEFAULT_OUT_DIR = 'holdfast-out';

export interface GenerateProgress {
  fleet?: string;
  target?: string;
  message: string;
  /** One printable line: "[acme] msi: patching fleet values into the MSI tables". */
  text: string;
}

export interface GenerateOptions {
  /** Output root; each fleet writes to <outDir>/<fleet>/. */
  outDir: string;
  /** Target names; default: every registered target. Dependencies are added and ordered automatically. */
  targets?: string[];
  /** Shared cache (payloads, runtimes, wrapper); default ~/.cache/holdfast or HOLDFAST_CACHE_DIR. */
  cacheDir?: string;
  /** Where secret references are resolved; default process.env. */
  env?: NodeJS.ProcessEnv;
  progress?: (event: GenerateProgress) => void;
  /** Targets to choose from; default the registry in deployer/targets/index.ts (tests pass their own). */
  available?: Target[];
  /** Cancels the run: the tool running now is stopped, and no further target starts. */
  signal?: AbortSignal;
  /**
   * Secrets the admin will give on each install line instead (`--technician-id-at-install`, ...). Without this, a
   * secret whose environment variable is unset is refused: installers without it fail every install.
   */
  atInstall?: Array<InstallTimeSecret['key']>;
}

export interface FleetResult {
  fleet: string;
  file: string;
  outDir: string;
  manifestPath: string;
  manifest: Manifest;
  durationMs: number;
}

export interface GenerateResult {
  fleets: FleetResult[];
  targets: string[];
  durationMs: number;
}

export class GenerateError extends Error {
  /** Secrets refused because their variable is unset: the caller may offer to build with them given at install. */
  readonly unsetSecrets: InstallTimeSecret[];
  constructor(message: string, unsetSecrets: InstallTimeSecret[] = []) {
    super(message);
    this.name = 'GenerateError';
    this.unsetSecrets = unsetSecrets;
  }
}

/** Fleet files from arguments: files as given, folders expanded to their *.fleet.json. */
export async function expandFleetArgs(args: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const arg of args) {
    const info = await stat(arg).catch(() => undefined);
    if (info?.isDirectory()) {
      const found = await listFleetFiles(arg);
      if (found.length === 0) throw new GenerateError(`${arg}: folder holds no *.fleet.json files`);
      files.push(...found);
    } else {
      files.push(resolve(arg));
    }
  }
  return [...new Set(files)];
}

export interface ValidationResult {
  file: string;
  loaded?: LoadedFleet;
  error?: FleetValidationError;
}

/**
 * Validates every fleet file, and the secrets it takes from `env` where those variables are set; never throws for a
 * bad fleet (each result says what is wrong).
 */
export async function validateFleets(files: string[], env: NodeJS.ProcessEnv = process.env): Promise<ValidationResult[]> {
  const results: ValidationResult[] = [];
  for (const file of await expandFleetArgs(files)) {
    try {
      const loaded = await loadFleet(file);
      const bad = envSecretIssues(loaded.fleet, env);
      if (bad.length) throw new FleetValidationError(loaded.file, bad);
      results.push({ file, loaded });
    } catch (err) {
      if (!(err instanceof FleetValidationError)) throw err;
      results.push({ file, error: err });
    }
  }
  const seen = new Map<string, string>();
  for (const r of results) {
    if (!r.loaded) continue;
    const id = r.loaded.fleet.fleet;
    const other = seen.get(id);
    if (other) {
      r.error = new FleetValidationError(r.file, [
        {
          path: '/fleet',
          value: JSON.stringify(id),
          allowed: 'a fleet id unique among the files given',
          message: `/fleet: "${id}" is also the fleet id of ${other}; each fleet writes to <out>/<fleet>, so ids must differ`,
        },
      ]);
      r.loaded = undefined;
    } else seen.set(id, r.file);
  }
  return results;
}

/** The targets to run: the named ones plus their dependencies, dependencies first. */
export function resolveTargets(names: string[] | undefined, available: Target[] = registeredTargets): Target[] {
  const byName = new Map(available.map((t) => [t.name, t]));
  const known = () => available.map((t) => t.name).join(', ') || '(none registered)';
  const wanted = names?.length ? names : available.map((t) => t.name);
  const ordered: Target[] = [];
  const visiting = new Set<string>();
  const visit = (name: string, from?: string): void => {
    const t = byName.get(name);
    if (!t) throw new GenerateError(from ? `target ${from} depends on unknown target ${name}` : `unknown target "${name}"; known targets: ${known()}`);
    if (ordered.includes(t)) return;
    if (visiting.has(name)) throw new GenerateError(`targets depend on each other in a cycle through ${name}`);
    visiting.add(name);
    for (const dep of t.dependsOn ?? []) visit(dep, name);
    visiting.delete(name);
    ordered.push(t);
  };
  for (const n of wanted) visit(n.trim());
  return ordered;
}

/** Fails with every missing tool and its install line before anything is built. */
export async function checkSupport(targets: Target[], cacheDir?: string): Promise<void> {
  const problems: string[] = [];
  for (const t of targets) {
    const s = await t.isSupported({ cacheDir });
    if (!s.ok) problems.push(`target ${t.name} needs ${s.missing}; install it with: ${s.install}`);
  }
  if (problems.length) throw new GenerateError(problems.join('\n'));
}

/**
 * Secrets whose variable is unset, refused unless the admin chose to give them at install time: an MSI without a
 * Technician ID fails every install (1603). Names the variable and the flag, never a value.
 */
function refusedMissing(loaded: LoadedFleet, secrets: FleetSecrets, accepted: Array<InstallTimeSecret['key']>): InstallTimeSecret[] {
  return installTimeSecrets(loaded.fleet, secrets).filter((s) => !accepted.includes(s.key));
}

function refusedLine(fleet: string, s: InstallTimeSecret): string {
  return (
    `[${fleet}] environment variable ${s.variable} is not set: installers without it fail every install (MSI error 1603). Set it, or pass ` +
    `${s.flag} to build installers whose every install line gives ${s.property}=${s.placeholder}`
  );
}

/**
 * Builds every target for every fleet. Validates all fleets and checks all tools first, so a bad fleet or a
 * missing tool fails before any work. `signal` cancels: see common/cancel.ts. Stable API: the CLI and the extension
 * call it.
 */
export function generateFleets(files: string[], opts: GenerateOptions): Promise<GenerateResult> {
  return withCancel(opts.signal, () => generate(files, opts));
}

async function generate(files: string[], opts: GenerateOptions): Promise<GenerateResult> {
  const started = performance.now();
  const emit = (message: string, fleet?: string, target?: string): void => {
    const prefix = fleet ? `[${fleet}]${target ? ` ${target}:` : ''} ` : '';
    opts.progress?.({ fleet, target, message, text: `${prefix}${message}` });
  };
  const env = opts.env ?? process.env;
  const results = await validateFleets(files, env);
  const bad = results.filter((r) => r.error);
  if (bad.length) throw new GenerateError(bad.map((r) => r.error!.message).join('\n'));
  if (results.length === 0) throw new GenerateError('no fleet files given');
  const targets = resolveTargets(opts.targets, opts.available);
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  await checkSupport(targets, cacheDir);
  const refused = results.flatMap(({ loaded }) =>
    refusedMissing(loaded!, resolveSecrets(loaded!.fleet, env), opts.atInstall ?? []).map((s) => ({ fleet: loaded!.fleet.fleet, s })),
  );
  if (refused.length)
    throw new GenerateError(
      refused.map((r) => refusedLine(r.fleet, r.s)).join('\n'),
      refused.map((r) => r.s),
    );
  const outRoot = resolve(opts.outDir);
  emit(`${results.length} fleet${results.length === 1 ? '' : 's'}, targets ${targets.map((t) => t.name).join(', ')}, output ${outRoot}`);

  const fleets: FleetResult[] = [];
  for (const { loaded, file } of results) {
    const fleetStarted = performance.now();
    const id = loaded!.fleet.fleet;
    const signing = loaded!.fleet.signing;
    const required: Array<keyof FleetSecrets> = [
      ...(signing?.windows?.password ? (['signingPassword'] as const) : []),
      ...(signing?.macos?.installer?.password ? (['installerSigningPassword'] as const) : []),
    ];
    const secrets = resolveSecrets(loaded!.fleet, env, required);
    for (const w of loaded!.warnings ?? []) emit(`warning: ${w.message}`, id);
    const atInstall = installTimeSecrets(loaded!.fleet, secrets);
    for (const s of atInstall) emit(`${s.variable} is not set: every install line must give ${s.property}=${s.placeholder} (marked in the manifest)`, id);
    const outDir = join(outRoot, id);
    await mkdir(outDir, { recursive: true });
    const artifacts: Artifact[] = [];
    for (const target of targets) {
      if (opts.signal?.aborted) throw new GenerateError(`[${id}] generate cancelled before target ${target.name}`);
      emit('start', id, target.name);
      const t0 = performance.now();
      try {
        const made = await target.make({
          loaded: loaded!,
          secrets,
          outDir,
          cacheDir,
          previous: [...artifacts],
          progress: (m) => emit(m, id, target.name),
        });
        artifacts.push(...made);
      } catch (err) {
        if (opts.signal?.aborted) throw new GenerateError(`[${id}] generate cancelled during target ${target.name}`);
        throw new GenerateError(`[${id}] target ${target.name} failed: ${(err as Error).message}`);
      }
      emit(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s`, id, target.name);
    }
    const manifest = await buildManifest(loaded!.fleet, outDir, artifacts, atInstall);
    const manifestPath = await writeManifest(outDir, manifest);
    emit(`manifest ${manifestPath}`, id);
    fleets.push({ fleet: id, file, outDir, manifestPath, manifest, durationMs: performance.now() - fleetStarted });
  }
  return { fleets, targets: targets.map((t) => t.name), durationMs: performance.now() - started };
}
