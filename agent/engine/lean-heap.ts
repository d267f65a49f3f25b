// V8 settings that trade a little GC throughput for memory. The agent runs as a background service on
// someone's PC, so memory matters:
// - `leanHeap()` keeps the main thread's young generation at its initial size instead of doubling when many
//   objects survive a collection. Backups and restores: the full bench corpus, agent on Node 22, peak RSS
//   215–224 → 201–212 MiB backing up, 237–247 → 204–218 MiB restoring, CPU the same within noise (one
//   mark-compact per restore on Node 20 and 22 alike; an earlier build ran 51–58 with a 1 MiB semi-space).
// - Worker threads are capped through `resourceLimits` (WORKER_YOUNG_GENERATION_MB) and get a `gc`
//   function, which they use for young-generation collections only: their compressed/encrypted copies live
//   outside the V8 heap and would otherwise pile up (~64 MiB per thread) before V8 notices.
// Both flags are process-wide; setting them again is harmless (and needed after a worker starts: keepLeanHeap).
import { setFlagsFromString } from 'node:v8';

/**
 * Young generation of a worker thread: 3 MiB is one 1 MiB semi-space (V8 sizes it as 3 semi-spaces). A
 * worker's live heap is a few MiB; uncapped, its young generation grew to ~20 MiB.
 */
export const WORKER_YOUNG_GENERATION_MB = 3;

let applied = false;
let gcExposed = false;

export function leanHeap(): void {
  applied = true;
  setFlagsFromString('--semi-space-growth-factor=1');
}

/**
 * Starting a worker thread puts the growth factor back to V8's default (Node 20 and 22 alike, measured: the main
 * thread's young generation then grew to 32 MiB in every backup), so the flag is set again each time a worker
 * comes online (bundled-worker.ts).
 */
export function keepLeanHeap(): void {
  if (applied) setFlagsFromString('--semi-space-growth-factor=1');
}

/** Threads created from now on get a `gc` function (bundled-worker.ts). */
export function exposeGc(): void {
  if (gcExposed) return;
  gcExposed = true;
  setFlagsFromString('--expose-gc');
}
