import * as vscode from 'vscode';
import { basename, extname } from 'node:path';

import { installChoices } from '../core/install-commands.js';
import { readGenerateResult } from '../core/manifest.js';
import type { Services } from '../services.js';
import { ensureTarget, openArtifactFile } from './generate-commands.js';
import { pickValidFleet } from './pick.js';

export function registerHandoffCommands(s: Services): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('holdfast.showFirewallRules', async (arg?: unknown) => {
      const entry = await pickValidFleet(s, arg, 'Holdfast: firewall rules of which fleet?');
      if (!entry) return;
      const gen = await ensureTarget(s, entry, 'firewall');
      const sheets = gen?.artifacts.filter((a) => a.target === 'firewall') ?? [];
      if (!sheets.length) return;
      const pick =
        sheets.length === 1
          ? sheets[0]
          : (
              await vscode.window.showQuickPick(
                sheets.map((a) => ({ label: basename(a.path), description: a.description, a })),
                { title: `Holdfast: firewall rules for ${entry.fleet.fleet}`, placeHolder: 'Which rule sheet?' },
              )
            )?.a;
      if (pick) await openArtifactFile(pick.path);
    }),

    vscode.commands.registerCommand('holdfast.copyInstallCommand', async (arg?: unknown) => {
      const entry = await pickValidFleet(s, arg, 'Holdfast: install command of which fleet?');
      if (!entry) return;
      let gen = await readGenerateResult(s.outDirFor(entry.file), entry.fleet.fleet);
      if (!installChoices(gen).length) {
        const go = await vscode.window.showWarningMessage(
          `No installers generated for ${entry.fleet.fleet} yet: the install commands come from its manifest.`,
          'Generate Installers',
        );
        if (!go) return;
        await vscode.commands.executeCommand('holdfast.generate', entry.file);
        gen = await readGenerateResult(s.outDirFor(entry.file), entry.fleet.fleet);
      }
      const choices = installChoices(gen);
      if (!choices.length) return;
      const pick = await vscode.window.showQuickPick(
        choices.map((c) => ({ label: c.label, detail: c.command, c })),
        { title: `Holdfast: copy a silent install command for ${entry.fleet.fleet}`, matchOnDetail: true },
      );
      if (!pick) return;
      await vscode.env.clipboard.writeText(pick.c.command);
      s.log(`Copied the ${pick.c.channel} command for ${entry.fleet.fleet}: ${pick.c.command}`);
      void vscode.window.showInformationMessage(`Copied the ${pick.c.channel} command for ${entry.fleet.fleet}.`);
    }),

    vscode.commands.registerCommand('holdfast.openDeploymentGuide', async (arg?: unknown) => {
      const entry = await pickValidFleet(s, arg, 'Holdfast: deployment guide of which fleet?');
      if (!entry) return;
      const gen = await ensureTarget(s, entry, 'guide');
      const guides = gen?.artifacts.filter((a) => a.target === 'guide') ?? [];
      const guide = guides.find((a) => extname(a.path) === '.md') ?? guides[0];
      if (guide) await openArtifactFile(guide.path);
    }),
  ];
}
