// The chunk codec across runtimes: the agent on the installers' Node 22 release compresses with zstd; a backup it
// made restores byte-identical on the Node running the tests (Node 20 in CI: fzstd, since Node 20 has no zstd),
// and one made here restores there. The Node 22 runtime is the npm package the deployer fetches (cached). The
// agent runs from a copy of its bundle outside the repository, as installed: no node_modules beside it.
import { beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { nodeRuntime } from '../installers/runtimes.js';
import { makeAgent, type TestAgent } from './helpers/agent.js';
import { agentBin } from './helpers/paths.js';
import { runProcess } from './helpers/process.js';
import { tempDir } from './helpers/server.js';
import { makeCorpus, plaintextMarker, snapshotTree, storedChunks } from './helpers/engine-corpus.js';

let work: string;
let src: string;
let agent: TestAgent;
let node22: string;
let bundle: string;

/** Count of each codec flag (0 none, 1 brotli, 2 zstd) over every chunk in a local store. */
function codecFlags(store: string): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const { flags } of storedChunks(store)) counts[flags] = (counts[flags] ?? 0) + 1;
  return counts;
}

async function run(node: string, args: string[]): Promise<string> {
  const r = await runProcess(node, [bundle, ...args], { cwd: work, env: { ...process.env, HOLDFAST_CONFIG: agent.configPath } });
  expect(r.code, r.output).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  node22 = await nodeRuntime('linux-x64');
  work = await tempDir('holdfast-runtimes-');
  src = join(work, 'src');
  bundle = join(work, 'bin', 'holdfast-agent.mjs');
  mkdirSync(join(work, 'bin'));
  copyFileSync(agentBin, bundle);
  makeCorpus(src, plaintextMarker());
  agent = await makeAgent({
    registration: { primary: '127.0.0.1:1', alternate: '127.0.0.1:2' },
    tlsPin: Array(32).fill('AB').join(':'),
    config: { backup: { include: [src], exclude: [], protectedPaths: [], schedule: { frequency: 'manual', at: '02:00' } } },
  });
}, 180_000);

describe('chunk codec across runtimes', () => {
  it('a backup by the agent on Node 22 (zstd) restores byte-identical on this Node', async () => {
    const store = join(work, 'store-22');
    await run(node22, ['backup', '--store', store, '--quiet']);
    const flags = codecFlags(store);
    expect(flags[2], JSON.stringify(flags)).toBeGreaterThan(0);
    expect(flags[1]).toBeUndefined();
    const out = join(work, 'out-here');
    await run(process.execPath, ['restore', '--store', store, '--to', out, '--quiet']);
    expect(snapshotTree(join(out, 'src'))).toEqual(snapshotTree(src));
  });

  it('a backup made on this Node restores byte-identical on Node 22', async () => {
    const store = join(work, 'store-here');
    await run(process.execPath, ['backup', '--store', store, '--quiet']);
    const flags = codecFlags(store);
    // Node 20 writes brotli; a test run on Node 22.15+ writes zstd like the endpoints.
    const expected = typeof ((await import('node:zlib')) as { zstdCompressSync?: unknown }).zstdCompressSync === 'function' ? 2 : 1;
    expect(flags[expected], JSON.stringify(flags)).toBeGreaterThan(0);
    const out = join(work, 'out-22');
    await run(node22, ['restore', '--store', store, '--to', out, '--quiet']);
    expect(snapshotTree(join(out, 'src'))).toEqual(snapshotTree(src));
  });
});
