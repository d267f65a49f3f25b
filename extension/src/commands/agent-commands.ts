import * as vscode from 'vscode';

import { AgentRunError, registeredDevice, TestAgent, type ServerEndpoint } from '../core/agent-run.js';
import { agentReady, fleetLabel } from '../core/fleets.js';
import { formatBytes } from '../core/format.js';
import type { AgentResult } from '../core/tree-model.js';
import type { Services, ValidFleet } from '../services.js';
import { pickValidFleet } from './pick.js';
import { startTestServer } from './server-commands.js';

type Action = AgentResult['action'];

export interface Run {
  entry: ValidFleet;
  agent: TestAgent;
  server: ServerEndpoint;
  source: string;
  progress: vscode.Progress<{ message?: string }>;
}

/** The fleet the test agent runs for, the running test server and a prepared agent config, or undefined. */
async function prepare(s: Services, progress: Run['progress'], signal: AbortSignal): Promise<Omit<Run, 'progress'> | undefined> {
  await s.ensureScanned();
  let entry = s.fleets.find((e) => e.file === s.agent.fleetFile);
  if (!entry || entry.kind !== 'valid') {
    entry = await pickValidFleet(s, undefined, 'Holdfast: run the test agent for which fleet?');
    if (!entry || entry.kind !== 'valid') return undefined;
  }
  if (!agentReady(entry)) {
    void vscode.window.showErrorMessage(`${entry.fleet.fleet}: the test agent needs the Technician ID (${entry.missing.map((m) => m.message).join('; ')}).`);
    return undefined;
  }
  if (s.server.state.status !== 'running') {
    progress.report({ message: 'starting the test server' });
    if (!(await startTestServer(s))) return undefined;
  }
  const server = { addresses: s.server.state.addresses ?? [], pin: s.server.pin ?? '' };
  const agent = new TestAgent({
    agentBin: s.bin('agent'),
    workDir: s.agentDir(entry.fleet.fleet),
    signal,
    onLine: (line) => {
      s.log(`  [agent] ${line}`);
      const t = line.trim();
      if (t && !t.startsWith('{') && !t.startsWith('"') && t.length < 120) progress.report({ message: t });
    },
  });
  const configured = vscode.workspace.getConfiguration('holdfast').get<string>('agent.sourceFolder') || undefined;
  const source = await agent.prepare(entry, server, configured);
  return { entry, agent, server, source };
}

/** What an action reports: a summary, or a summary and the warnings of a run that completed with warnings. */
type Outcome = string | { summary: string; warnings: string[] };

export async function runAgentAction(s: Services, action: Action, title: string, body: (run: Run) => Promise<Outcome>): Promise<void> {
  if (s.agent.busy) {
    void vscode.window.showWarningMessage(`Holdfast: the test agent is busy (${s.agent.busy}).`);
    return;
  }
  s.agent.busy = action;
  s.agentChanged.fire();
  try {
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Holdfast: ${title}`, cancellable: true },
      async (progress, token) => {
        const abort = new AbortController();
        token.onCancellationRequested(() => abort.abort());
        let run: Run | undefined;
        try {
          const prepared = await prepare(s, progress, abort.signal);
          if (!prepared) return;
          run = { ...prepared, progress };
          s.log(`${title} — fleet ${run.entry.fleet.fleet}, test server ${run.server.addresses.join(' / ')}`);
          const outcome = await body(run);
          const { summary, warnings } = typeof outcome === 'string' ? { summary: outcome, warnings: [] } : outcome;
          s.recordAgentResult({ action, ok: true, summary, at: new Date(), ...(warnings.length > 0 && { warnings }) });
          if (warnings.length > 0) {
            s.log(`${title}: ⚠ ${summary} — completed with warnings:`);
            for (const w of warnings) s.log(`  ${w}`);
            void vscode.window
              .showWarningMessage(`Holdfast ${title}: ${summary} — completed with warnings (${warnings.length})`, 'Show Output')
              .then((a) => a && s.output.show(true));
          } else {
            s.log(`${title}: ✓ ${summary}`);
            void vscode.window.showInformationMessage(`Holdfast ${title}: ${summary}`);
          }
        } catch (err) {
          const msg = err instanceof AgentRunError ? err.message : (err as Error).message;
          s.log(`${title}: ✗ ${msg}`);
          s.recordAgentResult({ action, ok: false, summary: msg, at: new Date() });
          void vscode.window.showErrorMessage(`Holdfast ${title} failed: ${msg}`, 'Show Output').then((a) => a && s.output.show(true));
        } finally {
          if (s.server.state.status === 'running') await s.server.refreshStats();
        }
      },
    );
  } finally {
    s.agent.busy = undefined;
    s.agentChanged.fire();
  }
}

export async function register(s: Services, run: Run): Promise<string> {
  run.progress.report({ message: 'registering' });
  const r = await run.agent.ensureRegistered(run.server);
  s.agent.device = r.device ?? 'registered';
  return r.fresh ? `registered as ${r.device ?? 'a new device'}` : `already registered as ${r.device ?? 'a device'}`;
}

export function registerAgentCommands(s: Services): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('holdfast.selectAgentFleet', async (arg?: unknown) => {
      const entry = await pickValidFleet(s, arg, 'Holdfast: which fleet does the test agent use?');
      if (!entry) return;
      if (!agentReady(entry)) {
        void vscode.window.showWarningMessage(
          `${entry.fleet.fleet}: the test agent needs its Technician ID, which is not set (${entry.missing.map((m) => m.message).join('; ')}).`,
        );
        return;
      }
      s.agent.fleetFile = entry.file;
      s.agent.fleet = fleetLabel(entry);
      s.agent.device = await registeredDevice(s.agentDir(entry.fleet.fleet));
      s.agentChanged.fire();
    }),

    vscode.commands.registerCommand('holdfast.register', () => runAgentAction(s, 'register', 'Register', (run) => register(s, run))),

    vscode.commands.registerCommand('holdfast.backupNow', () =>
      runAgentAction(s, 'backup', 'Backup Now', async (run) => {
        await register(s, run);
        run.progress.report({ message: `backing up ${run.source}` });
        const b = await run.agent.backup();
        const parts = [b.files !== undefined ? `${b.files} files` : undefined, b.bytes !== undefined ? formatBytes(b.bytes) : undefined].filter(Boolean);
        const summary = `backed up ${parts.length ? parts.join(', ') : run.source}${b.snapshot ? ` (snapshot ${b.snapshot})` : ''}`;
        // The agent's warnings name each skipped path with its reason (and files changed while read, protected paths kept).
        const skipped = b.skipped.length > 0 ? `, ${b.skipped.length} path${b.skipped.length === 1 ? '' : 's'} skipped` : '';
        return { summary: `${summary}${skipped}`, warnings: b.warnings };
      }),
    ),

    vscode.commands.registerCommand('holdfast.restoreVerify', () =>
      runAgentAction(s, 'restore', 'Restore & verify', async (run) => {
        await register(s, run);
        run.progress.report({ message: 'restoring the latest snapshot' });
        const { target, diff } = await run.agent.restoreAndVerify(run.source);
        s.log(`  restored into ${target}`);
        if (diff.problems.length) {
          for (const p of diff.problems.slice(0, 20)) s.log(`  ${p}`);
          throw new Error(`restore differs from the source in ${diff.problems.length} place(s): ${diff.problems.slice(0, 3).join(', ')}`);
        }
        return `verified ${diff.files} files (${formatBytes(diff.bytes)}) byte-identical to the source`;
      }),
    ),
  ];
}
