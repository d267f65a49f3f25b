// A child process started by a test: own process group (so stop/kill reach its children), output
// captured, waits on output lines and exit (never on sleeps).
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface TestProcess {
  child: ChildProcess;
  pid: number;
  /** stdout and stderr so far, interleaved as received. */
  output(): string;
  stdout(): string;
  stderr(): string;
  /** Resolves with the output once `pattern` appears; rejects on exit or timeout. */
  waitForOutput(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM to the process group, then wait for exit (SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL to the process group, then wait for exit. */
  kill9(): Promise<void>;
}

const running = new Set<TestProcess>();

export function startProcess(command: string, args: string[], options: SpawnOptions = {}): TestProcess {
  const child = spawn(command, args, { ...options, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let so = '';
  let se = '';
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of [...listeners]) l();
  };
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    so += d.toString();
    notify();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
    se += d.toString();
    notify();
  });
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      done = true;
      running.delete(proc);
      notify();
      resolve({ code, signal });
    });
    child.once('error', (err) => {
      out += `\n[spawn error: ${err.message}]`;
      done = true;
      running.delete(proc);
      notify();
      resolve({ code: null, signal: null });
    });
  });
  const signalGroup = (sig: NodeJS.Signals) => {
    if (done || child.pid === undefined) return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      /* already gone */
    }
  };
  const proc: TestProcess = {
    child,
    pid: child.pid ?? -1,
    output: () => out,
    stdout: () => so,
    stderr: () => se,
    exited,
    waitForOutput(pattern, timeoutMs = 30_000) {
      const test = () => (typeof pattern === 'string' ? out.includes(pattern) : pattern.test(out));
      return new Promise((resolve, reject) => {
        if (test()) return resolve(out);
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern} from ${command} ${args.join(' ')}; output:\n${out}`));
        }, timeoutMs);
        const check = () => {
          if (test()) {
            clearTimeout(timer);
            listeners.delete(check);
            resolve(out);
          } else if (done) {
            clearTimeout(timer);
            listeners.delete(check);
            reject(new Error(`${command} ${args.join(' ')} exited before printing ${pattern}; output:\n${out}`));
          }
        };
        listeners.add(check);
      });
    },
    async stop(graceMs = 10_000) {
      signalGroup('SIGTERM');
      const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
    async kill9() {
      signalGroup('SIGKILL');
      await exited;
    },
  };
  running.add(proc);
  return proc;
}

/** Stops every process the helpers started that is still running (for afterAll). */
export async function stopAllProcesses(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout + stderr interleaved. */
  output: string;
  durationMs: number;
}

/** Runs a command to completion (killed after `timeoutMs`). */
export async function runProcess(command: string, args: string[], options: SpawnOptions & { timeoutMs?: number } = {}): Promise<RunResult> {
  const started = Date.now();
  const p = startProcess(command, args, options);
  const timer = setTimeout(() => void p.kill9(), options.timeoutMs ?? 120_000);
  const { code, signal } = await p.exited;
  clearTimeout(timer);
  return { code, signal, stdout: p.stdout(), stderr: p.stderr(), output: p.output(), durationMs: Date.now() - started };
}
