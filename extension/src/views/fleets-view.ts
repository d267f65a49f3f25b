import * as vscode from 'vscode';

import { fleetTree } from '../core/tree-model.js';
import type { Services } from '../services.js';
import { NodeTreeProvider } from './tree-item.js';

export function registerFleetsView(s: Services): vscode.Disposable {
  const provider = new NodeTreeProvider(() => fleetTree(s.fleets), s.context.extensionUri, s.fleetsChanged.event);
  const view = vscode.window.createTreeView('holdfast.fleets', { treeDataProvider: provider, showCollapseAll: true });
  const badge = () => {
    const bad = s.fleets.filter((f) => f.kind === 'invalid').length;
    view.badge = bad ? { value: bad, tooltip: `${bad} invalid fleet file${bad === 1 ? '' : 's'}` } : undefined;
    view.message = undefined;
  };
  const sub = s.fleetsChanged.event(badge);
  return vscode.Disposable.from(provider, view, sub);
}
