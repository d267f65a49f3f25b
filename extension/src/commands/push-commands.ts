import * as vscode from 'vscode';

import { applyPush, planConfirmation, planPush, pushOutcomeLines, pushSettingsToAsk } from '../core/push.js';
import type { Services } from '../services.js';
import { pickValidFleet } from './pick.js';

type Service = 'intune' | 'jamf';

/** Values typed in for this session only (never written to settings; secrets never logged). */
const typed: Record<string, string> = {};

async function askSettings(service: Service): Promise<NodeJS.ProcessEnv | undefined> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...typed };
  for (const s of await pushSettingsToAsk(service, env)) {
    const value = await vscode.window.showInputBox({
      title: `Holdfast: ${s.what}`,
      prompt: `${s.what} (set ${s.variable} in the editor's environment to skip this question)`,
      password: s.secret,
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() ? undefined : `${s.what} is required`),
    });
    if (value === undefined) return undefined;
    env[s.variable] = typed[s.variable] = value.trim();
  }
  return env;
}

export function registerPushCommands(s: Services): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('holdfast.pushPlan', async (arg?: unknown) => {
      const entry = await pickValidFleet(s, arg, 'Holdfast: push which fleet?');
      if (!entry) return;
      const picked = await vscode.window.showQuickPick(
        [
          { label: 'Microsoft Intune', description: 'Win32 app, macOS pkg app and profiles (Graph)', service: 'intune' as const },
          { label: 'Jamf Pro', description: 'package, profiles, install and uninstall policies, extension attributes', service: 'jamf' as const },
        ],
        { title: `Holdfast: push ${entry.fleet.fleet} to`, placeHolder: 'Where to push (a plan is shown before anything changes)' },
      );
      if (!picked) return;
      const env = await askSettings(picked.service);
      if (!env) return;
      const onLine = (line: string) => s.log(`[push] ${line}`);
      try {
        const plan = await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: `Holdfast: reading what ${picked.label} holds for ${entry.fleet.fleet}…` },
          () => planPush({ service: picked.service, fleetFile: entry.file, outDir: s.outDirFor(entry.file), env, onLine }),
        );
        const confirm = await planConfirmation(plan);
        s.log(`[push] ${confirm.message}\n${confirm.detail}`);
        if (confirm.upToDate) return void vscode.window.showInformationMessage(confirm.message);
        const go = await vscode.window.showWarningMessage(confirm.message, { modal: true, detail: confirm.detail }, 'Apply');
        if (go !== 'Apply') return;
        const result = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Holdfast: updating ${picked.label}…` }, () =>
          applyPush(plan),
        );
        const lines = await pushOutcomeLines(result);
        for (const l of lines) s.log(`[push] ${l}`);
        void vscode.window.showInformationMessage(lines[lines.length - 1]);
      } catch (err) {
        s.log(`[push] ${(err as Error).message}`);
        void vscode.window.showErrorMessage(`Holdfast push: ${(err as Error).message}`, 'Show Output').then((a) => a && s.output.show());
      }
    }),
  ];
}
