import { spawn, type ChildProcess } from 'node:child_process';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Called for every complete line on stdout and stderr, as it arrives. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  signal?: AbortSignal;
  /**
   * Own process group (default), so a stop reaches every tool the command starts. A long-lived single process
   * such as the test server runs without one, so it goes down with the editor's process group.
   */
  group?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The environment for a bundled CLI run with the editor's own executable: in desktop VS Code that is
 * Electron, which behaves as plain Node only with ELECTRON_RUN_AS_NODE; in code-server it is node already.
 */
export function nodeEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...extra, ELECTRON_RUN_AS_NODE: '1', NO_COLOR: '1', FORCE_COLOR: '0' };
}

function splitLines(onLine: ((line: string) => void) | undefined): (chunk: Buffer) => void {
  let pending = '';
  return (chunk) => {
    pending += chunk.toString('utf8');
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      onLine?.(pending.slice(0, nl).replace(/\r$/, ''));
      pending = pending.slice(nl + 1);
    }
  };
}

const grouped = new WeakSet<ChildProcess>();

/** Spawn `node script args…` (by default in its own process group so a stop reaches every child it started). */
export function spawnNode(script: string, args: string[], opts: RunOptions = {}): ChildProcess {
  const group = (opts.group ?? true) && process.platform !== 'win32';
  const child = spawn(process.execPath, [script, ...args], {
    cwd: opts.cwd,
    env: opts.env ?? nodeEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: group,
    windowsHide: true,
  });
  if (group) grouped.add(child);
  child.stdout?.on(
    'data',
    splitLines((l) => opts.onLine?.(l, 'stdout')),
  );
  child.stderr?.on(
    'data',
    splitLines((l) => opts.onLine?.(l, 'stderr')),
  );
  if (opts.signal) {
    const abort = () => killTree(child);
    opts.signal.addEventListener('abort', abort, { once: true });
    child.once('exit', () => opts.signal?.removeEventListener('abort', abort));
  }
  return child;
}

/** Run a bundled CLI to completion, collecting its output. Never rejects for a non-zero exit. */
export function runNode(script: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const child = spawnNode(script, args, {
      ...opts,
      onLine: (line, stream) => {
        if (stream === 'stdout') stdout += `${line}\n`;
        else stderr += `${line}\n`;
        opts.onLine?.(line, stream);
      },
    });
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

/** Stop a process (its group when it has one) that we started: SIGTERM, SIGKILL after `graceMs`. */
export function killTree(child: ChildProcess, graceMs = 3000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return resolve();
    const pid = child.pid;
    const send = (sig: NodeJS.Signals) => {
      try {
        if (grouped.has(child)) process.kill(-pid, sig);
        else child.kill(sig);
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => send('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    send('SIGTERM');
  });
}

/** The last JSON object a CLI printed with --json (whole stdout, or its last line that parses). */
export function parseJsonOutput<T = unknown>(stdout: string): T | undefined {
  const text = stdout.trim();
  if (!text) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    const lines = text.split('\n').reverse();
    for (const line of lines) {
      const l = line.trim();
      if (!l.startsWith('{')) continue;
      try {
        return JSON.parse(l) as T;
      } catch {
        /* not this one */
      }
    }
    return undefined;
  }
}
