// A Wine prefix for one test file run: created under the temp folder (about 700 MB), set to Windows 10 (Node 22
// refuses Windows 7), used for msiexec, registry reads and Windows programs, and removed with its wineserver at
// the end. Reusable by any suite that needs Windows behaviour (MSI installs, GPO policy registry keys).
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { getPriority, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';

export const WINE_INSTALL_LINE = 'sudo apt-get install -y --no-install-recommends wine wine64 (or: bash scripts/setup.sh test)';

export interface WineRun {
  /** Exit code as Wine reports it: Windows exit codes arrive modulo 256 (1603 -> 67). */
  code: number | null;
  output: string;
  durationMs: number;
}

export interface WinePrefix {
  dir: string;
  env: NodeJS.ProcessEnv;
  driveC: string;
  /** Z:\... path of a Linux file, for Windows programs. */
  toWindows(linuxPath: string): string;
  /** Linux path of a C:\... path inside the prefix. */
  fromWindows(windowsPath: string): string;
  /** Runs `wine <args>` to completion; output goes through a file, so lingering Wine processes cannot hold it open. */
  run(args: string[], opts?: { timeoutMs?: number }): Promise<WineRun>;
  /** `msiexec <args> /l*vx <log>` (verbose, extra debugging information); returns the exit code and the log text. */
  msiexec(args: string[], opts?: { timeoutMs?: number }): Promise<WineRun & { log: string }>;
  /** Values of a registry key (exported with regedit, so any character survives), or undefined if absent. */
  regValues(key: string): Promise<Record<string, string> | undefined>;
  /** Subkey names under a key (e.g. the Uninstall key). */
  regSubkeys(key: string): Promise<string[]>;
  /** `sc query <name>` STATE (RUNNING, STOPPED...), or undefined if the service does not exist. */
  serviceState(name: string): Promise<string | undefined>;
  /** Starts recording the command lines of this prefix's processes (see recordCommandLines). */
  recordCommandLines(): CommandLineRecorder;
  /** Waits until every Wine process of this prefix has exited (wineserver -w), e.g. msiexec's lingering helpers. */
  settle(): Promise<void>;
  /** Stops every Wine process of this prefix (wineserver -k) and deletes the prefix. */
  close(): Promise<void>;
}

export interface CommandLineRecorder {
  /** Stops recording; every distinct command line seen, arguments joined by spaces (quotes are gone). */
  stop(): string[];
}

/**
 * Records the command line of every process of a prefix, as process auditing (EDR) would. Wine starts each Windows
 * process with its Windows command line as the Linux argv, so /proc/<pid>/cmdline shows it; processes belong to the
 * prefix when their environment names it. Polled every 5 ms, at a raised priority: a process living shorter than that can be missed, so
 * callers assert that they saw the process they care about.
 */
export function recordCommandLines(prefix: string): CommandLineRecorder {
  const marker = Buffer.from(`\0WINEPREFIX=${prefix}\0`);
  const ours = new Map<string, boolean>();
  const seen = new Set<string>();
  const poll = () => {
    const pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
    for (const pid of ours.keys()) if (!pids.includes(pid)) ours.delete(pid);
    for (const pid of pids) {
      try {
        if (!ours.has(pid)) ours.set(pid, Buffer.concat([Buffer.from([0]), readFileSync(`/proc/${pid}/environ`)]).includes(marker));
        if (!ours.get(pid)) continue;
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ').trimEnd();
        if (cmdline) seen.add(cmdline);
      } catch {
        // The process ended between readdir and read.
      }
    }
  };
  // On a loaded machine a normal-priority poller is not scheduled for longer than a short Windows process (sc.exe)
  // lives. Linux gives each thread its own nice value and setpriority(pid 0) sets the calling thread's: this raises
  // only the thread that polls, for as long as it records.
  const priority = getPriority(0);
  try {
    setPriority(0, -15);
  } catch {
    // Not root: poll at normal priority.
  }
  poll();
  const timer = setInterval(poll, 5);
  return {
    stop() {
      clearInterval(timer);
      poll();
      try {
        setPriority(0, priority);
      } catch {
        // Left as it was.
      }
      return [...seen];
    },
  };
}

/** `expected` Windows exit code as Wine hands it back. */
export const wineExitCode = (windowsCode: number): number => windowsCode % 256;

function hasCommand(cmd: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, cmd)));
}

/** Throws (the test fails, never skips) with the install line when Wine is missing. */
export function requireWine(): void {
  const missing = ['wine', 'wineserver'].filter((c) => !hasCommand(c));
  if (missing.length) throw new Error(`${missing.join(', ')} not found; install Wine: ${WINE_INSTALL_LINE}`);
}

function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv, outFile: string, timeoutMs: number): Promise<WineRun> {
  const started = Date.now();
  const fd = openSync(outFile, 'w');
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    // 'exit', not 'close': wineserver and services started by msiexec outlive the command.
    child.once('exit', async (code) => {
      clearTimeout(timer);
      resolve({ code, output: await readFile(outFile, 'utf8').catch(() => ''), durationMs: Date.now() - started });
    });
  });
}

