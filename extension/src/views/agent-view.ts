import * as vscode from 'vscode';

import { agentTree } from '../core/tree-model.js';
import type { Services } from '../services.js';
import { NodeTreeProvider } from './tree-item.js';

export function registerAgentView(s: Services): vscode.Disposable {
  const changed = new vscode.EventEmitter<void>();
  const onServer = () => changed.fire();
  s.server.on('change', onServer);
  const subs = [s.agentChanged.event(() => changed.fire())];
  const provider = new NodeTreeProvider(() => agentTree(s.agent, s.server.state.status === 'running'), s.context.extensionUri, changed.event);
  const view = vscode.window.createTreeView('holdfast.agent', { treeDataProvider: provider });
  subs.push(changed.event(() => (view.description = s.agent.fleet)));
  return vscode.Disposable.from(provider, view, changed, ...subs, { dispose: () => s.server.off('change', onServer) });
}
