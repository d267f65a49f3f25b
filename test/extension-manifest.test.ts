// The extension manifest: contributions, commands and activation. (The bundle and the .vsix are checked in
// extension-e2e.test.ts, which builds them once before installing them into code-server.)
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { repoRoot } from './helpers/paths.js';

const ext = join(repoRoot, 'extension');
type Manifest = {
  name: string;
  version: string;
  engines: { vscode: string };
  main: string;
  activationEvents: string[];
  contributes: {
    commands: Array<{ command: string; title: string; category: string }>;
    menus: Record<string, Array<{ command: string }>>;
    views: Record<string, Array<{ id: string }>>;
    viewsContainers: { activitybar: Array<{ id: string; title: string; icon: string }> };
    jsonValidation: Array<{ fileMatch: string; url: string }>;
    configuration: { properties: Record<string, unknown> };
  };
};
let manifest: Manifest;

async function sources(dir: string): Promise<string> {
  let text = '';
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) text += await sources(join(dir, e.name));
    else if (e.name.endsWith('.ts')) text += await readFile(join(dir, e.name), 'utf8');
  }
  return text;
}

beforeAll(async () => {
  manifest = JSON.parse(await readFile(join(ext, 'package.json'), 'utf8'));
});

describe('extension manifest', () => {
  it('targets VS Code 1.100 at most and activates only for its views, commands or a fleet file', async () => {
    expect(manifest.engines.vscode).toBe('^1.100.0');
    const types = JSON.parse(await readFile(join(repoRoot, 'node_modules', '@types', 'vscode', 'package.json'), 'utf8')).version as string;
    const [major, minor] = types.split('.').map(Number);
    expect(major === 1 && minor <= 100).toBe(true);
    expect(manifest.activationEvents).toEqual([
      'workspaceContains:**/*.fleet.json',
      'onView:holdfast.fleets',
      'onView:holdfast.testServer',
      'onView:holdfast.agent',
      'onView:holdfast.devices',
    ]);
    expect(manifest.contributes.viewsContainers.activitybar).toEqual([{ id: 'holdfast', title: 'Holdfast', icon: 'media/holdfast.svg' }]);
    expect(manifest.contributes.views.holdfast.map((v) => v.id)).toEqual(['holdfast.fleets', 'holdfast.testServer', 'holdfast.agent', 'holdfast.devices']);
    expect(manifest.contributes.jsonValidation).toEqual([{ fileMatch: '*.fleet.json', url: './dist/schema/fleet.schema.json' }]);
  });

  it('declares every command it registers, all under the "Holdfast" category, and menus name only those', async () => {
    const declared = manifest.contributes.commands.map((c) => c.command).sort();
    expect(manifest.contributes.commands.every((c) => c.category === 'Holdfast')).toBe(true);
    const registered = [...(await sources(join(ext, 'src'))).matchAll(/registerCommand\('([^']+)'/g)].map((m) => m[1]).sort();
    expect(registered).toEqual(declared);
    for (const items of Object.values(manifest.contributes.menus)) for (const i of items) expect(declared).toContain(i.command);
    const titles = manifest.contributes.commands.map((c) => c.title);
    for (const t of [
      'New Fleet',
      'Validate Fleet',
      'Generate Installers',
      'Show Firewall Rules',
      'Copy Silent Install Command',
      'Start Test Server',
      'Stop Test Server',
      'Backup Now',
      'Open Deployment Guide',
    ]) {
      expect(titles).toContain(t);
    }
  });

  it('keeps the tree and command logic free of the editor API', async () => {
    expect(await sources(join(ext, 'src', 'core'))).not.toMatch(/from 'vscode'/);
  });
});
