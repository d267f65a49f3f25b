// Holdfast: the test server as a long-running child (its cost reported separately) and the agent CLI,
// every backup/restore one whole `holdfast-agent` process.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import type { AgentConfig } from '../../agent/config-types.js';
import { measureCommand, type ProcessMeasure } from '../measure.js';
import { agentBin, pinBundle, serverBin } from '../paths.js';
import { startServerProcess, type ServerProcess } from '../server-process.js';
import { treeBytes } from '../tree.js';
import type { BenchTool } from './tool.js';
import type { AgentNode } from '../agent-node.js';

const run = promisify(execFile);

/** Only for the bench's private server; never printed. */
const BENCH_TECHNICIAN_ID = 'BENCH-TECH-0001';

export class HoldfastTool implements BenchTool {
  readonly name = 'holdfast' as const;
  private server: ServerProcess | undefined;
  private readonly configFile: string;
  private agentBin = agentBin;
  build: string | undefined;

  constructor(
    private readonly source: string,
    private readonly workDir: string,
    private readonly logDir: string,
    private readonly options: { cpuProfile?: boolean; agentNode?: AgentNode } = {},
  ) {
    this.configFile = join(workDir, 'agent', 'agent.json');
  }

  /** The node binary that runs the agent. */
  private get node(): string {
    return this.options.agentNode?.path ?? process.execPath;
  }

  get sidecarPid(): number | undefined {
    return this.server?.pid;
  }

  async setup(): Promise<void> {
    this.agentBin = await pinBundle(agentBin, join(this.workDir, 'bin'));
    const hash = createHash('sha256')
      .update(await readFile(this.agentBin))
      .digest('hex')
      .slice(0, 12);
    const node = this.options.agentNode;
    this.build = `agent bundle sha256 ${hash}, ${node ? `Node ${node.version} (${node.label})` : `Node ${process.version}`}`;
    this.server = await startServerProcess({
      bin: await pinBundle(serverBin, join(this.workDir, 'bin')),
      dataDir: join(this.workDir, 'server-data'),
      technicianId: BENCH_TECHNICIAN_ID,
      logFile: join(this.logDir, 'holdfast-server.log'),
      // The server's profile covers the whole run (written when it stops).
      nodeArgs: this.options.cpuProfile ? ['--cpu-prof', `--cpu-prof-dir=${join(this.logDir, 'profiles', 'server')}`] : [],
    });
    const [primary, alternate] = this.server.addresses;
    const config: AgentConfig = {
      fleet: 'bench',
      technicianId: BENCH_TECHNICIAN_ID,
      registration: { primary, alternate: alternate ?? primary },
      tlsPin: this.server.pin,
      proxy: { type: 'none' },
      backup: { include: [this.source], exclude: [], protectedPaths: [], schedule: { frequency: 'manual', at: '02:00' } },
      stateDir: join(this.workDir, 'agent', 'state'),
    };
    await mkdir(join(this.workDir, 'agent'), { recursive: true });
    await writeFile(this.configFile, JSON.stringify(config, null, 2), { mode: 0o600 });
    await run(this.node, [this.agentBin, 'register', '--config', this.configFile]).catch((err: Error & { stderr?: string }) => {
      throw new Error(`holdfast-agent register failed: ${err.stderr?.trim() || err.message}`);
    });
  }

  /** node [profiling flags] <agent bundle>; profiles go to logs/profiles/<operation>/, one file per thread. */
  private agent(logFile: string): string[] {
    if (!this.options.cpuProfile) return [this.agentBin];
    return ['--cpu-prof', `--cpu-prof-dir=${join(this.logDir, 'profiles', basename(logFile, '.log'))}`, this.agentBin];
  }

  backup(logFile: string): Promise<ProcessMeasure> {
    return measureCommand(this.node, [...this.agent(logFile), 'backup', '--config', this.configFile, '--quiet'], { logFile, label: 'holdfast-agent backup' });
  }

  restore(target: string, logFile: string): Promise<ProcessMeasure> {
    return measureCommand(this.node, [...this.agent(logFile), 'restore', '--config', this.configFile, '--to', target, '--quiet'], {
      logFile,
      label: 'holdfast-agent restore',
    });
  }

  forgetPrune(keepLast: number, logFile: string): Promise<ProcessMeasure> {
    return measureCommand(this.node, [...this.agent(logFile), 'forget', '--config', this.configFile, '--keep-last', String(keepLast), '--prune'], {
      logFile,
      label: 'holdfast-agent forget --prune',
    });
  }

  /** The engine restores each backed-up folder as <target>/<folder name>/. */
  restoredRoot(target: string): string {
    return join(target, basename(this.source));
  }

  async repositoryBytes(): Promise<number> {
    const devices = join(this.workDir, 'server-data', 'devices');
    const ids = await readdir(devices).catch(() => [] as string[]);
    let total = 0;
    for (const id of ids) total += await treeBytes(join(devices, id));
    return total;
  }

  async close(): Promise<void> {
    await this.server?.stop();
    this.server = undefined;
  }
}
