// A file that changes while the agent reads it is never stored torn without a word: it is read again until a read
// sees one version, or, when it keeps changing, stored as read and reported "changed during backup" (result,
// warnings, status) and read again by the next backup. Real writers: one triggered by the agent's first read
// (inotify), one that never stops.
import { beforeAll, describe, expect, it } from 'vitest';
import { lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { makeAgent, manualBackup, type TestAgent } from './helpers/agent.js';
import { tempDir } from './helpers/server.js';
import { keepRewriting, rewriteOnFirstRead } from './helpers/rewriters.js';

const NO_SERVER = { primary: '127.0.0.1:1', alternate: '127.0.0.1:2' };
const PIN = Array(32).fill('AB').join(':');
const MiB = 1024 * 1024;

let work: string;

async function setup(name: string): Promise<{ dir: string; agent: TestAgent; store: string }> {
  const dir = join(work, name, 'Data');
  mkdirSync(dir, { recursive: true });
  const agent = await makeAgent({ registration: NO_SERVER, tlsPin: PIN, config: { backup: manualBackup([dir]) } });
  return { dir, agent, store: join(work, `store-${name}`) };
}

async function backupJson(a: TestAgent, store: string): Promise<Record<string, unknown>> {
  const r = await a.run(['backup', '--store', store, '--json']);
  expect(r.code, r.output).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** Which version each MiB of `got` matches ("A", "B" or "?"): shows a torn file at a glance. */
function blocks(got: Buffer, a: Buffer, b: Buffer): string {
  let s = '';
  for (let off = 0; off < Math.max(got.length, a.length); off += MiB) {
    const g = got.subarray(off, off + MiB);
    s += g.equals(a.subarray(off, off + MiB)) ? 'A' : g.equals(b.subarray(off, off + MiB)) ? 'B' : '?';
  }
  return s;
}

beforeAll(async () => {
  work = await tempDir('holdfast-torn-');
});

describe('a file that changes while it is read', () => {
  it('rewritten in place at the moment the agent starts reading it: stored whole (one version), not torn', async () => {
    const s = await setup('once');
    const file = join(s.dir, 'report.db');
    const a = randomBytes(48 * MiB);
    const b = randomBytes(48 * MiB);
    writeFileSync(file, a);
    const mtimeA = lstatSync(file, { bigint: true }).mtimeNs;
    const { rewritten } = await rewriteOnFirstRead(file, b);
    const result = await backupJson(s.agent, s.store);
    await rewritten;
    const out = join(work, 'out-once');
    const r = await s.agent.run(['restore', '--store', s.store, '--to', out]);
    expect(r.code, r.output).toBe(0);
    const got = readFileSync(join(out, 'Data', 'report.db'));
    const version = blocks(got, a, b);
    expect(['A'.repeat(48), 'B'.repeat(48)], `stored ${version}`).toContain(version);
    expect(result.changedDuringBackup).toEqual([]);
    // The stored time is the one of the version stored.
    const mtime = lstatSync(join(out, 'Data', 'report.db'), { bigint: true }).mtimeNs;
    const want = version[0] === 'A' ? mtimeA : lstatSync(file, { bigint: true }).mtimeNs;
    expect(mtime).toBe((want / 1000n) * 1000n);
  });

  it('that never stops changing: reported "changed during backup" in the result, warnings and status, and read again next time', async () => {
    const s = await setup('always');
    const file = join(s.dir, 'busy.log');
    const steady = join(s.dir, 'steady.txt');
    writeFileSync(steady, 'not changing\n');
    const versions = [randomBytes(16 * MiB), randomBytes(16 * MiB)];
    writeFileSync(file, versions[0]);
    const writer = await keepRewriting(file, versions);
    let result: Record<string, unknown>;
    let run;
    try {
      run = await s.agent.run(['backup', '--store', s.store, '--json']);
      expect(run.code, run.output).toBe(0);
      result = JSON.parse(run.stdout);
    } finally {
      await writer.stop();
    }
    expect(result.changedDuringBackup).toEqual([file]);
    expect(result.files).toBe(2);
    expect(run.stderr).toContain(`warning: ${file}: changed during backup`);
    const status = await s.agent.run(['status']);
    expect(status.stdout).toMatch(/changed during backup: 1 file/);
    expect(status.stdout).toContain(file);
    expect((await s.agent.status()).lastBackup).toMatchObject({ ok: true, changedDuringBackup: { count: 1, paths: [file] } });

    // Now it is quiet: the next backup reads it again (and only it), and it restores as it is now.
    const next = await backupJson(s.agent, s.store);
    expect(next).toMatchObject({ filesRead: 1, changedDuringBackup: [] });
    const out = join(work, 'out-always');
    expect((await s.agent.run(['restore', '--store', s.store, '--to', out])).code).toBe(0);
    expect(readFileSync(join(out, 'Data', 'busy.log')).equals(readFileSync(file))).toBe(true);
    expect((await s.agent.status()).lastBackup).not.toHaveProperty('changedDuringBackup');
  });
});
