// holdfast-agent forget / prune / check: retention, deleting unused chunks, verifying the store (engine/prune-api.ts).
import { Command } from 'commander';
import { loadAgentConfig } from '../config.js';
import { openLocalStore } from '../engine/agent-api.js';
import { runCheck, runForget, runPrune } from '../engine/prune-api.js';
import type { PruneResult } from '../engine/prune.js';
import type { CheckResult } from '../engine/check.js';
import type { RetentionPolicy, RetentionRule } from '../engine/retention.js';
import { formatBytes } from '../../common/format.js';
import { showName } from '../engine/names.js';

const CONFIG_HELP = 'agent config (default: HOLDFAST_CONFIG, agent.json beside the agent, platform default)';
const STORE_HELP = 'use a local store folder instead of the backup servers';

function count(flag: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || n > 100_000) throw new Error(`${flag} ${v}: a whole number from 0 to 100000`);
    return n;
  };
}

function percent(v: string): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || n > 100) throw new Error(`--max-unused ${v}: a percentage from 0 to 100`);
  return n;
}

const write = (s: string) => process.stdout.write(s);

function pruneLines(p: PruneResult): string {
  return (
    `Prune${p.dryRun ? ' (dry run: nothing deleted)' : ''}: ${p.liveChunks} chunks used by ${p.snapshots} snapshot(s)\n` +
    `  ${p.chunksDeleted} unused chunks (${formatBytes(p.chunkBytesDeleted)}) ${p.dryRun ? 'would be ' : ''}deleted; ` +
    `${p.packsDeleted} packs deleted, ${p.packsRewritten} rewritten (${formatBytes(p.bytesCopied)} copied), ${p.orphanPacks} orphan packs\n` +
    `  packs: ${formatBytes(p.packBytesBefore)} -> ${formatBytes(p.packBytesAfter)} (${formatBytes(p.packBytesBefore - p.packBytesAfter)} reclaimed) ` +
    `in ${(p.durationMs / 1000).toFixed(1)} s\n`
  );
}

export function forgetCommand(): Command {
  return new Command('forget')
    .description('forget snapshots the retention policy does not keep (agent.json backup.retention, or the --keep-* options); --prune deletes their chunks')
    .option('--config <file>', CONFIG_HELP)
    .option('--store <dir>', STORE_HELP)
    .option('--keep-last <n>', 'keep the n newest snapshots', count('--keep-last'))
    .option('--keep-daily <n>', 'keep the newest snapshot of each of the last n days (UTC) that have one', count('--keep-daily'))
    .option('--keep-weekly <n>', 'keep the newest snapshot of each of the last n ISO weeks that have one', count('--keep-weekly'))
    .option('--keep-monthly <n>', 'keep the newest snapshot of each of the last n months that have one', count('--keep-monthly'))
    .option('--prune', 'then delete the chunks no kept snapshot uses')
    .option('--max-unused <percent>', 'with --prune: rewrite packs with more than this share unused (default 5)', percent)
    .option('--dry-run', 'show what would be forgotten (and pruned); change nothing')
    .option('--json', 'print the result as JSON')
    .action(
      async (o: {
        config?: string;
        store?: string;
        keepLast?: number;
        keepDaily?: number;
        keepWeekly?: number;
        keepMonthly?: number;
        prune?: boolean;
        maxUnused?: number;
        dryRun?: boolean;
        json?: boolean;
      }) => {
        const loaded = await loadAgentConfig(o.config);
        const policy: RetentionPolicy = {};
        for (const rule of ['keepLast', 'keepDaily', 'keepWeekly', 'keepMonthly'] as RetentionRule[]) if (o[rule] !== undefined) policy[rule] = o[rule];
        const r = await runForget(loaded, {
          store: o.store ? openLocalStore(o.store) : undefined,
          policy,
          dryRun: o.dryRun,
          prune: o.prune && { maxUnusedPercent: o.maxUnused },
          log: o.json ? undefined : (line) => process.stderr.write(`${line}\n`),
        });
        if (o.json) {
          write(`${JSON.stringify(r, null, 2)}\n`);
          return;
        }
        write(`${o.dryRun ? 'Would keep' : 'Keeping'} ${r.keep.length} snapshot(s), ${o.dryRun ? 'would forget' : 'forgot'} ${r.forget.length}\n`);
        for (const s of r.keep) write(`  keep    ${s.id}  ${s.time}  (${s.reasons.join(', ')})\n`);
        for (const s of r.forget) write(`  forget  ${s.id}  ${s.time}\n`);
        if (r.rewritten.length) write(`  ${r.rewritten.length} kept snapshot(s) built on a forgotten one ${o.dryRun ? 'would be' : 'were'} stored in full\n`);
        if (r.prune) write(pruneLines(r.prune));
      },
    );
}

export function pruneCommand(): Command {
  return new Command('prune')
    .description('delete the chunks no snapshot uses (after forget); safe while a backup runs')
    .option('--config <file>', CONFIG_HELP)
    .option('--store <dir>', STORE_HELP)
    .option('--max-unused <percent>', 'rewrite packs with more than this share unused (default 5)', percent)
    .option('--dry-run', 'show what would be deleted; change nothing')
    .option('--json', 'print the result as JSON')
    .action(async (o: { config?: string; store?: string; maxUnused?: number; dryRun?: boolean; json?: boolean }) => {
      const loaded = await loadAgentConfig(o.config);
      const r = await runPrune(loaded, {
        store: o.store ? openLocalStore(o.store) : undefined,
        dryRun: o.dryRun,
        maxUnusedPercent: o.maxUnused,
        log: o.json ? undefined : (line) => process.stderr.write(`${line}\n`),
      });
      write(o.json ? `${JSON.stringify(r, null, 2)}\n` : pruneLines(r));
    });
}

function checkLines(r: CheckResult): string {
  let out = `Checked ${r.snapshots} snapshot(s), ${r.chunks} chunks${r.readData ? `, ${r.chunksRead} read and authenticated` : ''}\n`;
  for (const s of r.brokenSnapshots) out += `  snapshot ${s.id} cannot be read: ${s.error}\n`;
  for (const [what, list] of [
    ['missing', r.missing],
    ['damaged', r.damaged],
  ] as const)
    for (const c of list) {
      out += `  ${what} chunk ${c.id}${c.error ? ` (${c.error})` : ''}, used by ${c.fileCount} file(s):\n`;
      for (const f of c.files) out += `    ${showName(f)}\n`;
    }
  return out + (r.ok ? 'No problems found.\n' : `${r.missing.length} missing, ${r.damaged.length} damaged chunk(s).\n`);
}

export function checkCommand(): Command {
  return new Command('check')
    .description('verify that every chunk the snapshots use is stored; --read-data also reads and authenticates each one')
    .option('--config <file>', CONFIG_HELP)
    .option('--store <dir>', STORE_HELP)
    .option('--read-data', 'read every chunk and check it authenticates (slower: downloads everything)')
    .option('--json', 'print the result as JSON')
    .action(async (o: { config?: string; store?: string; readData?: boolean; json?: boolean }) => {
      const loaded = await loadAgentConfig(o.config);
      const r = await runCheck(loaded, { store: o.store ? openLocalStore(o.store) : undefined, readData: o.readData });
      write(o.json ? `${JSON.stringify(r, null, 2)}\n` : checkLines(r));
      if (!r.ok) process.exitCode = 1;
    });
}
