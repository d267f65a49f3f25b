// Field, not lab: an agent backing up a home folder with file names of every kind, while an application rewrites a
// file it is reading, through the real CLI and a real holdfast-server. The restore must give back every name byte
// for byte, every content, mode and microsecond of mtime; the rewritten file whole (one version) or reported.
import { beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeAgent, manualBackup, type TestAgent } from './helpers/agent.js';
import { tempDir, useTestServer } from './helpers/server.js';
import { snapshotTree } from './helpers/engine-corpus.js';
import { makeHostileTree } from './helpers/hostile-names.js';
import { rewriteOnFirstRead } from './helpers/rewriters.js';

const server = useTestServer();
let agent: TestAgent;
let work: string;
let home: string;

beforeAll(async () => {
  work = await tempDir('holdfast-field-names-');
  home = join(work, 'ann');
  makeHostileTree(home);
  agent = await makeAgent({ server, config: { backup: manualBackup([home]) } });
  expect((await agent.run(['register'])).code).toBe(0);
});

describe('a home folder with names of every kind, against the test server', () => {
  it('backs up (while a file is rewritten under the reader) and restores byte for byte', async () => {
    const db = join(home, '-mail.db');
    const before = randomBytes(24 * 1024 * 1024);
    const after = randomBytes(24 * 1024 * 1024);
    writeFileSync(db, before);
    const { rewritten } = await rewriteOnFirstRead(db, after);
    const b = await agent.run(['backup', '--json']);
    expect(b.code, b.output).toBe(0);
    await rewritten;
    const result = JSON.parse(b.stdout);
    expect(result.warnings.filter((w: string) => !w.includes('changed during backup'))).toEqual([]);

    const out = join(work, 'restored');
    const r = await agent.run(['restore', '--to', out]);
    expect(r.code, r.output).toBe(0);
    const got = snapshotTree(join(out, 'ann'));
    const want = snapshotTree(home);
    const restoredDb = readFileSync(join(out, 'ann', '-mail.db'));
    if (result.changedDuringBackup.length === 0) {
      // Read whole: the version before the rewrite or after it.
      expect(restoredDb.equals(before) || restoredDb.equals(after), 'the rewritten file is one version').toBe(true);
    } else expect(result.changedDuringBackup).toEqual([db]);
    // Unless it holds the version the file has now (then with that version's time), its entry differs from the file.
    if (!restoredDb.equals(after)) {
      delete want['-mail.db'];
      delete got['-mail.db'];
    }
    expect(got).toEqual(want);
    expect(Object.keys(want).length).toBeGreaterThan(45);
  });
});
