// V8 settings for the agent's busy phases (backup, restore). The agent runs as a background service on
// someone's PC, so memory matters more than GC throughput:
// - the young generation stays at its initial size instead of doubling when many objects survive a
//   collection (saves ~15–25 MiB per thread for a few more, cheap, young-generation collections);
// - threads created from now on get a `gc` function, which the chunk workers use for young-generation
//   collections only: their compressed/encrypted copies live outside the V8 heap and would otherwise pile up
//   (~64 MiB per thread) before V8 notices.
// Both are process-wide V8 flags; setting them again is harmless.
import { setFlagsFromString } from 'node:v8';

let applied = false;
let gcExposed = false;

export function leanHeap(): void {
  if (applied) return;
  applied = true;
  setFlagsFromString('--semi-space-growth-factor=1');
  exposeGc();
}

/** Only the second setting (source-worker.ts: every worker thread gets `gc`). */
export function exposeGc(): void {
  if (gcExposed) return;
  gcExposed = true;
  setFlagsFromString('--expose-gc');
}
