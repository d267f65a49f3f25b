// `holdfast-deploy generate` for one fleet vs many (MSI target), each a whole measured process: a child process
// under GNU time, so the CPU of the tools it runs and its own peak RSS count, and no run finds the last one's
// modules warm in memory (the library in-process could measure neither).
// The fleets are the demo fleet with its own id, customer and MSI upgrade code each.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { defaultCacheDir } from '../installers/runtimes.js';
import { join, resolve } from 'node:path';
import { measureCommand, type ProcessMeasure } from './measure.js';
import { agentBin, deployBin, pinBundle, repoRoot } from './paths.js';
import { formatTable } from './report.js';

export interface DeployBenchOptions {
  fleets: number;
  outDir: string;
  target?: string;
  keep?: boolean;
  progress?: (msg: string) => void;
}

export interface DeployRun {
  fleets: number;
  wall_s: number;
  cpu_s: number;
  rss_mib: number;
}

export interface DeployBenchResult {
  target: string;
  /** Each run with its own empty cache (only the downloaded Node runtimes are shared). */
  cold: { one: DeployRun; many: DeployRun; ratio: number; met: boolean };
  /** The same fleets again on the now-filled cache. */
  warm: { one: DeployRun; many: DeployRun; ratio: number; met: boolean };
  target_ratio: number;
  met: boolean;
}

export const DEPLOY_TARGET_RATIO = 3;