/** Parses regedit's export (.reg, UTF-16): "Name"="value" lines of one key. */
export function parseRegExport(text: string, key: string): Record<string, string> | undefined {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const header = `[${key}]`.toLowerCase();
  const start = lines.findIndex((l) => l.toLowerCase() === header);
  if (start < 0) return undefined;
  const values: Record<string, string> = {};
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('[')) break;
    const m = /^(?:"((?:[^"\\]|\\.)*)"|@)=(?:"((?:[^"\\]|\\.)*)"|(.*))$/.exec(line);
    if (!m) continue;
    const unquote = (s: string) => s.replace(/\\(.)/g, '$1');
    values[m[1] === undefined ? '' : unquote(m[1])] = m[2] !== undefined ? unquote(m[2]) : m[3];
  }
  return values;
}

export async function createWinePrefix(opts: { parentDir?: string } = {}): Promise<WinePrefix> {
  requireWine();
  const dir = await mkdtemp(join(opts.parentDir ?? tmpdir(), 'holdfast-wine-'));
  const prefix = join(dir, 'prefix');
  const env: NodeJS.ProcessEnv = { ...process.env, WINEPREFIX: prefix, WINEDEBUG: '-all', WINEARCH: 'win64', WINEDLLOVERRIDES: 'mscoree,mshtml=' };
  delete env.DISPLAY;
  let seq = 0;
  const outFile = () => join(dir, `out-${++seq}.txt`);
  const wine = (args: string[], timeoutMs = 300_000) => exec('wine', args, env, outFile(), timeoutMs);
  const wineserver = (args: string[]) => exec('wineserver', args, env, outFile(), 120_000);

  try {
    const boot = await exec('wineboot', ['-i'], env, outFile(), 300_000);
    if (boot.code !== 0) throw new Error(`wineboot -i failed (${boot.code}): ${boot.output.slice(-2000)}`);
    const cfg = await wine(['winecfg', '-v', 'win10']);
    if (cfg.code !== 0) throw new Error(`winecfg -v win10 failed (${cfg.code}): ${cfg.output.slice(-2000)}`);
    // The prefix finishes setting itself up in the background; msiexec before that races it.
    await wineserver(['-w']);
  } catch (err) {
    await wineserver(['-k']).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  const driveC = join(prefix, 'drive_c');
  const toWindows = (p: string) => `Z:${p.replace(/\//g, '\\')}`;
  const fromWindows = (p: string) => join(driveC, p.replace(/^[Cc]:\\/, '').replace(/\\/g, '/'));

  const regExport = async (key: string): Promise<string | undefined> => {
    const file = join(dir, `export-${++seq}.reg`);
    await wine(['regedit', '/E', toWindows(file), key]);
    if (!existsSync(file)) return undefined;
    const buf = await readFile(file);
    return buf[0] === 0xff && buf[1] === 0xfe ? buf.subarray(2).toString('utf16le') : buf.toString('utf8');
  };

  return {
    dir: prefix,
    env,
    driveC,
    toWindows,
    fromWindows,
    run: (args, o) => wine(args, o?.timeoutMs),
    async msiexec(args, o) {
      const log = join(dir, `msiexec-${++seq}.log`);
      const r = await wine(['msiexec', ...args, '/l*vx', toWindows(log)], o?.timeoutMs);
      const raw = existsSync(log) ? await readFile(log) : Buffer.alloc(0);
      const text = raw[0] === 0xff && raw[1] === 0xfe ? raw.subarray(2).toString('utf16le') : raw.toString('utf8');
      return { ...r, log: text };
    },
    async regValues(key) {
      const text = await regExport(key);
      return text === undefined ? undefined : parseRegExport(text, key);
    },
    async regSubkeys(key) {
      const text = await regExport(key);
      if (text === undefined) return [];
      const prefixLower = `[${key}\\`.toLowerCase();
      return text
        .split(/\r?\n/)
        .filter((l) => l.toLowerCase().startsWith(prefixLower) && l.endsWith(']'))
        .map((l) => l.slice(prefixLower.length, -1))
        .filter((k) => !k.includes('\\'));
    },
    async serviceState(name) {
      const r = await wine(['sc', 'query', name]);
      return /STATE\s*:\s*\d+\s+(\w+)/.exec(r.output)?.[1];
    },
    recordCommandLines: () => recordCommandLines(prefix),
    async settle() {
      await wineserver(['-w']);
    },
    async close() {
      await wineserver(['-k']).catch(() => undefined);
      await wineserver(['-w']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export const PROFILE_LIST = 'HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\ProfileList';

/**
 * Makes the prefix's ProfileList hold exactly `profiles` (SID -> ProfileImagePath, REG_EXPAND_SZ). Wine's own user
 * profile goes: its folders lead into the Linux home, which a test must never back up.
 */
export async function replaceProfileList(wine: WinePrefix, profiles: Record<string, string>): Promise<void> {
  const must = (r: WineRun, what: string) => {
    if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.output}`);
  };
  must(await wine.run(['reg', 'delete', PROFILE_LIST, '/f']), `reg delete ${PROFILE_LIST}`);
  for (const [sid, path] of Object.entries(profiles)) {
    must(await wine.run(['reg', 'add', `${PROFILE_LIST}\\${sid}`, '/v', 'ProfileImagePath', '/t', 'REG_EXPAND_SZ', '/d', path, '/f']), `reg add ${sid}`);
  }
}
