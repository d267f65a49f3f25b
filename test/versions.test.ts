// Issue 15 point 3, versions: `snapshots`, `ls <snapshot> [path]`, `versions <file>` (text and --json) and the restore
// of one version, with real server and agent processes. "Last Tuesday's spreadsheet" is a file with three stored
// versions over four snapshots (one backup in between left it unchanged).
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FileVersions, SnapshotListing } from '../agent/engine/versions.js';
import { makeAgent, manualBackup, type TestAgent } from './helpers/agent.js';
import { tempDir, useTestServer } from './helpers/server.js';

const server = useTestServer();

let agent: TestAgent;
let src: string;
const sheet = () => join(src, 'Finance', 'budget.xlsx');
/** The spreadsheet's bytes as each backup stored them, oldest first. */
const stored: Buffer[] = [];
const snapshotIds: string[] = [];

async function backup(): Promise<string> {
  const r = await agent.run(['backup', '--json', '--quiet']);
  expect(r.code, r.output).toBe(0);
  const id = (JSON.parse(r.stdout) as { snapshotId: string }).snapshotId;
  snapshotIds.push(id);
  return id;
}

function writeSheet(bytes: Buffer, day: number): void {
  writeFileSync(sheet(), bytes);
  const t = new Date(Date.UTC(2026, 10, day, 9, 30));
  utimesSync(sheet(), t, t);
  stored.push(bytes);
}

async function json<T>(args: string[]): Promise<T> {
  const r = await agent.run([...args, '--json']);
  expect(r.code, r.output).toBe(0);
  return JSON.parse(r.stdout) as T;
}

beforeAll(async () => {
  src = join(await tempDir('holdfast-versions-'), 'Documents');
  mkdirSync(join(src, 'Finance'), { recursive: true });
  writeFileSync(join(src, 'notes.txt'), 'notes\n');
  agent = await makeAgent({ server, config: { backup: manualBackup([src]) } });
  await agent.register();
  writeSheet(randomBytes(300_000), 3); // a Tuesday
  await backup();
  writeSheet(randomBytes(410_000), 10);
  await backup();
  await backup(); // unchanged: the same version in a second snapshot
  writeSheet(Buffer.concat([stored[1], Buffer.from('one more row')]), 17);
  await backup();
});

describe('snapshots, ls and versions', () => {
  it('snapshots lists every snapshot, newest first (text and --json)', async () => {
    const list = await json<Array<{ id: string; time: string; size: number }>>(['snapshots']);
    expect(list.map((s) => s.id)).toEqual([...snapshotIds].reverse());
    const text = await agent.run(['snapshots']);
    expect(
      text.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/)[0]),
    ).toEqual([...snapshotIds].reverse());
  });

  it('ls shows the backed-up folders, a folder’s entries, and with -r everything below', async () => {
    const top = await json<SnapshotListing>(['ls', 'latest']);
    expect(top.snapshot.id).toBe(snapshotIds[3]);
    expect(top.entries.map((e) => [e.path, e.type])).toEqual([['Documents', 'folder']]);
    const docs = await json<SnapshotListing>(['ls', snapshotIds[0], 'Documents']);
    expect(docs.entries.map((e) => [e.path, e.type])).toEqual([
      ['Documents/Finance', 'folder'],
      ['Documents/notes.txt', 'file'],
    ]);
    // The original absolute path works as well as the snapshot path.
    const fin = await json<SnapshotListing>(['ls', snapshotIds[0], join(src, 'Finance')]);
    expect(fin.entries).toEqual([{ path: 'Documents/Finance/budget.xlsx', type: 'file', size: 300_000, mtime: '2026-11-03T09:30:00.000Z', mode: 0o644 }]);
    const all = await json<SnapshotListing>(['ls', 'latest', 'Documents', '--recursive']);
    expect(all.entries.map((e) => e.path)).toEqual(['Documents/Finance', 'Documents/Finance/budget.xlsx', 'Documents/notes.txt']);
    const text = await agent.run(['ls', snapshotIds[0], 'Documents/Finance']);
    expect(text.code, text.output).toBe(0);
    expect(text.stdout).toContain(`snapshot ${snapshotIds[0]}`);
    expect(text.stdout).toMatch(/ 293 KiB {2}2026-11-03T09:30:00\.000Z {2}Documents\/Finance\/budget\.xlsx\n/);
    const none = await agent.run(['ls', 'latest', 'Documents/nothing-here']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('has nothing at "Documents/nothing-here"');
  });

  it('versions lists each stored version once, newest first, with time, size and the snapshots holding it', async () => {
    const v = await json<FileVersions>(['versions', 'Documents/Finance/budget.xlsx']);
    expect(v.path).toBe('Documents/Finance/budget.xlsx');
    expect(v.versions.map((x) => [x.version, x.size, x.mtime])).toEqual([
      [1, stored[2].length, '2026-11-17T09:30:00.000Z'],
      [2, stored[1].length, '2026-11-10T09:30:00.000Z'],
      [3, stored[0].length, '2026-11-03T09:30:00.000Z'],
    ]);
    expect(v.versions[1].snapshots).toEqual([snapshotIds[1], snapshotIds[2]]);
    expect(v.versions[1].snapshot).toBe(snapshotIds[2]);
    expect(v.versions[2].snapshots).toEqual([snapshotIds[0]]);
    const text = await agent.run(['versions', sheet()]);
    expect(text.code, text.output).toBe(0);
    expect(text.stdout).toContain('Documents/Finance/budget.xlsx: 3 version(s)');
    expect(text.stdout).toMatch(/ {2}2 {2}2026-11-10T09:30:00\.000Z +400 KiB \(410000 bytes\) {2}snapshot \S+ \(in 2 snapshots\)/);
    const missing = await agent.run(['versions', 'Documents/Finance/nope.xlsx']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no snapshot holds a file at "Documents/Finance/nope.xlsx"');
  });

  it('restoring one version gives exactly that version’s bytes (versions --restore, and restore --snapshot --path)', async () => {
    const out = join(await tempDir('holdfast-version-out-'), 'v3');
    const r = await json<{ version: { version: number }; restore: { files: number } }>([
      'versions',
      'Documents/Finance/budget.xlsx',
      '--restore',
      '3',
      '--to',
      out,
    ]);
    expect(r.version.version).toBe(3);
    expect(r.restore.files).toBe(1);
    expect(readFileSync(join(out, 'Documents', 'Finance', 'budget.xlsx')).equals(stored[0])).toBe(true);

    const v = await json<FileVersions>(['versions', 'Documents/Finance/budget.xlsx']);
    const out2 = join(await tempDir('holdfast-version-out-'), 'v2');
    const rr = await agent.run(['restore', '--snapshot', v.versions[1].snapshot, '--path', v.path, '--to', out2, '--quiet']);
    expect(rr.code, rr.output).toBe(0);
    expect(readFileSync(join(out2, 'Documents', 'Finance', 'budget.xlsx')).equals(stored[1])).toBe(true);

    const bad = await agent.run(['versions', 'Documents/Finance/budget.xlsx', '--restore', '9', '--to', out2]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('has 3 version(s)');
    const noTarget = await agent.run(['versions', 'Documents/Finance/budget.xlsx', '--restore', '1']);
    expect(noTarget.code).toBe(1);
    expect(noTarget.stderr).toContain('--restore needs --to <dir>');
  });
});