/** A deterministic GUID for fleet `n`, so reruns produce the same MSI upgrade codes. */
export function upgradeCodeFor(n: number): string {
  const h = createHash('sha256').update(`holdfast-bench-fleet-${n}`).digest('hex').toUpperCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Writes `count` fleet files derived from the demo fleet into `dir`; returns their paths. */
export async function writeBenchFleets(dir: string, count: number, first = 1): Promise<string[]> {
  const demo = JSON.parse(await readFile(join(repoRoot, 'examples', 'fleets', 'demo.fleet.json'), 'utf8')) as Record<string, unknown>;
  delete demo.$schema;
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (let n = first; n < first + count; n++) {
    const id = `bench-${String(n).padStart(2, '0')}`;
    const fleet = {
      ...demo,
      fleet: id,
      customer: `Bench Customer ${n}`,
      branding: { ...(demo.branding as object), upgradeCode: upgradeCodeFor(n) },
    };
    const file = join(dir, `${id}.fleet.json`);
    await writeFile(file, `${JSON.stringify(fleet, null, 2)}\n`);
    files.push(file);
  }
  return files;
}

const toRun = (fleets: number, m: ProcessMeasure): DeployRun => ({
  fleets,
  wall_s: Math.round(m.wallS * 100) / 100,
  cpu_s: Math.round(m.cpuS * 100) / 100,
  rss_mib: Math.round(m.peakRssMiB),
});

export async function runDeployBench(opts: DeployBenchOptions): Promise<DeployBenchResult> {
  const say = opts.progress ?? (() => {});
  if (!existsSync(deployBin)) throw new Error(`${deployBin} is missing: run \`npm run build\``);
  const target = opts.target ?? 'msi';
  const work = join(resolve(opts.outDir), 'runs', `deploy-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const logDir = join(work, 'logs');
  await mkdir(logDir, { recursive: true });
  try {
    const oneDir = join(work, 'fleets-1');
    const manyDir = join(work, `fleets-${opts.fleets}`);
    await writeBenchFleets(oneDir, 1);
    await writeBenchFleets(manyDir, opts.fleets, 101);
    // Shared work (MSI payload, service wrapper) is built per cache; the Node runtimes are downloads, not
    // build work, so every cache links the user's runtimes folder instead of fetching them again.
    const runtimes = join(defaultCacheDir(), 'runtimes');
    await mkdir(runtimes, { recursive: true });
    const freshCache = async (name: string): Promise<string> => {
      const dir = join(work, `cache-${name}`);
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      await symlink(runtimes, join(dir, 'runtimes'), 'dir');
      return dir;
    };
    // The MSI carries dist/holdfast-agent.mjs, and its payload cache is keyed by that file's hash: a rebuild of
    // dist/ by someone else mid-run would make the "warm" runs cold. All runs use one pinned copy instead.
    const env = { ...process.env, HOLDFAST_AGENT_BUNDLE: await pinBundle(agentBin, join(work, 'bin')) };
    const generate = async (dir: string, fleets: number, name: string, cache: string): Promise<DeployRun> => {
      const out = join(work, `out-${name}`);
      await rm(out, { recursive: true, force: true });
      say(`deploy: ${name}: ${fleets} fleet${fleets === 1 ? '' : 's'} ...`);
      const m = await measureCommand(process.execPath, [deployBin, 'generate', dir, '--target', target, '--out', out, '--cache', cache, '--quiet'], {
        logFile: join(logDir, `${name}.log`),
        env,
        label: `holdfast-deploy generate (${name})`,
      });
      await checkOutput(out, fleets, name);
      if (!opts.keep) await rm(out, { recursive: true, force: true });
      const run = toRun(fleets, m);
      say(`deploy: ${name}: ${run.wall_s} s`);
      return run;
    };
    const pair = (one: DeployRun, many: DeployRun) => {
      const ratio = Math.round((many.wall_s / one.wall_s) * 100) / 100;
      return { one, many, ratio, met: ratio <= DEPLOY_TARGET_RATIO };
    };
    const cacheOne = await freshCache('one');
    const cacheMany = await freshCache('many');
    const cold = pair(await generate(oneDir, 1, 'cold-one', cacheOne), await generate(manyDir, opts.fleets, 'cold-many', cacheMany));
    const warm = pair(await generate(oneDir, 1, 'warm-one', cacheOne), await generate(manyDir, opts.fleets, 'warm-many', cacheOne));
    // The target is about building shared work once per run, so it is judged on cold caches; the warm pair
    // shows the pure per-fleet cost.
    return { target, cold, warm, target_ratio: DEPLOY_TARGET_RATIO, met: cold.met };
  } finally {
    if (!opts.keep) {
      for (const d of ['fleets-1', `fleets-${opts.fleets}`, 'cache-one', 'cache-many', 'bin']) await rm(join(work, d), { recursive: true, force: true });
    }
  }
}

/** A timing is only worth something if every fleet got its installer: one .msi and a manifest each. */
async function checkOutput(out: string, fleets: number, name: string): Promise<void> {
  const dirs = await readdir(out, { withFileTypes: true });
  let complete = 0;
  for (const d of dirs.filter((e) => e.isDirectory())) {
    const files = await readdir(join(out, d.name));
    if (files.includes('manifest.json') && files.some((f) => f.endsWith('.msi'))) complete++;
  }
  if (complete !== fleets) throw new Error(`deploy ${name}: ${complete} of ${fleets} fleets have a manifest and an .msi in ${out}`);
}

export function formatDeployBench(r: DeployBenchResult): string {
  const row = (name: string, x: DeployRun): Array<string | number> => [name, x.fleets, x.wall_s.toFixed(2), x.cpu_s.toFixed(2), x.rss_mib];
  const verdict = (name: string, p: DeployBenchResult['cold']): string =>
    `${p.met ? 'MET    ' : 'NOT MET'}  ${name}: ${p.many.fleets} fleets / 1 fleet = ${p.ratio.toFixed(2)} (target <= ${r.target_ratio})`;
  return [
    '',
    `holdfast-deploy generate --target ${r.target}: 1 fleet vs ${r.cold.many.fleets} fleets, each a whole process`,
    '',
    formatTable(
      ['run', 'fleets', 'wall s', 'cpu s', 'peak RSS MiB'],
      [
        row('cold cache, one fleet', r.cold.one),
        row('cold cache, many fleets', r.cold.many),
        row('warm cache, one fleet', r.warm.one),
        row('warm cache, many fleets', r.warm.many),
      ],
    ),
    '',
    verdict('cold cache (shared work built in the run)', r.cold),
    `info     warm cache (shared work from an earlier run): ${r.warm.many.fleets} fleets / 1 fleet = ${r.warm.ratio.toFixed(2)}; ` +
      `per extra fleet ${((r.warm.many.wall_s - r.warm.one.wall_s) / Math.max(1, r.warm.many.fleets - 1)).toFixed(2)} s`,
    '',
  ].join('\n');
}
