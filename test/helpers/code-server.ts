// A real VS Code workbench for end-to-end tests: code-server (installed into .tools/ by
// scripts/setup.d/vscode.sh) on 127.0.0.1 with an ephemeral port, hermetic HOME/XDG/user-data/extension
// dirs, in its own process group; driven by playwright-core in Debian's Chromium.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';

import { repoRoot } from './paths.js';

export const codeServerBin = join(repoRoot, '.tools', 'code-server', 'node_modules', '.bin', 'code-server');
export const chromiumBin = '/usr/bin/chromium';

/** Fails with the install line when a tool is missing (tests never skip). */
export function requireTools(): void {
  if (!existsSync(codeServerBin))
    throw new Error(`code-server is not installed: run \`bash scripts/setup.d/vscode.sh test\` (installs code-server 4.100.3 into .tools/)`);
  if (!existsSync(chromiumBin)) throw new Error('chromium is missing: sudo apt-get install -y --no-install-recommends chromium');
}

export interface CodeServer {
  url: string;
  pid: number;
  root: string;
  log: () => string;
  stop(): Promise<void>;
}

export interface CodeServerOptions {
  folder: string;
  vsix?: string;
  settings?: Record<string, unknown>;
  /** Extra environment for code-server and so for the extension host (e.g. fleet secrets). */
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
}

function hermeticEnv(root: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const home = join(root, 'home');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local', 'share'),
    XDG_CACHE_HOME: join(home, '.cache'),
    ...extra,
  };
  // code-server exports these to the terminal of the workbench it serves; none must leak in from a parent.
  delete env.VSCODE_IPC_HOOK_CLI;
  delete env.ELECTRON_RUN_AS_NODE;
  return env;
}

const baseArgs = (root: string) => [
  '--auth',
  'none',
  '--disable-telemetry',
  '--disable-update-check',
  '--disable-workspace-trust',
  '--extensions-dir',
  join(root, 'extensions'),
  '--user-data-dir',
  join(root, 'user-data'),
  '--config',
  join(root, 'config.yaml'),
];

export async function startCodeServer(o: CodeServerOptions): Promise<CodeServer> {
  requireTools();
  const root = await mkdtemp(join(tmpdir(), 'hf-code-server-'));
  await mkdir(join(root, 'user-data', 'User'), { recursive: true });
  await mkdir(join(root, 'home'), { recursive: true });
  await writeFile(join(root, 'config.yaml'), 'bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n');
  const settings = {
    'workbench.startupEditor': 'none',
    'remote.autoForwardPorts': false,
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'telemetry.telemetryLevel': 'off',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'security.workspace.trust.enabled': false,
    'window.commandCenter': false,
    ...o.settings,
  };
  await writeFile(join(root, 'user-data', 'User', 'settings.json'), JSON.stringify(settings, null, 2));
  const env = hermeticEnv(root, o.env);

  if (o.vsix) {
    await promisify(execFile)(codeServerBin, [...baseArgs(root), '--install-extension', o.vsix], { env, timeout: 60_000 });
  }

  let output = '';
  const child: ChildProcess = spawn(codeServerBin, [...baseArgs(root), '--bind-addr', '127.0.0.1:0', o.folder], {
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`code-server did not report its address within ${(o.readyTimeoutMs ?? 30_000) / 1000} s:\n${output}`)),
      o.readyTimeoutMs ?? 30_000,
    );
    const onData = (buf: Buffer) => {
      output += buf.toString();
      const m = /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`code-server exited (${code}) before listening:\n${output}`));
    });
  });

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        /* gone */
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, 5000);
      await exited;
      clearTimeout(timer);
    }
    // The extension host and its children share the group: make sure none outlives the test.
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* all gone */
    }
    await rm(root, { recursive: true, force: true, maxRetries: 3 });
  };
  return { url, pid: child.pid!, root, log: () => output, stop };
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/** Debian's Chromium with a fresh profile (playwright makes a temp user-data dir per launch). */
export async function launchChromium(): Promise<Browser> {
  requireTools();
  return chromium.launch({ executablePath: chromiumBin, args: CHROMIUM_ARGS, headless: true });
}

/** Open the workbench of `server` and wait until it is ready. */
export async function openWorkbench(browser: Browser, server: CodeServer): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, permissions: ['clipboard-read', 'clipboard-write'] });
  const page = await context.newPage();
  await page.goto(server.url, { waitUntil: 'domcontentloaded' });
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
  return page;
}

/** Pick the row with `text` in the open quick pick (fleet, target or sheet pickers). */
export async function quickPick(page: Page, text: string): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  await page.locator('.quick-input-widget .monaco-list-row', { hasText: text }).first().waitFor({ state: 'visible' });
  await input.fill(text);
  await page.locator('.quick-input-widget .monaco-list-row.focused', { hasText: text }).first().waitFor({ state: 'visible' });
  await input.press('Enter');
}

/** Run a command from the palette (F1) by its title. */
export async function runCommand(page: Page, title: string): Promise<void> {
  await quickInput(page, 'F1', `>${title}`, title);
}

/** Open a workspace file through Quick Open (Ctrl+P). */
export async function quickOpen(page: Page, fileName: string): Promise<void> {
  await quickInput(page, 'Control+P', fileName, fileName);
}

/**
 * Open the quick input with `key`, type `text`, wait for a row showing `row` and pick it. The widget can close
 * again right after it opens when focus moves (a toast, a view refresh, a Markdown preview taking focus), and a
 * webview with the focus swallows the key, so on failure the workbench is focused and the widget reopened, at
 * most three times.
 */
async function quickInput(page: Page, key: string, text: string, row: string): Promise<void> {
  const input = page.locator('.quick-input-widget input');
  for (let attempt = 1; ; attempt++) {
    try {
      await page.keyboard.press(key);
      await input.waitFor({ state: 'visible', timeout: 5000 });
      await input.fill(text, { timeout: 5000 });
      await page.locator('.quick-input-widget .monaco-list-row', { hasText: row }).first().waitFor({ state: 'visible', timeout: 10_000 });
      await input.press('Enter', { timeout: 5000 });
      return;
    } catch (err) {
      if (attempt >= 3) throw err;
      await page.keyboard.press('Escape');
      await page.locator('.part.titlebar').click({ position: { x: 5, y: 5 } });
    }
  }
}

/** Wait until a webview (e.g. the Markdown preview) shows `text`: it renders after its tab appears. */
export async function webviewShows(page: Page, text: string | RegExp, timeout = 30_000): Promise<void> {
  await page
    .frameLocator('iframe.webview.ready')
    .first()
    .frameLocator('#active-frame')
    .locator('body', { hasText: text })
    .waitFor({ state: 'visible', timeout });
}

/** Output channel text as shown in the editor (non-breaking spaces turned back into spaces). */
export async function outputText(page: Page): Promise<string> {
  const text = await page.locator('.part.panel .view-lines').first().innerText();
  return text.replace(/\u00a0/g, ' ');
}
