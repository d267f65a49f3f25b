import * as vscode from 'vscode';

import type { NodeSpec } from '../core/tree-model.js';

/** A plain NodeSpec as the editor's TreeItem (icons: codicons or files under media/). */
export function toTreeItem(node: NodeSpec, extensionUri: vscode.Uri): vscode.TreeItem {
  const state =
    node.collapsible === 'expanded'
      ? vscode.TreeItemCollapsibleState.Expanded
      : node.collapsible === 'collapsed' || node.children?.length
        ? vscode.TreeItemCollapsibleState.Collapsed
        : vscode.TreeItemCollapsibleState.None;
  const item = new vscode.TreeItem(node.label, state);
  item.id = node.id;
  item.description = node.description;
  if (node.tooltip) {
    const md = new vscode.MarkdownString(node.tooltip);
    md.supportThemeIcons = true;
    item.tooltip = md;
  }
  if (node.icon) {
    item.iconPath = node.icon.id.startsWith('media/')
      ? vscode.Uri.joinPath(extensionUri, node.icon.id)
      : new vscode.ThemeIcon(node.icon.id, node.icon.color ? new vscode.ThemeColor(node.icon.color) : undefined);
  }
  item.contextValue = node.contextValue;
  if (node.resourcePath) item.resourceUri = vscode.Uri.file(node.resourcePath);
  if (node.command) item.command = node.command;
  return item;
}

/** A tree view over NodeSpecs that a model function rebuilds on every change event. */
export class NodeTreeProvider implements vscode.TreeDataProvider<NodeSpec>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<NodeSpec | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly parents = new Map<string, NodeSpec>();
  private readonly subscription: vscode.Disposable;

  constructor(
    private readonly build: () => NodeSpec[],
    private readonly extensionUri: vscode.Uri,
    onChange: vscode.Event<unknown>,
  ) {
    this.subscription = onChange(() => this.changed.fire(undefined));
  }

  refresh(): void {
    this.changed.fire(undefined);
  }

  getTreeItem(node: NodeSpec): vscode.TreeItem {
    const item = toTreeItem(node, this.extensionUri);
    // A resourceUri makes the label the file name; keep ours.
    item.label = node.label;
    return item;
  }

  getChildren(node?: NodeSpec): NodeSpec[] {
    const children = node ? (node.children ?? []) : this.build();
    for (const c of children) if (node) this.parents.set(c.id, node);
    return children;
  }

  getParent(node: NodeSpec): NodeSpec | undefined {
    return this.parents.get(node.id);
  }

  dispose(): void {
    this.changed.dispose();
    this.subscription.dispose();
  }
}
