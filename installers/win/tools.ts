// Running the Debian tools the Windows installer is built with, and finding files shipped in the repo.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cancelSignal } from '../../common/cancel.js';

const execFileP = promisify(execFile);

export class ToolError extends Error {
  constructor(
    readonly tool: string,
    message: string,
  ) {
    super(message);
    this.name = 'ToolError';
  }
}

/** Run a tool; on failure the error names the tool and carries its stderr (never the caller's secrets: callers pass none). */
export async function runTool(tool: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  try {
    const { stdout } = await execFileP(tool, args, { cwd: opts.cwd, env: opts.env, maxBuffer: 64 << 20, encoding: 'utf8', signal: cancelSignal() });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; stdout?: string };
    if (e.code === 'ENOENT') throw new ToolError(tool, `${tool} is not installed`);
    if (e.code === 'ABORT_ERR') throw new ToolError(tool, `${tool} stopped: cancelled`);
    const detail = (e.stderr || e.stdout || e.message).trim().split('\n').slice(-8).join('\n');
    throw new ToolError(tool, `${tool} failed: ${detail}`);
  }
}

/** Debian package providing each tool the MSI build uses. */
export const DEBIAN_PACKAGES: Record<string, string> = {
  wixl: 'wixl',
  msibuild: 'msitools',
  msiinfo: 'msitools',
  gcab: 'gcab',
  'x86_64-w64-mingw32-gcc': 'gcc-mingw-w64-x86-64',
  osslsigncode: 'osslsigncode',
};

export async function hasTool(tool: string): Promise<boolean> {
  const path = (process.env.PATH ?? '').split(':').filter(Boolean);
  return path.some((dir) => existsSync(join(dir, tool)));
}

/** The install line for missing tools, e.g. "apt-get install -y wixl msitools". */
export function installLine(tools: string[]): string {
  const pkgs = [...new Set(tools.map((t) => DEBIAN_PACKAGES[t] ?? t))];
  return `sudo apt-get install -y ${pkgs.join(' ')}`;
}

/**
 * A file shipped in the repository (templates/, installers/win/wrapper/, dist/). Found by walking up from this
 * module, so it works from the TypeScript sources, the dist/ bundles and the extension's bundle alike.
 */
export function repoFile(relative: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find ${relative} above ${dirname(fileURLToPath(import.meta.url))}`);
    dir = parent;
  }
}
