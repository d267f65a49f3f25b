// A test agent: an agent.json + state folder pointing at a test server, and runs of the real agent CLI.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentConfig } from '../../agent/config-types.js';
import { agentBin, repoRoot } from './paths.js';
import { runProcess, startProcess, type RunResult, type TestProcess } from './process.js';
import { TEST_TECHNICIAN_ID, tempDir } from './server.js';

/** Backup rules with a manual schedule (backups run only when a test asks). */
export function manualBackup(include: string[] = []): AgentConfig['backup'] {
  return { include, exclude: [], protectedPaths: [], schedule: { frequency: 'manual', at: '02:00' } };
}

export interface MakeAgentOptions {
  /** The server to register with: its first two addresses become the registration pair. */
  server?: { addresses: string[]; pin: string };
  /** Explicit registration pair (instead of the server's addresses). */
  registration?: { primary: string; alternate: string };
  tlsPin?: string;
  /** Default TEST_TECHNICIAN_ID; null leaves it out of the config. */
  technicianId?: string | null;
  /** Agent folder (config + state); default a new temp folder. */
  dir?: string;
  /** Anything else to put in agent.json (proxy, backup rules, escrow key...). */
  config?: Partial<AgentConfig>;
}

export interface TestAgent {
  dir: string;
  configPath: string;
  stateDir: string;
  config: AgentConfig;
  /** Runs `holdfast-agent <args>` with HOLDFAST_CONFIG pointing at this agent's config. */
  run(args: string[], options?: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string }): Promise<RunResult>;
  /** Starts a long-running agent command (e.g. service) in its own process group. */
  spawn(args: string[], options?: { env?: NodeJS.ProcessEnv; cwd?: string }): TestProcess;
  /** `status --json`, parsed. */
  status(): Promise<Record<string, unknown>>;
  /** `register --json`; throws with the output unless it exits 0; returns the device id. */
  register(): Promise<string>;
  /** Rewrites agent.json with changes merged in. */
  updateConfig(changes: Partial<AgentConfig>): Promise<void>;
}

export async function makeAgent(options: MakeAgentOptions = {}): Promise<TestAgent> {
  const dir = options.dir ?? (await tempDir('holdfast-agent-'));
  const configPath = join(dir, 'agent.json');
  const stateDir = join(dir, 'state');
  const registration = options.registration ?? {
    primary: options.server!.addresses[0],
    alternate: options.server!.addresses[1] ?? options.server!.addresses[0],
  };
  const config: AgentConfig = {
    fleet: 'test',
    registration,
    tlsPin: options.tlsPin ?? options.server!.pin,
    proxy: { type: 'none' },
    backup: manualBackup(),
    stateDir,
    ...options.config,
  };
  const technicianId = options.technicianId === undefined ? TEST_TECHNICIAN_ID : options.technicianId;
  if (technicianId !== null) config.technicianId = technicianId;
  await writeFile(configPath, JSON.stringify(config, null, 2));
  const env = (extra?: NodeJS.ProcessEnv) => ({ ...process.env, HOLDFAST_CONFIG: configPath, ...extra });
  const agent: TestAgent = {
    dir,
    configPath,
    stateDir,
    config,
    run: (args, o = {}) => runAgent(args, { ...o, env: env(o.env) }),
    spawn: (args, o = {}) => startProcess(process.execPath, [agentBin, ...args], { cwd: o.cwd ?? repoRoot, env: env(o.env) }),
    async status() {
      const r = await agent.run(['status', '--json']);
      if (r.code !== 0) throw new Error(`status failed (${r.code}):\n${r.output}`);
      return JSON.parse(r.stdout) as Record<string, unknown>;
    },
    async register() {
      const r = await agent.run(['register', '--json']);
      if (r.code !== 0) throw new Error(`register failed (${r.code}):\n${r.output}`);
      return (JSON.parse(r.stdout) as { deviceId: string }).deviceId;
    },
    async updateConfig(changes) {
      Object.assign(config, changes);
      await writeFile(configPath, JSON.stringify(config, null, 2));
    },
  };
  return agent;
}

/** Runs the bundled agent CLI to completion. */
export function runAgent(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return runProcess(process.execPath, [agentBin, ...args], { cwd: options.cwd ?? repoRoot, env: options.env ?? process.env, timeoutMs: options.timeoutMs });
}

export type { RunResult } from './process.js';
