import * as vscode from 'vscode';
import { basename, join } from 'node:path';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { findNodeAtLocation, parseTree } from 'jsonc-parser';

import { FleetValidationError, loadFleet, type FleetIssue } from '../../../fleet/load.js';
import { checkAnswer, newFleetText, type NewFleetAnswers } from '../core/new-fleet.js';
import type { Services } from '../services.js';
import { fileArgument, pickFleet } from './pick.js';

/** The range of the value a JSON pointer names (its parent for a missing field), for diagnostics and reveal. */
export function rangeOfPointer(doc: vscode.TextDocument, pointer: string): vscode.Range {
  const root = parseTree(doc.getText());
  const parts = pointer
    .split('/')
    .slice(1)
    .filter(Boolean)
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p.replace(/~1/g, '/').replace(/~0/g, '~')));
  for (let n = parts.length; root && n >= 0; n--) {
    const node = findNodeAtLocation(root, parts.slice(0, n));
    if (!node) continue;
    // For a property value, include its key so the squiggle sits on the field name.
    const target = node.parent?.type === 'property' ? node.parent : node;
    const start = doc.positionAt(target.offset);
    const end = n === parts.length ? doc.positionAt(target.offset + target.length) : start.translate(0, 1);
    return new vscode.Range(start, end.line === start.line ? end : doc.lineAt(start.line).range.end);
  }
  return new vscode.Range(0, 0, 0, 1);
}

export function registerFleetCommands(s: Services): vscode.Disposable[] {
  const diagnostics = vscode.languages.createDiagnosticCollection('holdfast');

  const publish = async (file: string, issues: FleetIssue[]) => {
    const doc = await vscode.workspace.openTextDocument(file);
    diagnostics.set(
      doc.uri,
      issues.map((i) => {
        const d = new vscode.Diagnostic(rangeOfPointer(doc, i.path), `${i.message}`, vscode.DiagnosticSeverity.Error);
        d.source = 'holdfast';
        return d;
      }),
    );
  };

  return [
    diagnostics,
    vscode.commands.registerCommand('holdfast.refresh', () => s.refresh()),
    vscode.commands.registerCommand('holdfast.showOutput', () => s.output.show(true)),

    vscode.commands.registerCommand('holdfast.validateFleet', async (arg?: unknown) => {
      const entry = await pickFleet(s, arg, { title: 'Holdfast: validate which fleet?' });
      if (!entry) return;
      const name = basename(entry.file);
      try {
        const doc = vscode.workspace.textDocuments.find((d) => d.fileName === entry.file);
        if (doc?.isDirty) await doc.save();
        await loadFleet(entry.file);
        diagnostics.delete(vscode.Uri.file(entry.file));
        s.log(`Validate ${name}: valid`);
        const missing = entry.kind === 'valid' ? entry.missing : [];
        if (missing.length) {
          void vscode.window.showWarningMessage(`${name} is valid, but generate needs: ${missing.map((m) => m.message).join('; ')}`);
        } else {
          void vscode.window.showInformationMessage(`${name} is a valid fleet.`);
        }
      } catch (err) {
        if (!(err instanceof FleetValidationError)) throw err;
        await publish(entry.file, err.issues);
        s.log(`Validate ${name}: ${err.issues.length} problem(s)`);
        for (const i of err.issues) s.log(`  ${i.message}`);
        const action = await vscode.window.showErrorMessage(
          `${name}: ${err.issues.length} problem${err.issues.length === 1 ? '' : 's'} — ${err.issues[0].message}`,
          'Show Problems',
        );
        if (action) await vscode.commands.executeCommand('workbench.actions.view.problems');
      } finally {
        await s.refresh();
      }
    }),

    vscode.commands.registerCommand('holdfast.openFleet', async (arg?: unknown) => {
      const file = fileArgument(arg);
      if (file) await vscode.window.showTextDocument(vscode.Uri.file(file));
    }),

    vscode.commands.registerCommand('holdfast.openFleetAt', async (file: string, pointer: string) => {
      const doc = await vscode.workspace.openTextDocument(file);
      const range = rangeOfPointer(doc, pointer);
      await vscode.window.showTextDocument(doc, { selection: range });
    }),

    vscode.commands.registerCommand('holdfast.newFleet', async () => {
      const folder = vscode.workspace.workspaceFolders?.[0];
      if (!folder) {
        void vscode.window.showErrorMessage('Open a folder first: new fleet files are created in the workspace.');
        return;
      }
      const steps: Array<{ key: keyof NewFleetAnswers; prompt: string; placeHolder: string; value?: string; password?: boolean }> = [
        { key: 'fleet', prompt: 'Fleet id (used in file names: holdfast-<fleet>.msi)', placeHolder: 'contoso' },
        { key: 'customer', prompt: 'Customer or organisation name', placeHolder: 'Contoso Ltd' },
        {
          key: 'technicianId',
          prompt: 'Technician ID, or $VARIABLE to read it from the environment at generate time (keeps the secret out of the file)',
          placeHolder: '$CONTOSO_TECHNICIAN_ID',
          value: '',
        },
        { key: 'primary', prompt: 'Primary registration server (IP:port, no host names)', placeHolder: '12.159.133.10:16384' },
        { key: 'alternate', prompt: 'Alternate registration server (IP:port)', placeHolder: '66.151.228.10:16384' },
        { key: 'subnets', prompt: 'Server subnets for the firewall rules (CIDR, comma-separated)', placeHolder: '12.159.133.0/26, 66.151.228.0/24' },
      ];
      const answers: Partial<NewFleetAnswers> = {};
      for (const [i, step] of steps.entries()) {
        const value = await vscode.window.showInputBox({
          title: `Holdfast: New Fleet (${i + 1}/${steps.length})`,
          prompt: step.prompt,
          placeHolder: step.placeHolder,
          value: step.value,
          ignoreFocusOut: true,
          validateInput: (v) => checkAnswer(step.key, v),
        });
        if (value === undefined) return;
        answers[step.key] = value.trim();
      }
      const a = answers as NewFleetAnswers;
      const file = join(folder.uri.fsPath, `${a.fleet}.fleet.json`);
      if (existsSync(file)) {
        void vscode.window.showErrorMessage(`${basename(file)} exists already; choose another fleet id.`);
        return;
      }
      let text: string;
      try {
        text = newFleetText(a);
      } catch (err) {
        void vscode.window.showErrorMessage(err instanceof FleetValidationError ? err.issues.map((x) => x.message).join('; ') : (err as Error).message);
        return;
      }
      await writeFile(file, text, { flag: 'wx' });
      s.log(`New fleet ${basename(file)} (edit the TLS pin, proxy, backup policy and branding in the file)`);
      await vscode.window.showTextDocument(vscode.Uri.file(file));
      await s.refresh();
    }),
  ];
}
