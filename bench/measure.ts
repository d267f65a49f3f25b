// Measuring processes: a whole command under GNU time (wall, user+sys CPU, peak RSS), and a long-running
// process we started (the test server) through /proc.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const GNU_TIME = '/usr/bin/time';

export interface ProcessMeasure {
  wallS: number;
  userS: number;
  sysS: number;
  cpuS: number;
  peakRssMiB: number;
}

export class CommandFailedError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly logFile: string,
    readonly tail: string,
  ) {
    super(`${command} exited with ${exitCode ?? 'a signal'}; log: ${logFile}\n${tail}`);
    this.name = 'CommandFailedError';
  }
}

export function requireGnuTime(): void {
  if (!existsSync(GNU_TIME)) {
    throw new Error(`${GNU_TIME} (GNU time) is missing. Install it: sudo apt-get install -y time`);
  }
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** stdout and stderr of the command go here. */
  logFile: string;
  /** Text for error messages instead of the raw argv (which may hold paths only, never secrets). */
  label?: string;
}

/** Run `cmd args` to completion under GNU time; rejects with the log tail if it exits non-zero. */
export async function measureCommand(cmd: string, args: string[], opts: RunOptions): Promise<ProcessMeasure> {
  requireGnuTime();
  const dir = await mkdtemp(join(tmpdir(), 'hf-bench-time-'));
  const timeFile = join(dir, 'time.txt');
  const log = createWriteStream(opts.logFile, { flags: 'a' });
  await new Promise<void>((res, rej) => {
    log.once('open', () => res());
    log.once('error', rej);
  });
  const started = performance.now();
  try {
    const child = spawn(GNU_TIME, ['-f', '%e %U %S %M', '-o', timeFile, cmd, ...args], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    const code = await new Promise<number | null>((res, rej) => {
      child.once('error', rej);
      child.once('close', (c) => res(c));
    });
    const wallS = (performance.now() - started) / 1000;
    await new Promise<void>((res) => log.end(res));
    if (code !== 0) {
      const text = await readFile(opts.logFile, 'utf8').catch(() => '');
      throw new CommandFailedError(opts.label ?? [cmd, ...args].join(' '), code, opts.logFile, text.split('\n').slice(-15).join('\n'));
    }
    return { wallS, ...parseGnuTime(await readFile(timeFile, 'utf8')) };
  } finally {
    if (!log.closed) log.end();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Parse the last line of GNU time's `%e %U %S %M` output (earlier lines may be "Command exited ..."). */
export function parseGnuTime(text: string): Omit<ProcessMeasure, 'wallS'> {
  const line = text.trim().split('\n').pop() ?? '';
  const parts = line.trim().split(/\s+/).map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isFinite(n))) {
    throw new Error(`unexpected GNU time output: ${JSON.stringify(line)}`);
  }
  const [, userS, sysS, maxRssKiB] = parts;
  return { userS, sysS, cpuS: userS + sysS, peakRssMiB: maxRssKiB / 1024 };
}

// ---- a running process of ours, sampled through /proc ----

const CLOCK_TICKS = 100; // USER_HZ on Linux is 100 on every architecture Node supports

export interface ProcSample {
  cpuS: number;
  peakRssMiB: number;
}

/** CPU so far (user+sys, all threads) and peak RSS (VmHWM) of process `pid`. */
export async function sampleProcess(pid: number): Promise<ProcSample> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuS = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const hwm = /^VmHWM:\s+(\d+) kB/m.exec(status);
  return { cpuS, peakRssMiB: hwm ? Number(hwm[1]) / 1024 : 0 };
}

/** Reset the peak RSS of our own child `pid`, so the next sample covers one operation only. */
export async function resetPeakRss(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, '5').catch(() => undefined);
}
