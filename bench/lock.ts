// One bench run at a time per corpus: a run changes the corpus (+1%) and reverts it, so two runs sharing it
// (several engineers on one machine) would measure each other's changes.
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { processAlive } from '../common/process-alive.js';

export class CorpusBusyError extends Error {
  constructor(lockFile: string, pid: number) {
    super(`another bench run (pid ${pid}) is using this corpus (${lockFile}); wait for it to finish or give --out <another folder>`);
    this.name = 'CorpusBusyError';
  }
}

/** Take `lockFile` for this process (a lock left by a dead process is taken over); returns the release. */
export async function acquireLock(lockFile: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(lockFile, String(process.pid), { flag: 'wx' });
      return async () => {
        await unlink(lockFile).catch(() => undefined);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(lockFile, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) throw new CorpusBusyError(lockFile, pid);
      await unlink(lockFile).catch(() => undefined);
    }
  }
  throw new Error(`could not take ${lockFile}`);
}
