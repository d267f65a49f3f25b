// `npm run bench -- --prune`: forget + prune beside `restic forget --prune`. Both tools back up the same seeded
// corpus in four generations (a quarter of the files rewritten with new bytes each time), then forget all but the
// two newest snapshots and prune (both with 5% unused allowed per pack, restic's default). Measured: the wall and
// CPU time of that one process, and the bytes it reclaimed on the storage side.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { sampleProcess, type ProcessMeasure } from './measure.js';
import { Prng, randomBytesFor } from './prng.js';
import { HoldfastTool } from './tools/holdfast.js';
import { ResticTool } from './tools/restic.js';
import type { PrunableBenchTool, ToolName } from './tools/tool.js';

/** The prune side-by-side runs against restic only (borg's compact is a different operation). */
type PruneToolName = Extract<ToolName, 'holdfast' | 'restic'>;
import type { AgentNode } from './agent-node.js';

export interface PruneBenchOptions {
  outDir: string;
  quick?: boolean;
  agentNode?: AgentNode;
  progress?: (msg: string) => void;
}

export interface PruneToolResult extends ProcessMeasure {
  /** CPU seconds of the Holdfast test server during the prune (it does the sweep); none for restic. */
  serverCpuS?: number;
  bytesBefore: number;
  bytesAfter: number;
  reclaimed: number;
}

export interface PruneBenchResult {
  files: number;
  bytes: number;
  generations: number;
  keepLast: number;
  holdfast: PruneToolResult;
  restic: PruneToolResult;
  build: Record<PruneToolName, string>;
}

const GENERATIONS = 4;
const KEEP_LAST = 2;

/** Generation `gen` of the corpus: file i holds the bytes of the last generation (<= gen) that rewrote it. */
async function writeGeneration(dir: string, files: number, gen: number): Promise<number> {
  const sizes = new Prng('prune-bench-sizes');
  let total = 0;
  for (let i = 0; i < files; i++) {
    const size = 64 * 1024 + sizes.int(2 * 1024 * 1024);
    let last = 0;
    for (let g = 1; g <= gen; g++) if (new Prng(`prune-bench-${g}-${i}`).int(4) === 0) last = g;
    await writeFile(join(dir, `f${String(i).padStart(4, '0')}.bin`), randomBytesFor(`prune-bench-gen-${last}`, `f${i}`, size));
    total += size;
  }
  return total;
}

export async function runPruneBench(opts: PruneBenchOptions): Promise<PruneBenchResult> {
  const say = opts.progress ?? (() => {});
  const files = opts.quick ? 60 : 240;
  const runDir = join(resolve(opts.outDir), 'prune-runs', new Date().toISOString().replace(/[:.]/g, '-'));
  const source = join(runDir, 'corpus');
  const logDir = join(runDir, 'logs');
  await mkdir(source, { recursive: true });
  await mkdir(logDir, { recursive: true });
  const tools: PrunableBenchTool[] = [
    new HoldfastTool(source, join(runDir, 'holdfast'), logDir, { agentNode: opts.agentNode }),
    new ResticTool(source, join(runDir, 'restic')),
  ];
  try {
    for (const t of tools) await t.setup();
    let bytes = 0;
    for (let gen = 0; gen < GENERATIONS; gen++) {
      bytes = await writeGeneration(source, files, gen);
      say(`generation ${gen + 1} of ${GENERATIONS}: ${files} files, ${(bytes / 1024 ** 2).toFixed(0)} MiB; backing up with both tools`);
      for (const t of tools) await t.backup(join(logDir, `backup-${gen}-${t.name}.log`));
    }
    const results = {} as Record<PruneToolName, PruneToolResult>;
    for (const t of tools) {
      const bytesBefore = await t.repositoryBytes();
      say(`${t.name}: forget --keep-last ${KEEP_LAST} --prune ...`);
      const pid = t.sidecarPid;
      const server = pid ? await sampleProcess(pid) : undefined;
      const m = await t.forgetPrune(KEEP_LAST, join(logDir, `prune-${t.name}.log`));
      const serverCpuS = pid && server ? (await sampleProcess(pid)).cpuS - server.cpuS : undefined;
      const bytesAfter = await t.repositoryBytes();
      results[t.name as PruneToolName] = {
        ...m,
        ...(serverCpuS !== undefined && { serverCpuS }),
        bytesBefore,
        bytesAfter,
        reclaimed: bytesBefore - bytesAfter,
      };
      say(`${t.name}: ${m.wallS.toFixed(2)} s wall, reclaimed ${((bytesBefore - bytesAfter) / 1024 ** 2).toFixed(1)} MiB`);
    }
    return {
      files,
      bytes,
      generations: GENERATIONS,
      keepLast: KEEP_LAST,
      ...results,
      build: { holdfast: tools[0].build ?? 'unknown', restic: tools[1].build ?? 'unknown' },
    };
  } finally {
    for (const t of tools) await t.close().catch(() => undefined);
    await rm(runDir, { recursive: true, force: true });
  }
}

export function formatPruneBench(r: PruneBenchResult): string {
  const mib = (n: number) => (n / 1024 ** 2).toFixed(1);
  const row = (name: string, t: PruneToolResult) =>
    `| ${name} | ${t.wallS.toFixed(2)} | ${t.cpuS.toFixed(2)} | ${t.serverCpuS?.toFixed(2) ?? '-'} | ${t.peakRssMiB.toFixed(0)} | ` +
    `${mib(t.bytesBefore)} | ${mib(t.bytesAfter)} | ${mib(t.reclaimed)} |`;
  return [
    '',
    `forget + prune: ${r.files} files, ${mib(r.bytes)} MiB, ${r.generations} backups (a quarter of the files rewritten each time), ` +
      `keep the last ${r.keepLast}`,
    `${r.build.restic}; Holdfast ${r.build.holdfast}`,
    '',
    '| tool | wall s | CPU s | server CPU s | peak RSS MiB | storage before MiB | after MiB | reclaimed MiB |',
    '|---|---|---|---|---|---|---|---|',
    row('holdfast-agent forget --prune', r.holdfast),
    row('restic forget --prune', r.restic),
    '',
    `ratio (Holdfast / restic): wall ${(r.holdfast.wallS / r.restic.wallS).toFixed(2)}, reclaimed ${(r.holdfast.reclaimed / r.restic.reclaimed).toFixed(2)}`,
    '',
  ].join('\n');
}
