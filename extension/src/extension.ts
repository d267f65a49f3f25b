// Holdfast admin sidebar: thin activation; views in src/views, commands in src/commands, logic in src/core.
import type * as vscode from 'vscode';

import { registerAgentCommands } from './commands/agent-commands.js';
import { registerFleetCommands } from './commands/fleet-commands.js';
import { registerGenerateCommands } from './commands/generate-commands.js';
import { registerHandoffCommands } from './commands/handoff-commands.js';
import { registerPushCommands } from './commands/push-commands.js';
import { registerServerCommands } from './commands/server-commands.js';
import { registerVersionsCommands } from './commands/versions-commands.js';
import { Services } from './services.js';
import { registerAgentView } from './views/agent-view.js';
import { registerFleetsView } from './views/fleets-view.js';
import { registerTestServerView } from './views/test-server-view.js';
import { registerDevicesView } from './views/devices-view.js';

let services: Services | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const s = new Services(context);
  services = s;
  context.subscriptions.push(
    s,
    registerFleetsView(s),
    registerTestServerView(s),
    registerAgentView(s),
    registerDevicesView(s),
    ...registerFleetCommands(s),
    ...registerGenerateCommands(s),
    ...registerHandoffCommands(s),
    ...registerPushCommands(s),
    ...registerServerCommands(s),
    ...registerAgentCommands(s),
    ...registerVersionsCommands(s),
  );
  void s.refresh();
}

/** Stops the test server the extension started. */
export async function deactivate(): Promise<void> {
  await services?.server.stop();
  services = undefined;
}
