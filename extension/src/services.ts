// What the views and commands share: paths of the bundled tools, the output channel, the fleet list,
// the test server and the test agent's state. Logic lives in src/core (no `vscode` there).
import * as vscode from 'vscode';
import { dirname, isAbsolute, join } from 'node:path';

import { registeredDevice } from './core/agent-run.js';
import { agentReady, describeFleetFiles, fleetLabel, type FleetEntry } from './core/fleets.js';
import { choosePorts } from './core/ports.js';
import { TestServer } from './core/test-server.js';
import type { AgentResult, AgentViewState } from './core/tree-model.js';

export type ValidFleet = Extract<FleetEntry, { kind: 'valid' }>;

const EXCLUDE = '**/{node_modules,.git,.tools,dist,out}/**';

export class Services implements vscode.Disposable {
  readonly output = vscode.window.createOutputChannel('Holdfast');
  readonly binDir: string;
  readonly fleetsChanged = new vscode.EventEmitter<void>();
  readonly agentChanged = new vscode.EventEmitter<void>();
  readonly server: TestServer;
  private entries: FleetEntry[] = [];
  private scanning?: Promise<FleetEntry[]>;
  private rescan?: Promise<FleetEntry[]>;
  readonly agent: AgentViewState = { history: [] };
  private readonly disposables: vscode.Disposable[] = [];

  constructor(readonly context: vscode.ExtensionContext) {
    this.binDir = join(context.extensionPath, 'dist', 'holdfast', 'dist');
    const storage = context.storageUri?.fsPath ?? context.globalStorageUri.fsPath;
    this.server = new TestServer({
      serverBin: this.bin('server'),
      workDir: join(storage, 'test-server'),
      onLine: (line) => this.log(`[server] ${line}`),
    });
    this.server.on(
      'change',
      (s) => void vscode.commands.executeCommand('setContext', 'holdfast.testServerRunning', s.status === 'running' || s.status === 'starting'),
    );
    const watcher = vscode.workspace.createFileSystemWatcher('**/{*.fleet.json,manifest.json}');
    this.disposables.push(
      this.output,
      this.fleetsChanged,
      this.agentChanged,
      watcher,
      watcher.onDidChange(() => this.refresh()),
      watcher.onDidCreate(() => this.refresh()),
      watcher.onDidDelete(() => this.refresh()),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.refresh()),
      vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration('holdfast') && this.refresh()),
    );
  }

  get storageDir(): string {
    return this.context.storageUri?.fsPath ?? this.context.globalStorageUri.fsPath;
  }

  /** The test agent's folder for a fleet (config, state, sample data, restores). */
  agentDir(fleetId: string): string {
    return join(this.storageDir, 'agent', fleetId);
  }

  bin(name: 'agent' | 'server'): string {
    return join(this.binDir, `holdfast-${name}.mjs`);
  }

  log(line: string): void {
    this.output.appendLine(line);
  }

  outDirFor(fleetFile: string): string {
    const out = vscode.workspace.getConfiguration('holdfast', vscode.Uri.file(fleetFile)).get<string>('generate.outDir') || 'holdfast-out';
    return isAbsolute(out) ? out : join(dirname(fleetFile), out);
  }

  get fleets(): FleetEntry[] {
    return this.entries;
  }

  /**
   * Re-read every fleet file of the workspace (validation runs in-process: it is cheap). A request that comes
   * while a scan runs is answered by one more scan after it, so no change is missed.
   */
  refresh(): Promise<FleetEntry[]> {
    if (this.scanning) {
      this.rescan ??= this.scanning.then(
        () => {
          this.rescan = undefined;
          return this.refresh();
        },
        () => {
          this.rescan = undefined;
          return this.refresh();
        },
      );
      return this.rescan;
    }
    this.scanning = this.scan().finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  private async scan(): Promise<FleetEntry[]> {
    const uris = await vscode.workspace.findFiles('**/*.fleet.json', EXCLUDE);
    this.entries = await describeFleetFiles(
      uris.map((u) => u.fsPath),
      (f) => this.outDirFor(f),
    );
    if (!this.agent.fleetFile || !this.entries.some((e) => e.file === this.agent.fleetFile && agentReady(e))) {
      const first = this.entries.find(agentReady);
      this.agent.fleetFile = first?.file;
      this.agent.fleet = first ? fleetLabel(first) : undefined;
      this.agent.device = first?.kind === 'valid' ? await registeredDevice(this.agentDir(first.fleet.fleet)) : undefined;
      this.agentChanged.fire();
    }
    this.fleetsChanged.fire();
    return this.entries;
  }

  async ensureScanned(): Promise<FleetEntry[]> {
    return this.scanning ?? (this.entries.length ? this.entries : this.refresh());
  }

  /** Start the test server (accepting every Technician ID the workspace's fleets resolve). */
  async startServer(): Promise<void> {
    if (this.server.state.status === 'running') return;
    const entries = await this.ensureScanned();
    const ids = [...new Set(entries.flatMap((e) => (e.kind === 'valid' && e.secrets.technicianId ? [e.secrets.technicianId] : [])))];
    const cfg = vscode.workspace.getConfiguration('holdfast');
    const configured = cfg.get<number[]>('testServer.ports') ?? [0, 0];
    const remembered = this.context.workspaceState.get<[number, number]>('holdfast.testServer.lastPorts');
    const ports = await choosePorts([configured[0] ?? 0, configured[1] ?? 0], remembered);
    this.log(`Starting the test server on 127.0.0.1:${ports[0]} and 127.0.0.1:${ports[1]} (data: ${this.server.dataDir})`);
    // The server needs at least one accepted ID; a workspace without resolvable IDs gets one nobody has.
    await this.server.start({ ports, technicianIds: ids.length ? ids : ['NO-FLEET-TECHNICIAN-ID'] });
    await this.context.workspaceState.update('holdfast.testServer.lastPorts', ports);
  }

  recordAgentResult(result: AgentResult): void {
    this.agent.last = result;
    this.agent.history.push(result);
    this.agentChanged.fire();
  }

  dispose(): void {
    void this.server.stop();
    for (const d of this.disposables) d.dispose();
  }
}
