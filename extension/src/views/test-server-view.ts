import * as vscode from 'vscode';

import { testServerTree } from '../core/tree-model.js';
import type { Services } from '../services.js';
import { NodeTreeProvider } from './tree-item.js';

export function registerTestServerView(s: Services): vscode.Disposable {
  const changed = new vscode.EventEmitter<void>();
  const onServer = () => changed.fire();
  s.server.on('change', onServer);
  const provider = new NodeTreeProvider(() => testServerTree(s.server.state), s.context.extensionUri, changed.event);
  const view = vscode.window.createTreeView('holdfast.testServer', { treeDataProvider: provider });
  const describe = () => {
    const st = s.server.state;
    view.description = st.status === 'running' ? `running · ${st.devices ?? 0} device${st.devices === 1 ? '' : 's'}` : st.status;
  };
  const sub = changed.event(describe);
  describe();
  return vscode.Disposable.from(provider, view, sub, changed, { dispose: () => s.server.off('change', onServer) });
}
