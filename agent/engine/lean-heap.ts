// V8 settings that trade a little GC throughput for memory. The agent runs as a background service on
// someone's PC, so during backups memory matters more than GC throughput:
// - `leanHeap()` keeps the main thread's young generation at its initial size instead of doubling when many
//   objects survive a collection (~10–25 MiB less per run). Backups only: with a 1 MiB semi-space the
//   restore's main thread ran a full mark-compact every ~100 ms (51–58 per restore of the bench corpus,
//   ~1.5 CPU s); a restore is someone waiting, so it lets the young generation grow.
// - Worker threads are capped through `resourceLimits` (WORKER_YOUNG_GENERATION_MB) and get a `gc`
//   function, which they use for young-generation collections only: their compressed/encrypted copies live
//   outside the V8 heap and would otherwise pile up (~64 MiB per thread) before V8 notices.
// Both flags are process-wide; setting them again is harmless.
import { setFlagsFromString } from 'node:v8';

/**
 * Young generation of a worker thread: 3 MiB is one 1 MiB semi-space (V8 sizes it as 3 semi-spaces). A
 * worker's live heap is a few MiB; uncapped, its young generation grew to ~20 MiB.
 */
export const WORKER_YOUNG_GENERATION_MB = 3;

let applied = false;
let gcExposed = false;

export function leanHeap(): void {
  if (applied) return;
  applied = true;
  setFlagsFromString('--semi-space-growth-factor=1');
}

/** Threads created from now on get a `gc` function (source-worker.ts). */
export function exposeGc(): void {
  if (gcExposed) return;
  gcExposed = true;
  setFlagsFromString('--expose-gc');
}
