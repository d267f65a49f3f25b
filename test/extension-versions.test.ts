// The sidebar's snapshots & versions: the extension's core functions run the real agent CLI against a real server
// (the same `snapshots`/`ls`/`versions` the CLI user runs, through their --json), and the agent view's rows. The
// editor commands themselves (quick picks around these calls) are not driven through code-server here.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from '../extension/src/core/agent-run.js';
import { agentSnapshots, fileVersions, restoreFileVersion, snapshotFiles } from '../extension/src/core/agent-versions.js';
import { agentTree } from '../extension/src/core/tree-model.js';
import { makeAgent, manualBackup } from './helpers/agent.js';
import { agentBin } from './helpers/paths.js';
import { tempDir, useTestServer } from './helpers/server.js';

const server = useTestServer();
let agent: TestAgent;
let workDir: string;
const versions: Buffer[] = [];

beforeAll(async () => {
  const src = join(await tempDir('holdfast-ext-versions-'), 'Reports');
  mkdirSync(src, { recursive: true });
  const cli = await makeAgent({ server, config: { backup: manualBackup([src]) } });
  workDir = cli.dir;
  agent = new TestAgent({ agentBin, workDir });
  expect(agent.configFile).toBe(cli.configPath);
  await agent.register();
  for (const n of [120_000, 90_000]) {
    versions.push(randomBytes(n));
    writeFileSync(join(src, 'q3.xlsx'), versions.at(-1)!);
    await agent.backup();
  }
});

describe('sidebar snapshots and versions (core functions over the agent CLI)', () => {
  it('lists snapshots, a snapshot’s files and a file’s versions, and restores one version’s bytes', async () => {
    const snaps = await agentSnapshots(agent);
    expect(snaps).toHaveLength(2);
    const files = await snapshotFiles(agent, snaps[1].id);
    expect(files.entries.filter((e) => e.type === 'file').map((e) => [e.path, e.size])).toEqual([['Reports/q3.xlsx', 120_000]]);
    const v = await fileVersions(agent, 'Reports/q3.xlsx');
    expect(v.versions.map((x) => [x.version, x.size, x.snapshot])).toEqual([
      [1, 90_000, snaps[0].id],
      [2, 120_000, snaps[1].id],
    ]);
    const restored = await restoreFileVersion(agent, v.path, 2, join(workDir, 'version-test'));
    expect(restored).toBe(join(workDir, 'version-test', 'Reports', 'q3.xlsx'));
    expect(readFileSync(restored).equals(versions[0])).toBe(true);

    // The agent view shows them: the snapshots (each opens its files' versions) and the versions (each restores).
    const nodes = agentTree({ history: [], versions: { snapshots: snaps, versions: v } }, true);
    const snapNode = nodes.find((n) => n.id === 'agent/snapshots')!;
    expect(snapNode.description).toMatch(/^2 · latest /);
    expect(snapNode.children?.map((c) => [c.label, c.command?.command, c.command?.arguments])).toEqual([
      [snaps[0].id, 'holdfast.fileVersions', [snaps[0].id]],
      [snaps[1].id, 'holdfast.fileVersions', [snaps[1].id]],
    ]);
    const verNode = nodes.find((n) => n.id === 'agent/versions')!;
    expect(verNode.label).toBe('Versions of q3.xlsx');
    expect(verNode.children?.map((c) => [c.description, c.command?.command, c.command?.arguments])).toEqual([
      [`88 KiB · snapshot ${snaps[0].id}`, 'holdfast.restoreFileVersion', ['Reports/q3.xlsx', 1]],
      [`117 KiB · snapshot ${snaps[1].id}`, 'holdfast.restoreFileVersion', ['Reports/q3.xlsx', 2]],
    ]);
    const busy = agentTree({ history: [], busy: 'versions', versions: { snapshots: snaps } }, true).find((n) => n.id === 'agent/snapshots')!;
    expect([busy.description, busy.icon?.id]).toEqual(['running…', 'loading~spin']);
    // Nothing listed yet: the view is as before.
    expect(agentTree({ history: [] }, true).some((n) => n.id === 'agent/snapshots')).toBe(false);
  });

  it('a file that no snapshot holds fails with the agent’s message', async () => {
    await expect(fileVersions(agent, 'Reports/none.xlsx')).rejects.toThrow(/no snapshot holds a file at "Reports\/none.xlsx"/);
  });
});
