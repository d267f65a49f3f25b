// Worker threads run from a function's source text: the agent ships as one bundled file, so a worker cannot
// be a module of its own. The function must be self-contained (no imports, nothing from outside its body but
// its `mods` argument and globals); the modules it needs are required here, in plain source text, because
// bundlers rewrite `require` inside functions.
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { exposeGc, keepLeanHeap, WORKER_YOUNG_GENERATION_MB } from './lean-heap.js';

/** What a worker function receives. */
export interface WorkerModules {
  wt: typeof import('node:worker_threads');
  fs: typeof import('node:fs');
  crypto: typeof import('node:crypto');
  zlib: typeof import('node:zlib');
}

/**
 * Start `main` on a worker thread with a small young generation; it gets a `gc` function (young-generation
 * collections of its garbage).
 */
export function startSourceWorker(main: (mods: WorkerModules) => void, options: Omit<WorkerOptions, 'eval'>): Worker {
  exposeGc();
  // Transpilers that keep function names (tsx, vitest) wrap them in a __name helper: give the worker one.
  const source =
    'var __name = (f) => f;\n' +
    `(${main.toString()})({ wt: require('node:worker_threads'), fs: require('node:fs'), crypto: require('node:crypto'), zlib: require('node:zlib') });`;
  const worker = new Worker(source, { resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB }, ...options, eval: true });
  worker.once('online', keepLeanHeap);
  return worker;
}
