// The lean young generation (agent/engine/lean-heap.ts) must survive the start of worker threads: starting one
// puts V8's growth factor back to its default, and the main thread's young generation then grew to 32 MiB in every
// backup. Checked in a fresh process (this test process's heap has a history of its own): a small program, run
// from source with tsx, that turns the lean heap on, starts a chunk worker as a backup does, and then allocates
// with some survival.
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/paths.js';
import { runProcess } from './helpers/process.js';
import { tempDir } from './helpers/server.js';

const program = (engine: string): string => `
import { randomBytes } from 'node:crypto';
import { getHeapSpaceStatistics } from 'node:v8';
import { leanHeap } from ${JSON.stringify(join(engine, 'lean-heap.ts'))};
import { startChunkWorker } from ${JSON.stringify(join(engine, 'chunk-worker.ts'))};
import { deriveKeys } from ${JSON.stringify(join(engine, 'keys.ts'))};

const newSpaceMiB = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 2 ** 20;
leanHeap();
const { worker } = startChunkWorker(deriveKeys(randomBytes(32)), new SharedArrayBuffer(4), 1024);
worker.once('online', async () => {
  // The engine's own 'online' handler was added first; let any work it queued run too.
  await new Promise((r) => setImmediate(r));
  const kept = [];
  let max = 0;
  for (let i = 0; i < 3e6; i++) {
    const o = { i, s: 'x' + i };
    if (i % 10 === 0) kept.push(o);
    if (kept.length > 50000) kept.splice(0, 25000);
    if (i % 10000 === 0) max = Math.max(max, newSpaceMiB());
  }
  console.log(JSON.stringify({ max }));
  await worker.terminate();
});
`;

describe('lean heap', () => {
  it("keeps the main thread's young generation small after a worker starts", async () => {
    const dir = await tempDir('holdfast-lean-heap-');
    const entry = join(dir, 'program.ts');
    writeFileSync(entry, program(join(repoRoot, 'agent', 'engine')));
    const r = await runProcess(process.execPath, ['--import', 'tsx', entry], { cwd: repoRoot });
    expect(r.code, r.output).toBe(0);
    const { max } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { max: number };
    // Lean: the initial 1-2 MiB semi-space. Reset by the worker's start: it doubles up to 32 MiB.
    expect(max).toBeLessThanOrEqual(4);
  });
});
