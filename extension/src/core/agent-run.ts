import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

import { agentConfigFromFleet } from '../../../fleet/agent-config.js';
import type { AgentConfig } from '../../../agent/config-types.js';
import { EXIT_SKIPPED, type SkippedPath } from '../../../agent/engine/skipped.js';
import type { FleetEntry } from './fleets.js';
import { parseJsonOutput, runNode, type RunResult } from './process.js';
import { compareTrees, makeSampleData, type TreeDiff } from './verify.js';

type ValidEntry = Extract<FleetEntry, { kind: 'valid' }>;

export interface AgentRunOptions {
  /** dist/holdfast-agent.mjs (bundled with the extension). */
  agentBin: string;
  /** Per-fleet folder for the test agent: agent.json, state/, sample/, restores. */
  workDir: string;
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  signal?: AbortSignal;
}

/** Where the test server listens and which certificate it shows. */
export interface ServerEndpoint {
  addresses: string[];
  pin: string;
}

export class AgentRunError extends Error {
  constructor(
    readonly action: string,
    readonly result: RunResult,
  ) {
    const last = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-3).join(' / ');
    super(`${action} failed (exit ${result.code})${last ? `: ${last}` : ''}`);
    this.name = 'AgentRunError';
  }
}

/**
 * The fleet's agent configuration pointed at the local test server: the registration pair is rewritten to the
 * addresses the test server actually bound (so nothing depends on port 16384 being free) and the pin to its
 * certificate. Everything else — proxy aside, which a loopback test cannot use — is the fleet's own.
 */
export async function testAgentConfig(entry: ValidEntry, server: ServerEndpoint, workDir: string, sourceDir: string): Promise<AgentConfig> {
  const config = await agentConfigFromFleet({ file: entry.file, dir: join(entry.file, '..'), fleet: entry.fleet }, entry.secrets);
  const [primary, alternate = primary] = server.addresses;
  config.registration = { primary, alternate };
  config.tlsPin = server.pin;
  config.proxy = { type: 'none' };
  config.stateDir = join(workDir, 'state');
  config.backup = { ...config.backup, include: [sourceDir], protectedPaths: [] };
  delete config.policy;
  return config;
}

export class TestAgent {
  constructor(private readonly opts: AgentRunOptions) {}

  get configFile(): string {
    return join(this.opts.workDir, 'agent.json');
  }

  get sampleDir(): string {
    return join(this.opts.workDir, 'sample');
  }

  /** Writes agent.json (mode 0600: it holds the Technician ID) and the sample data when no source is given. */
  async prepare(entry: ValidEntry, server: ServerEndpoint, sourceDir?: string): Promise<string> {
    await mkdir(this.opts.workDir, { recursive: true });
    const source = sourceDir || this.sampleDir;
    if (!sourceDir && !(await exists(this.sampleDir))) await makeSampleData(this.sampleDir);
    const config = await testAgentConfig(entry, server, this.opts.workDir, source);
    await writeFile(this.configFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    return source;
  }

  async run(action: string, args: string[], okCodes: number[] = [0]): Promise<Record<string, unknown>> {
    // With --json, stdout is the result document (parsed below); stderr carries the progress lines.
    const onLine = this.opts.onLine && ((line: string, stream: 'stdout' | 'stderr') => stream === 'stderr' && this.opts.onLine?.(line, stream));
    const result = await runNode(this.opts.agentBin, [...args], { onLine, signal: this.opts.signal, cwd: this.opts.workDir });
    if (!okCodes.includes(result.code)) throw new AgentRunError(action, result);
    return parseJsonOutput<Record<string, unknown>>(result.stdout) ?? {};
  }

  async register(): Promise<{ device?: string }> {
    const out = await this.run('register', ['register', '--config', this.configFile, '--json']);
    const device = (out.deviceId ?? out.device ?? out.id) as string | undefined;
    return { device: typeof device === 'string' ? device : undefined };
  }

  /**
   * Register unless this agent already registered with the server at these addresses. A server on other
   * addresses is another server: the old device state is dropped and the agent registers afresh.
   */
  async ensureRegistered(server: ServerEndpoint): Promise<{ device?: string; fresh: boolean }> {
    const marker = join(this.opts.workDir, 'registration.json');
    const prev = await readFile(marker, 'utf8').then(
      (t) => JSON.parse(t) as { addresses: string[]; device?: string },
      () => undefined,
    );
    if (prev && prev.addresses.join(' ') === server.addresses.join(' ')) return { device: prev.device, fresh: false };
    await rm(join(this.opts.workDir, 'state'), { recursive: true, force: true });
    const { device } = await this.register();
    await writeFile(marker, `${JSON.stringify({ addresses: server.addresses, device })}\n`);
    return { device, fresh: true };
  }

  async status(): Promise<Record<string, unknown>> {
    return this.run('status', ['status', '--config', this.configFile, '--json']);
  }

  /** A backup that skipped paths still stored a snapshot (exit EXIT_SKIPPED): a result with its warnings, not a failure. */
  async backup(): Promise<{ files?: number; bytes?: number; snapshot?: string; warnings: string[]; skipped: SkippedPath[]; raw: Record<string, unknown> }> {
    const out = await this.run('backup', ['backup', '--config', this.configFile, '--json'], [0, EXIT_SKIPPED]);
    const num = (...keys: string[]) => keys.map((k) => out[k]).find((v): v is number => typeof v === 'number');
    const snap = out.snapshot ?? out.snapshotId ?? out.id;
    return {
      files: num('files', 'fileCount', 'filesTotal'),
      bytes: num('bytes', 'bytesTotal', 'totalBytes', 'size'),
      snapshot: typeof snap === 'string' ? snap : undefined,
      warnings: Array.isArray(out.warnings) ? (out.warnings as string[]) : [],
      skipped: Array.isArray(out.skipped) ? (out.skipped as SkippedPath[]) : [],
      raw: out,
    };
  }

  /** Restore the latest snapshot into a fresh folder and compare it byte for byte with the source. */
  async restoreAndVerify(sourceDir: string): Promise<{ target: string; diff: TreeDiff }> {
    const target = join(this.opts.workDir, `restore-${Date.now()}`);
    await this.run('restore', ['restore', '--config', this.configFile, '--snapshot', 'latest', '--to', target, '--json']);
    const restoredRoot = await locateRestoredRoot(target, sourceDir);
    return { target, diff: await compareTrees(sourceDir, restoredRoot) };
  }
}

/** The device a test agent in `workDir` registered as (from its last registration), if any. */
export async function registeredDevice(workDir: string): Promise<string | undefined> {
  const marker = await readFile(join(workDir, 'registration.json'), 'utf8').then(
    (t) => JSON.parse(t) as { device?: string },
    () => undefined,
  );
  return marker?.device;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** `restore --to DIR` recreates a backed-up folder as DIR/<folder name>/…; find the copy of `sourceDir` in it. */
export async function locateRestoredRoot(target: string, sourceDir: string): Promise<string> {
  const named = join(target, basename(sourceDir));
  return (await exists(named)) ? named : target;
}
