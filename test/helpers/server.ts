// Starts a real holdfast-server process for a test: temp data folder, ephemeral ports on 127.0.0.1.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { repoRoot, serverBin } from './paths.js';
import { startProcess, type TestProcess } from './process.js';

/** Technician ID the test servers accept by default. */
export const TEST_TECHNICIAN_ID = 'TEST-TECH-7Q2X-SECRET-0001';
/** The demo certificate (no key generation per test) and its pin. */
export const DEMO_CERT = join(repoRoot, 'examples', 'tls', 'demo-server.crt');
export const DEMO_KEY = join(repoRoot, 'examples', 'tls', 'demo-server.key');

const madeDirs = new Set<string>();

/** A new folder under the system temp folder; removeTempDirs() deletes every one made so far. */
export async function tempDir(prefix = 'holdfast-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  madeDirs.add(dir);
  return dir;
}

/** Deletes the folders tempDir() made in this test file (call after the processes using them stopped). */
export async function removeTempDirs(): Promise<void> {
  const { rm } = await import('node:fs/promises');
  await Promise.all([...madeDirs].map((d) => rm(d, { recursive: true, force: true })));
  madeDirs.clear();
}

export interface StartTestServerOptions {
  /** Reuse a data folder (e.g. restart after kill9); default: a new temp folder. */
  dataDir?: string;
  /** Listen addresses; default two ephemeral ports on 127.0.0.1 (a primary and an alternate). */
  listen?: string[];
  technicianIds?: string[];
  /** Pair assigned to new devices; default: the server's own two addresses. */
  assign?: { primary: string; alternate: string };
  /** TLS files; 'generate' lets the server create its own certificate. Default: the demo certificate. */
  tls?: { cert: string; key: string } | 'generate';
  env?: NodeJS.ProcessEnv;
  /** The config's `limits` (server/limits.ts, server/registration-limits.ts); default: none, the server's defaults. */
  limits?: Record<string, unknown>;
  /** The config's `quotas` (server/quota.ts); default: none. */
  quotas?: Record<string, unknown>;
  /** How long to wait for "listening on"; default 30 s. */
  timeoutMs?: number;
}

export interface TestServer {
  addresses: string[];
  pin: string;
  dataDir: string;
  configPath: string;
  pid: number;
  process: TestProcess;
  output(): string;
  waitForOutput(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit. */
  kill9(): Promise<void>;
}

export async function startTestServer(options: StartTestServerOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? (await tempDir('holdfast-srv-'));
  const configDir = await tempDir('holdfast-srvcfg-');
  const configPath = join(configDir, 'server.json');
  const tls = options.tls === 'generate' ? undefined : (options.tls ?? { cert: DEMO_CERT, key: DEMO_KEY });
  await writeFile(
    configPath,
    JSON.stringify({
      listen: options.listen ?? ['127.0.0.1:0', '127.0.0.1:0'],
      ...(tls && { tls }),
      technicianIds: options.technicianIds ?? [TEST_TECHNICIAN_ID],
      ...(options.assign && { assign: options.assign }),
      ...(options.limits && { limits: options.limits }),
      ...(options.quotas && { quotas: options.quotas }),
    }),
  );
  const proc = startProcess(process.execPath, [serverBin, '--data', dataDir, '--config', configPath], {
    cwd: repoRoot,
    env: { ...process.env, ...options.env },
  });
  let out: string;
  try {
    out = await proc.waitForOutput(/listening on .*\n/, options.timeoutMs ?? 30_000);
  } catch (err) {
    await proc.kill9();
    throw err;
  }
  const addresses = /listening on (.*)\n/.exec(out)![1].trim().split(/\s+/);
  const pin = /certificate pin ([0-9A-F:]{95})/.exec(out)![1];
  return {
    addresses,
    pin,
    dataDir,
    configPath,
    pid: proc.pid,
    process: proc,
    output: proc.output,
    waitForOutput: proc.waitForOutput,
    stop: () => proc.stop(),
    kill9: () => proc.kill9(),
  };
}

export interface ServerFixture extends TestServer {
  /** Starts the server again on the same data folder and addresses (stops it first if it still runs). */
  restart(): Promise<void>;
}

/**
 * The test file's server, the one way a test file gets one: started in beforeAll (a temp data folder, free ports
 * on 127.0.0.1 unless `options` say otherwise; a function is called then, so it can read another fixture), and
 * stopped in afterAll by its process id (its process group). Call it at the top of the file, before the hooks that
 * use the server. The handle stays valid across restart().
 * cleanup-temp.ts then stops whatever else the file's helpers started and deletes the temp folders.
 */
export function useTestServer(options: StartTestServerOptions | (() => StartTestServerOptions) = {}): ServerFixture {
  let startOptions: StartTestServerOptions = {};
  // Filled in by beforeAll and again by restart(): the same object throughout, so callers may keep it.
  const fixture = {
    async restart() {
      await fixture.stop();
      Object.assign(fixture, await startTestServer({ ...startOptions, dataDir: fixture.dataDir, listen: fixture.addresses }));
    },
  } as ServerFixture;
  beforeAll(async () => {
    startOptions = typeof options === 'function' ? options() : options;
    Object.assign(fixture, await startTestServer(startOptions));
  });
  afterAll(async () => {
    await fixture.stop?.();
  });
  return fixture;
}

/**
 * Resolves once the device's index log on disk holds at least `lines` committed chunks (watches the
 * folder with inotify, no polling loop).
 */
export async function waitForStoredChunks(dataDir: string, deviceId: string, lines: number, timeoutMs = 60_000): Promise<number> {
  const { watch } = await import('node:fs');
  const { readFile: read, mkdir: mk } = await import('node:fs/promises');
  const dir = join(dataDir, 'devices', deviceId);
  await mk(dir, { recursive: true });
  const count = async () => {
    const text = await read(join(dir, 'index.log'), 'latin1').catch(() => '');
    return text.split('\n').length - 1;
  };
  return new Promise((resolve, reject) => {
    let done = false;
    const watcher = watch(dir, () => void check());
    const timer = setTimeout(() => finish(new Error(`index of ${deviceId} did not reach ${lines} chunks within ${timeoutMs} ms`)), timeoutMs);
    function finish(err: Error | undefined, n?: number) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      watcher.close();
      if (err) reject(err);
      else resolve(n!);
    }
    async function check() {
      const n = await count();
      if (n >= lines) finish(undefined, n);
    }
    void check();
  });
}

/** Chunk ids committed in a device's index log, in order (duplicates included). */
export async function storedChunkIds(dataDir: string, deviceId: string): Promise<string[]> {
  const { readFile: read } = await import('node:fs/promises');
  const text = await read(join(dataDir, 'devices', deviceId, 'index.log'), 'latin1').catch(() => '');
  return text
    .split('\n')
    .map((l) => /^([0-9a-f]+) \S+\.pack \d+ \d+$/.exec(l)?.[1])
    .filter((x): x is string => x !== undefined);
}

/** Runs `holdfast-server <args>` (admin commands such as reassign and devices) to completion. */
export async function runServerCli(args: string[]) {
  const { runProcess } = await import('./process.js');
  return runProcess(process.execPath, [serverBin, ...args], { cwd: repoRoot });
}
