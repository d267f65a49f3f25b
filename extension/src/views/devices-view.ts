import * as vscode from 'vscode';

import { devicesTree, loadDeviceReport } from '../core/devices.js';
import type { NodeSpec } from '../core/tree-model.js';
import type { Services } from '../services.js';
import { NodeTreeProvider } from './tree-item.js';

/** Devices of the test server with their health (last success, storage, failures), stale ones marked. */
export function registerDevicesView(s: Services): vscode.Disposable {
  const changed = new vscode.EventEmitter<void>();
  let nodes: NodeSpec[] = [];
  let loading: Promise<void> | undefined;
  let again = false;
  const load = (): void => {
    if (loading) {
      again = true;
      return;
    }
    loading = loadDeviceReport(s.bin('server'), s.server.dataDir)
      .then(
        (rows) => {
          nodes = devicesTree(rows);
        },
        (err: Error) => {
          s.log(`[devices] ${err.message}`);
        },
      )
      .finally(() => {
        loading = undefined;
        changed.fire();
        if (again) {
          again = false;
          load();
        }
      });
  };
  const onServer = () => load();
  s.server.on('change', onServer);
  const provider = new NodeTreeProvider(() => nodes, s.context.extensionUri, changed.event);
  const view = vscode.window.createTreeView('holdfast.devices', { treeDataProvider: provider });
  const describe = () => {
    const stale = nodes.filter((n) => n.contextValue === 'holdfast.device.stale').length;
    view.description = nodes.length ? `${nodes.length} device${nodes.length === 1 ? '' : 's'}${stale ? ` · ${stale} stale` : ''}` : undefined;
  };
  const subs = [changed.event(describe), s.agentChanged.event(load)];
  load();
  return vscode.Disposable.from(provider, view, changed, ...subs, { dispose: () => s.server.off('change', onServer) });
}
