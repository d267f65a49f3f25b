import * as vscode from 'vscode';
import { basename, extname } from 'node:path';

import { listTargets, progressMessage, runGenerate, type GenerateOptions, type TargetInfo } from '../core/generate.js';
import { readGenerateResult, type GenerateResult } from '../core/manifest.js';
import type { NodeSpec } from '../core/tree-model.js';
import type { Services, ValidFleet } from '../services.js';
import { pickValidFleet } from './pick.js';

const BINARY = new Set(['.msi', '.pkg', '.intunewin', '.zip', '.exe', '.dmg', '.cab', '.gz', '.tgz']);

let targetCache: TargetInfo[] | undefined;

async function targetList(_s: Services): Promise<TargetInfo[]> {
  targetCache ??= await listTargets();
  return targetCache;
}

/** Run the deployer's generate for one fleet with progress in a notification and lines in the output channel. */
export async function generateFleet(
  s: Services,
  entry: ValidFleet,
  targets: string[],
  atInstall: GenerateOptions['atInstall'] = [],
): Promise<GenerateResult | undefined> {
  const outDir = s.outDirFor(entry.file);
  const label = `${entry.fleet.fleet} → ${targets.length ? targets.join(', ') : 'all targets'}`;
  s.log(`Generate ${label} into ${outDir}`);
  try {
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Holdfast: generating ${label}`, cancellable: true },
      async (progress, token) => {
        const abort = new AbortController();
        token.onCancellationRequested(() => abort.abort());
        await runGenerate({
          fleetFiles: [entry.file],
          outDir,
          targets,
          signal: abort.signal,
          atInstall,
          onLine: (line) => {
            s.log(`  ${line}`);
            const msg = progressMessage(line);
            if (msg) progress.report({ message: msg });
          },
        });
      },
    );
  } catch (err) {
    const text = (err as Error).message;
    s.log(`Generate failed: ${text}`);
    const unset = (err as { unsetSecrets?: Array<{ key: 'technicianId' | 'proxyPassword'; variable: string; property: string }> }).unsetSecrets ?? [];
    if (unset.length) {
      // The same choice as the CLI's --technician-id-at-install: never a silent build whose installs all fail.
      const names = unset.map((u) => u.variable).join(', ');
      const choice = await vscode.window.showWarningMessage(
        `${entry.fleet.fleet}: ${names} not set. Installers built without it fail every install unless each install line gives ` +
          `${unset.map((u) => `${u.property}=…`).join(' ')}.`,
        { modal: true },
        'Build for values given at install',
      );
      if (choice) return generateFleet(s, entry, targets, [...(atInstall ?? []), ...unset.map((u) => u.key)]);
      return undefined;
    }
    void vscode.window
      .showErrorMessage(`Generate ${entry.fleet.fleet} failed: ${text.split('\n').slice(-1)[0]}`, 'Show Output')
      .then((a) => a && s.output.show(true));
    return undefined;
  } finally {
    await s.refresh();
  }
  const result = await readGenerateResult(outDir, entry.fleet.fleet);
  s.log(`Generate ${entry.fleet.fleet}: ${result?.artifacts.length ?? 0} artifact(s) listed in ${result?.dir ?? outDir}/manifest.json`);
  return result;
}

/** The fleet's last generate, making `target` first when none of its artifacts exist yet. */
export async function ensureTarget(s: Services, entry: ValidFleet, target: string): Promise<GenerateResult | undefined> {
  const have = await readGenerateResult(s.outDirFor(entry.file), entry.fleet.fleet);
  if (have?.artifacts.some((a) => a.target === target)) return have;
  return generateFleet(s, entry, [target]);
}

export async function openArtifactFile(path: string): Promise<void> {
  const uri = vscode.Uri.file(path);
  if (BINARY.has(extname(path).toLowerCase())) {
    await vscode.commands.executeCommand('revealInExplorer', uri);
    const st = await vscode.workspace.fs.stat(uri);
    void vscode.window.showInformationMessage(
      `${basename(path)}: ${st.size.toLocaleString()} bytes — a binary installer; copy its silent install command with "Holdfast: Copy Silent Install ` +
        `Command".`,
    );
    return;
  }
  if (extname(path).toLowerCase() === '.md') {
    await vscode.commands.executeCommand('markdown.showPreview', uri);
    return;
  }
  await vscode.window.showTextDocument(uri, { preview: true });
}

export function registerGenerateCommands(s: Services): vscode.Disposable[] {
  return [
    // `preselected` (target names) is for callers such as tests and other commands; a tree menu passes the
    // selected nodes as its second argument instead, which is ignored here.
    vscode.commands.registerCommand('holdfast.generate', async (arg?: unknown, preselected?: unknown) => {
      const entry = await pickValidFleet(s, arg, 'Holdfast: generate installers for which fleet?');
      if (!entry) return;
      let targets = Array.isArray(preselected) && preselected.every((t) => typeof t === 'string') ? (preselected as string[]) : undefined;
      if (!targets) {
        const known = await targetList(s);
        const defaults = vscode.workspace.getConfiguration('holdfast').get<string[]>('generate.defaultTargets') ?? [];
        const picks = await vscode.window.showQuickPick(
          known.map((t) => ({
            label: t.name,
            description: t.support.ok ? t.description : `needs ${t.support.missing}`,
            detail: t.support.ok
              ? t.dependsOn.length
                ? `uses the ${t.dependsOn.join(', ')} output`
                : undefined
              : `${t.description}. Install: ${t.support.install}`,
            picked: defaults.length ? defaults.includes(t.name) : t.support.ok,
          })),
          {
            title: `Holdfast: generate for ${entry.fleet.fleet}`,
            placeHolder: 'Targets to build (Space toggles, Enter builds)',
            canPickMany: true,
            ignoreFocusOut: true,
          },
        );
        if (!picks || picks.length === 0) return;
        targets = picks.length === known.length ? [] : picks.map((p) => p.label);
      }
      const result = await generateFleet(s, entry, targets);
      if (result) {
        const act = await vscode.window.showInformationMessage(
          `Generated ${result.artifacts.length} artifact${result.artifacts.length === 1 ? '' : 's'} for ${entry.fleet.fleet}.`,
          'Reveal in Explorer',
        );
        if (act) await vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(result.dir));
      }
    }),

    vscode.commands.registerCommand('holdfast.openArtifact', (path: string) => openArtifactFile(path)),

    vscode.commands.registerCommand('holdfast.revealArtifact', async (node?: NodeSpec) => {
      if (node?.resourcePath) await vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(node.resourcePath));
    }),
    vscode.commands.registerCommand('holdfast.revealArtifactInOS', async (node?: NodeSpec) => {
      if (node?.resourcePath) await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(node.resourcePath));
    }),
  ];
}
