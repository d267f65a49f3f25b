// Which Node runs the measured agent. By default the Node 22 release the installers ship to endpoints (fetched
// from npm like the installers' runtimes): what an endpoint runs is what the bench measures. `this` is the Node
// running the bench (Node 20 in CI, where chunks are brotli-compressed instead of zstd), or give a binary.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { nodeRuntime, type RuntimePlatform } from '../installers/runtimes.js';

const run = promisify(execFile);

export interface AgentNode {
  path: string;
  version: string;
  /** How it was chosen, for the report. */
  label: string;
}

const HOST_RUNTIME: Record<string, RuntimePlatform | undefined> = {
  'linux-x64': 'linux-x64',
  'win32-x64': 'win-x64',
  'darwin-x64': 'darwin-x64',
  'darwin-arm64': 'darwin-arm64',
};

export async function resolveAgentNode(choice: string): Promise<AgentNode> {
  let path: string;
  let label: string;
  if (choice === 'endpoint') {
    const platform = HOST_RUNTIME[`${process.platform}-${process.arch}`];
    if (!platform) throw new Error(`--agent-node endpoint: the installers ship no Node runtime for ${process.platform}-${process.arch}; use --agent-node this`);
    path = await nodeRuntime(platform);
    label = "the installers' runtime";
  } else if (choice === 'this') {
    path = process.execPath;
    label = "the bench's own Node";
  } else {
    if (!existsSync(choice)) throw new Error(`--agent-node: ${choice} does not exist (allowed: endpoint, this, or a path to a node binary)`);
    path = choice;
    label = 'given with --agent-node';
  }
  const { stdout } = await run(path, ['--version']);
  return { path, version: stdout.trim(), label };
}
