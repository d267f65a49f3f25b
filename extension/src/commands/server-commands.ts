import * as vscode from 'vscode';

import type { Services } from '../services.js';

/** Start the test server with a progress notification; false when it failed (the error is shown). */
export async function startTestServer(s: Services): Promise<boolean> {
  if (s.server.state.status === 'running') return true;
  try {
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Holdfast: starting the test server…' }, () => s.startServer());
    const st = s.server.state;
    s.log(`Test server running (pid ${st.pid}) on ${st.addresses?.join(', ')}`);
    void vscode.window.showInformationMessage(`Holdfast test server running on ${st.addresses?.join(' and ')}.`);
    return true;
  } catch (err) {
    s.log(`Test server failed to start: ${(err as Error).message}`);
    void vscode.window.showErrorMessage(`Holdfast test server failed to start: ${(err as Error).message}`, 'Show Output').then((a) => a && s.output.show(true));
    return false;
  }
}

export function registerServerCommands(s: Services): vscode.Disposable[] {
  const poll = setInterval(() => {
    if (s.server.state.status === 'running') void s.server.refreshStats();
  }, 5000);
  return [
    { dispose: () => clearInterval(poll) },
    vscode.commands.registerCommand('holdfast.startTestServer', () => startTestServer(s)),
    vscode.commands.registerCommand('holdfast.stopTestServer', async () => {
      if (s.server.state.status !== 'running' && s.server.state.status !== 'starting') return;
      await s.server.stop();
      s.log('Test server stopped');
      void vscode.window.showInformationMessage('Holdfast test server stopped.');
    }),
  ];
}
