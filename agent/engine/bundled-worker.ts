// Worker threads run bundled source text. Each worker is an ordinary module (`<name>-thread.ts` beside this
// one) that imports what it needs (codec.ts, keys.ts, fzstd, ...); scripts/build.mjs bundles each one on its
// own and compiles the text into the agent bundle, so a bundle copied anywhere (an installed agent, the
// extension's copy) starts its workers without a node_modules folder beside it. Run from TypeScript source
// (vitest, tsx) there is no such text: the worker is bundled on first use by scripts/worker-bundle.cjs with
// esbuild (a devDependency, loaded by path at run time, so the agent bundle never contains it).
import { createRequire } from 'node:module';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { exposeGc, keepLeanHeap, WORKER_YOUNG_GENERATION_MB } from './lean-heap.js';

/** The engine's worker threads (agent/engine/<name>-thread.ts). */
export type WorkerName = 'chunk' | 'restore';

/** Bundled worker sources by name, defined by scripts/build.mjs; absent when run from source. */
declare const __HOLDFAST_WORKER_SOURCES__: Record<WorkerName, string> | undefined;

const bundledHere = new Map<WorkerName, string>();

function workerSource(name: WorkerName): string {
  if (typeof __HOLDFAST_WORKER_SOURCES__ !== 'undefined') return __HOLDFAST_WORKER_SOURCES__[name];
  let source = bundledHere.get(name);
  if (source === undefined) {
    const { bundleWorker } = createRequire(import.meta.url)('../../scripts/worker-bundle.cjs') as { bundleWorker(name: string): string };
    source = bundleWorker(name);
    bundledHere.set(name, source);
  }
  return source;
}

/**
 * Start worker `name` with a small young generation; it gets a `gc` function (for young-generation collections
 * of the garbage its buffers leave outside the V8 heap, see lean-heap.ts).
 */
export function startBundledWorker(name: WorkerName, options: Omit<WorkerOptions, 'eval'>): Worker {
  exposeGc();
  const worker = new Worker(workerSource(name), { resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB }, ...options, eval: true });
  worker.once('online', keepLeanHeap);
  return worker;
}
