// holdfast-bench: `npm run bench` — Holdfast vs restic side by side, server load, deployer generate.
import { Command, InvalidArgumentError, Option } from 'commander';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from './paths.js';
import { resolveAgentNode } from './agent-node.js';
import { formatCompareReport, runComparison } from './compare.js';
import { machineInfo } from './machine.js';
import { runServerLoad, formatServerLoad, formatServerLoadSummary } from './server-load.js';
import { runDeployBench, formatDeployBench } from './deploy.js';
import { formatPruneBench, runPruneBench } from './prune-bench.js';

const positiveInt =
  (name: string) =>
  (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number >= 1, got ${JSON.stringify(v)}`);
    return n;
  };

const program = new Command('holdfast-bench')
  .description(
    'Holdfast benchmarks. Default: Holdfast vs restic side by side on a seeded corpus (initial backup, ' +
      'no-change incremental, +1% incremental, full restore with verification).',
  )
  .option('--quick', 'small corpus (~1,000 files, ~60 MiB); finishes in under a minute')
  .option('--json <file>', 'also write the results as JSON (one object per operation)')
  .option('--out <dir>', 'work folder: corpus cache, repositories, logs', join(repoRoot, 'bench-out'))
  .option('--keep', 'keep repositories and restored trees of the run (logs are always kept)')
  .option('--rounds <n>', 'repeat the side-by-side run; report medians (peak RSS: maximum)', positiveInt('--rounds'), 1)
  .option(
    '--agent-node <node>',
    "Node that runs the agent: 'both' = the bench's own Node (20) and then the Node 22 release the installers ship, 'endpoint' = only the latter " +
      "(fetched from npm once), 'this' = only the bench's own Node, or a path",
    'both',
  )
  .option('--corpus <dir>', 'back up this folder instead of the seeded corpus (read-only: the +1% step is skipped)')
  .option('--no-big-file', 'leave out the 1 GiB file case (initial, 10 MiB changed in the middle, restore)')
  .option('--no-borg', 'leave out borg, the second peer')
  .option('--cpu-prof', "write V8 CPU profiles of every agent process into the run's logs folder (slows the agent)")
  .addOption(new Option('--server-load', 'instead: many simulated agents against one test server').conflicts(['deploy', 'quick', 'rounds']))
  .option(
    '--agents <n>',
    'with --server-load: simulated agents at once; a comma-separated list runs each in turn, reported side by side (e.g. 500,2000)',
    (v: string) => v.split(',').map((n) => positiveInt('--agents')(n.trim())),
    [500],
  )
  .option('--agent-kib <n>', 'with --server-load: data each agent backs up, KiB', positiveInt('--agent-kib'), 1024)
  .addOption(new Option('--deploy', 'instead: holdfast-deploy generate, 1 fleet vs many (MSI target)').conflicts(['quick', 'rounds']))
  .addOption(
    new Option('--prune', 'instead: holdfast-agent forget --prune vs restic forget --prune after the same four backups').conflicts(['deploy', 'rounds']),
  )
  .option('--fleets <n>', 'with --deploy: fleets in the batch', positiveInt('--fleets'), 20)
  .showHelpAfterError()
  .action(
    async (opts: {
      quick?: boolean;
      json?: string;
      out: string;
      keep?: boolean;
      rounds: number;
      cpuProf?: boolean;
      agentNode: string;
      corpus?: string;
      bigFile: boolean;
      borg: boolean;
      serverLoad?: boolean;
      agents: number[];
      agentKib: number;
      deploy?: boolean;
      prune?: boolean;
      fleets: number;
    }) => {
      const say = (msg: string): void => {
        process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
      };
      const machine = await machineInfo(opts.out);
      if (opts.serverLoad) {
        const results = [];
        for (const agents of opts.agents) {
          const r = await runServerLoad({ agents, bytesPerAgent: opts.agentKib * 1024, outDir: opts.out, progress: say });
          process.stdout.write(`${formatServerLoad(r)}\n`);
          results.push(r);
          if (r.errors > 0) process.exitCode = 1;
        }
        if (results.length > 1) process.stdout.write(`${formatServerLoadSummary(results)}\n`);
        if (opts.json)
          await writeJson(opts.json, results.length === 1 ? { machine, mode: 'server-load', ...results[0] } : { machine, mode: 'server-load', runs: results });
        return;
      }
      if (opts.deploy) {
        const r = await runDeployBench({ fleets: opts.fleets, outDir: opts.out, progress: say });
        process.stdout.write(`${formatDeployBench(r)}\n`);
        if (opts.json) await writeJson(opts.json, { machine, mode: 'deploy', ...r });
        return;
      }
      if (opts.prune) {
        const agentNode = await resolveAgentNode(opts.agentNode === 'both' ? 'endpoint' : opts.agentNode);
        say(`agent runs on Node ${agentNode.version} (${agentNode.label})`);
        const r = await runPruneBench({ outDir: opts.out, quick: opts.quick, agentNode, progress: say });
        process.stdout.write(formatPruneBench(r));
        if (opts.json) await writeJson(opts.json, { machine, mode: 'prune', ...r });
        return;
      }
      const choices = opts.agentNode === 'both' ? ['this', 'endpoint'] : [opts.agentNode];
      const rows: object[] = [];
      for (const choice of choices) {
        const agentNode = await resolveAgentNode(choice);
        say(`agent runs on Node ${agentNode.version} (${agentNode.label})`);
        const r = await runComparison({
          quick: !!opts.quick,
          outDir: opts.out,
          rounds: opts.rounds,
          keep: opts.keep,
          cpuProfile: opts.cpuProf,
          agentNode,
          progress: say,
          folder: opts.corpus,
          bigFile: opts.bigFile,
          borg: opts.borg,
        });
        process.stdout.write(formatCompareReport(machine, r));
        rows.push(...r.rows.map((row) => ({ agent_node: agentNode.version, ...row })));
        if (r.failures.length) process.exitCode = 1;
      }
      if (opts.json) await writeJson(opts.json, rows);
    },
  );

async function writeJson(file: string, data: unknown): Promise<void> {
  await writeFile(file, `${JSON.stringify(data, null, 2)}\n`);
  process.stderr.write(`wrote ${file}\n`);
}

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`holdfast-bench: ${(err as Error).message ?? String(err)}\n`);
  process.exitCode = process.exitCode || 1;
});
