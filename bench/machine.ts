// What the numbers were measured on, for the table header, the JSON and docs/performance.md.
import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface MachineInfo {
  date: string;
  cpus: number;
  cpuModel: string;
  memGiB: number;
  kernel: string;
  nodeVersion: string;
  restic: string;
  /** 1-minute load average when the bench started: other work on the machine skews the timings. */
  load1: number;
  /** Linux PSI: share of the last 60 s in which runnable tasks waited for a CPU (null where unavailable). */
  cpuPressure60: number | null;
  /** `df` line of the file system holding the work folder. */
  disk: string;
}

export async function machineInfo(workDir: string): Promise<MachineInfo> {
  await mkdir(workDir, { recursive: true });
  const restic = await run('restic', ['version']).then(
    (r) => r.stdout.trim().split(' compiled')[0],
    () => 'restic not installed',
  );
  const disk = await run('df', ['-h', '--output=source,fstype,size,avail', workDir]).then(
    (r) => r.stdout.trim().split('\n').pop()!.replace(/\s+/g, ' '),
    () => 'unknown',
  );
  return {
    date: new Date().toISOString(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    nodeVersion: process.version,
    restic,
    disk,
    load1: loadavg()[0],
    cpuPressure60: await cpuPressure(),
  };
}

/** "some avg60" of /proc/pressure/cpu, in percent. */
export async function cpuPressure(): Promise<number | null> {
  const text = await readFile('/proc/pressure/cpu', 'utf8').catch(() => '');
  const m = /^some .*avg60=([\d.]+)/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** `sync`: write back every dirty page of the machine (on Windows, where there is no `sync`, nothing). */
export async function flushDirtyPages(): Promise<void> {
  if (process.platform === 'win32') return;
  await run('sync', []);
}
