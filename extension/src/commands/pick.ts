import * as vscode from 'vscode';
import { basename } from 'node:path';

import { fleetLabel, type FleetEntry } from '../core/fleets.js';
import type { NodeSpec } from '../core/tree-model.js';
import type { Services, ValidFleet } from '../services.js';

/** The file a command was invoked on: a tree node, an explorer Uri, a path argument, or the active editor. */
export function fileArgument(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  if (arg instanceof vscode.Uri) return arg.fsPath;
  const node = arg as NodeSpec | undefined;
  if (node && typeof node.id === 'string' && node.id.startsWith('fleet:')) return node.id.slice('fleet:'.length).split('/artifact')[0];
  if (node?.resourcePath) return node.resourcePath;
  return undefined;
}

function activeFleetFile(): string | undefined {
  const doc = vscode.window.activeTextEditor?.document;
  return doc && doc.uri.scheme === 'file' && doc.fileName.endsWith('.fleet.json') ? doc.fileName : undefined;
}

/** Resolve the fleet a command acts on; asks with a quick pick when that is not clear. */
export async function pickFleet(s: Services, arg: unknown, opts: { validOnly?: boolean; title?: string } = {}): Promise<FleetEntry | undefined> {
  const entries = await s.ensureScanned();
  const file = fileArgument(arg) ?? activeFleetFile();
  if (file?.endsWith('.fleet.json')) {
    await s.refresh();
    const found = s.fleets.find((e) => e.file === file);
    if (found) return opts.validOnly && found.kind === 'invalid' ? invalid(found) : found;
  }
  const candidates = opts.validOnly ? entries.filter((e) => e.kind === 'valid') : entries;
  if (candidates.length === 0) {
    void vscode.window
      .showWarningMessage(opts.validOnly ? 'No valid fleet file in this workspace.' : 'No fleet file (*.fleet.json) in this workspace.', 'New Fleet')
      .then((a) => a && vscode.commands.executeCommand('holdfast.newFleet'));
    return undefined;
  }
  if (candidates.length === 1) return candidates[0];
  const picked = await vscode.window.showQuickPick(
    candidates.map((e) => ({
      label: fleetLabel(e),
      description: e.kind === 'valid' ? e.fleet.customer : 'invalid',
      detail: basename(e.file),
      entry: e,
    })),
    { title: opts.title ?? 'Holdfast: choose a fleet', placeHolder: 'Fleet' },
  );
  return picked?.entry;
}

function invalid(e: FleetEntry): undefined {
  void vscode.window.showErrorMessage(`${basename(e.file)} is not a valid fleet; run "Holdfast: Validate Fleet" to see why.`);
  return undefined;
}

export async function pickValidFleet(s: Services, arg: unknown, title?: string): Promise<ValidFleet | undefined> {
  const e = await pickFleet(s, arg, { validOnly: true, title });
  return e?.kind === 'valid' ? e : undefined;
}
