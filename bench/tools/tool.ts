// One backup tool under test. Setup (init, server start, registration) is never timed; each timed call
// is one whole process measured by GNU time.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { ProcessMeasure } from '../measure.js';

const run = promisify(execFile);

/** A peer's version line (`<bin> <args>`), or an error naming the install line when it is missing. */
export async function toolVersion(bin: string, args: string[], install: string): Promise<string> {
  try {
    const { stdout } = await run(bin, args);
    return stdout.trim();
  } catch {
    throw new Error(`${bin} is not installed. Install it: ${install}`);
  }
}

export type ToolName = 'holdfast' | 'restic' | 'borg';

export interface BenchTool {
  readonly name: ToolName;
  /** Untimed preparation: create the repository, start the server, register. */
  setup(): Promise<void>;
  /** Back up the corpus directory; one measured process. */
  backup(logFile: string): Promise<ProcessMeasure>;
  /** Restore the latest backup into `target`; one measured process. */
  restore(target: string, logFile: string): Promise<ProcessMeasure>;
  /** Where under `target` the restored copy of the source folder's contents lands. */
  restoredRoot(target: string): string;
  /** Bytes the backups occupy on the storage side (restic repository; server data for this device). */
  repositoryBytes(): Promise<number>;
  /** What exactly was measured (restic version; hash of the pinned Holdfast agent bundle); set by setup(). */
  readonly build?: string;
  /** A helper process whose cost is reported separately (the Holdfast test server). */
  readonly sidecarPid?: number;
  close(): Promise<void>;
}

/** A tool the prune bench (bench/prune-bench.ts) can measure. */
export interface PrunableBenchTool extends BenchTool {
  /** Forget all but the `keepLast` newest snapshots and delete the data only they used; one measured process. */
  forgetPrune(keepLast: number, logFile: string): Promise<ProcessMeasure>;
}
