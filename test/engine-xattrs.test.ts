// Extended attributes (issue 14, point 8) through the real agent CLI on a local store, with the attr package's real
// getfattr/setfattr: every file, folder and symlink of a tree of hostile names carries attributes (odd names with
// non-UTF-8 bytes, "=", newlines, backslashes; empty, binary and 1.5 KB values (ext4 holds ~4 KB per file); trusted.* that only root may set) and
// all come back byte for byte. A restore by a user other than root sets user.* (also on a read-only file, which
// stays read-only) and reports the trusted.* it skipped. A change of an attribute alone reaches the next snapshot;
// a rerun reads nothing; snapshots of formats 5 and 6 (before attributes) still restore.
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { makeAgent, manualBackup, type TestAgent } from './helpers/agent.js';
import { agentBin, repoRoot } from './helpers/paths.js';
import { runProcess } from './helpers/process.js';
import { tempDir } from './helpers/server.js';
import { makeHostileTree } from './helpers/hostile-names.js';
import { LocalStore } from '../agent/engine/local-store.js';
import { deriveKeys, parseDeviceKeyFile } from '../agent/engine/keys.js';
import { sealSnapshot } from '../agent/engine/codec.js';
import { FULL_FORMAT, loadSnapshot, newSnapshotId, type SnapshotEntry } from '../agent/engine/snapshot.js';

const NO_SERVER = { primary: '127.0.0.1:1', alternate: '127.0.0.1:2' };
const PIN = Array(32).fill('AB').join(':');
const USER = 4242;

let work: string;
let src: string;
let agent: TestAgent;
let store: string;

/** Every byte outside [A-Za-z0-9._/-] as \ooo: the dump format setfattr reads (written here independently of the agent). */
const esc = (b: Buffer): string =>
  [...b].map((c) => (/[A-Za-z0-9._/-]/.test(String.fromCharCode(c)) ? String.fromCharCode(c) : `\\${c.toString(8).padStart(3, '0')}`)).join('');
const unesc = (s: string): Buffer =>
  Buffer.from(
    s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))),
    'latin1',
  );

/** Attributes every entry below `dir` has, read with getfattr: "path" → sorted "name=hex" lines (bytes as hex). */
function xattrsOf(dir: string): Map<string, string[]> {
  const r = spawnSync('getfattr', ['-R', '-h', '-d', '-m', '-', '-e', 'hex', '.'], { cwd: dir, maxBuffer: 64 << 20 });
  expect(r.status, r.stderr.toString()).toBe(0);
  const out = new Map<string, string[]>();
  for (const block of r.stdout.toString('latin1').split('\n\n')) {
    const [head, ...lines] = block.split('\n').filter(Boolean);
    if (!head) continue;
    expect(head.startsWith('# file: ')).toBe(true);
    const path = unesc(head.slice(8)).toString('hex');
    const attrs = lines.map((l) => {
      const eq = l.indexOf('=');
      const value = eq < 0 ? '' : l.slice(eq + 1);
      return `${unesc(eq < 0 ? l : l.slice(0, eq)).toString('hex')}=${value === '""' ? '' : value.replace(/^0x/, '')}`;
    });
    out.set(path, attrs.sort());
  }
  return out;
}

/** Every path below `root` (bytes), folders and symlinks included. */
function allPaths(root: Buffer): Array<{ path: Buffer; kind: 'f' | 'd' | 'l' }> {
  const out: Array<{ path: Buffer; kind: 'f' | 'd' | 'l' }> = [];
  for (const name of readdirSync(root, { encoding: 'buffer' })) {
    const p = Buffer.concat([root, Buffer.from('/'), name]);
    const st = lstatSync(p);
    const kind = st.isSymbolicLink() ? 'l' : st.isDirectory() ? 'd' : 'f';
    out.push({ path: p, kind });
    if (kind === 'd') out.push(...allPaths(p));
  }
  return out;
}

function setAttrs(lines: string[]): void {
  const r = spawnSync('setfattr', ['-h', '--restore=-'], { input: Buffer.from(`${lines.join('\n')}\n`, 'latin1') });
  expect(r.status, r.stderr.toString()).toBe(0);
}

async function backupJson(): Promise<Record<string, unknown>> {
  const r = await agent.run(['backup', '--store', store, '--json']);
  expect(r.code, r.output).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

const keysOf = (a: TestAgent) => deriveKeys(parseDeviceKeyFile(readFileSync(join(a.stateDir, 'device.key'), 'utf8'), 'device.key'));

beforeAll(async () => {
  for (const tool of ['getfattr', 'setfattr']) {
    const r = spawnSync(tool, ['--version']);
    if (r.error || r.status !== 0) throw new Error(`${tool} (package attr) is needed: apt-get install -y attr`);
  }
  expect(process.getuid?.(), 'these tests set trusted.* attributes and restore as another user: run them as root').toBe(0);
  work = await tempDir('holdfast-xattrs-');
  chmodSync(work, 0o755);
  src = join(work, 'Home');
  makeHostileTree(src);
  writeFileSync(join(src, 'readonly.txt'), 'read only\n', { mode: 0o444 });
  writeFileSync(join(src, 'no-attributes.txt'), 'plain\n');
  mkdirSync(join(src, 'folder'));
  symlinkSync('readonly.txt', join(src, 'link-to-readonly'));

  const lines: string[] = [];
  for (const { path, kind } of allPaths(Buffer.from(src))) {
    if (path.toString().endsWith('/no-attributes.txt')) continue;
    lines.push(`# file: ${esc(path)}`);
    // Symlinks cannot carry user.* attributes on Linux: trusted.* (root's namespace) there.
    if (kind === 'l') lines.push(`trusted.link=0x${path.toString('hex')}`);
    else {
      lines.push(`user.path=0x${path.toString('hex')}`);
      lines.push(`${esc(Buffer.concat([Buffer.from('user.odd-'), Buffer.from([0xe9, 0x0a]), Buffer.from('=name\\ x')]))}=0x00ff0a3d5c`);
      lines.push('user.empty=""');
      if (kind === 'f') lines.push(`user.big=0s${randomBytes(1500).toString('base64')}`);
      if (kind === 'd') lines.push('trusted.folder=0x01');
    }
    lines.push('');
  }
  lines.push(`# file: ${esc(Buffer.from(join(src, 'readonly.txt')))}`, 'trusted.secret=0x736563726574', '');
  setAttrs(lines);
  // The file stayed read-only: setting them as root needed no write access.
  expect(lstatSync(join(src, 'readonly.txt')).mode & 0o777).toBe(0o444);

  agent = await makeAgent({ registration: NO_SERVER, tlsPin: PIN, config: { backup: manualBackup([src]) } });
  store = join(work, 'store');
}, 120_000);

describe('extended attributes', () => {
  it('every attribute of every file, folder and symlink comes back byte for byte (as root)', async () => {
    const before = xattrsOf(src);
    expect(before.size).toBeGreaterThanOrEqual(50);
    const b = await backupJson();
    expect(b.warnings).toEqual([]);
    expect(b.xattrs).toEqual({ tool: 'getfattr', entries: before.size });
    const out = join(work, 'out-root');
    const r = await agent.run(['restore', '--store', store, '--to', out, '--json']);
    expect(r.code, r.output).toBe(0);
    expect(JSON.parse(r.stdout).xattrsSkipped).toEqual([]);
    expect(xattrsOf(join(out, 'Home'))).toEqual(before);
    expect(lstatSync(join(out, 'Home', 'readonly.txt')).mode & 0o777).toBe(0o444);
  });

  it('a rerun reads nothing; a changed attribute alone (same content and time) reaches the next snapshot', async () => {
    const again = await backupJson();
    expect(again.filesRead).toBe(0);
    const file = join(src, 'no-attributes.txt');
    const mtime = lstatSync(file).mtimeMs;
    setAttrs([`# file: ${esc(Buffer.from(file))}`, 'user.added=0x6c61746572', '']);
    setAttrs([`# file: ${esc(Buffer.from(join(src, 'folder')))}`, 'user.path=0x6368616e676564', '']);
    expect(lstatSync(file).mtimeMs).toBe(mtime);
    const b = await backupJson();
    expect(b.filesRead).toBe(0);
    const out = join(work, 'out-changed');
    const r = await agent.run(['restore', '--store', store, '--to', out]);
    expect(r.code, r.output).toBe(0);
    const got = xattrsOf(join(out, 'Home'));
    expect(got.get(Buffer.from('no-attributes.txt').toString('hex'))).toEqual([`${Buffer.from('user.added').toString('hex')}=6c61746572`]);
    expect(got.get(Buffer.from('folder').toString('hex'))).toContain(`${Buffer.from('user.path').toString('hex')}=6368616e676564`);
    expect(got).toEqual(xattrsOf(src));
  });

  it('a restore by another user sets user.* (a read-only file too, which stays read-only) and reports the trusted.* it skipped', async () => {
    const out = join(work, 'out-user');
    mkdirSync(out);
    for (const p of [out, agent.dir, store]) spawnSync('chown', ['-R', `${USER}:${USER}`, p]);
    const r = await runProcess(
      'setpriv',
      ['--reuid', String(USER), '--regid', String(USER), '--clear-groups', process.execPath, agentBin, 'restore', '--store', store, '--to', out, '--json'],
      {
        cwd: repoRoot,
        env: { ...process.env, HOLDFAST_CONFIG: agent.configPath },
        timeoutMs: 120_000,
      },
    );
    expect(r.code, r.output).toBe(0);
    const result = JSON.parse(r.stdout) as { xattrsSkipped: Array<{ path: string; names: string[]; reason: string }> };
    const home = join(out, 'Home');
    const expected = new Map([...xattrsOf(src)].map(([p, attrs]) => [p, attrs.filter((a) => !a.startsWith(Buffer.from('trusted.').toString('hex')))]));
    for (const [p, attrs] of expected) if (attrs.length === 0) expected.delete(p);
    expect(xattrsOf(home)).toEqual(expected);
    expect(lstatSync(join(home, 'readonly.txt')).mode & 0o777).toBe(0o444);
    expect(lstatSync(join(home, 'readonly.txt')).uid).toBe(USER);
    const ro = result.xattrsSkipped.find((s) => s.path === join(home, 'readonly.txt'));
    expect(ro).toEqual({ path: join(home, 'readonly.txt'), names: ['trusted.secret'], reason: 'only root may set them' });
    expect(result.xattrsSkipped.find((s) => s.path === join(home, 'link-to-readonly'))?.names).toEqual(['trusted.link']);
    expect(result.xattrsSkipped.find((s) => s.path === join(home, 'folder'))?.names).toEqual(['trusted.folder']);
    // The text form says the same on stderr.
    const text = await runProcess(
      'setpriv',
      ['--reuid', String(USER), '--regid', String(USER), '--clear-groups', process.execPath, agentBin, 'restore', '--store', store, '--to', join(out, 'again')],
      {
        cwd: repoRoot,
        env: { ...process.env, HOLDFAST_CONFIG: agent.configPath },
        timeoutMs: 120_000,
      },
    );
    for (const p of [agent.dir, store]) spawnSync('chown', ['-R', '0:0', p]);
    expect(text.code, text.output).toBe(0);
    expect(text.stderr).toMatch(/readonly\.txt: extended attributes trusted\.secret not restored: only root may set them/);
  });

  it('snapshots of formats 5 and 6 (before attributes) still restore, without attributes', async () => {
    const keys = keysOf(agent);
    const local = LocalStore.open(store);
    const now = await loadSnapshot(local, keys, 'latest');
    expect(now.v).toBe(FULL_FORMAT);
    expect(now.entries.some((e) => e[8]?.x)).toBe(true);
    const strip = (e: SnapshotEntry): SnapshotEntry => {
      if (!e[8]) return e;
      const { x: _x, ...rest } = e[8];
      return Object.keys(rest).length ? ([...e.slice(0, 8), rest] as SnapshotEntry) : (e.slice(0, 8) as SnapshotEntry);
    };
    const t5 = new Date('2026-01-02T03:04:05Z');
    const v5 = { ...now, v: 5, id: newSnapshotId(t5), time: t5.toISOString(), entries: now.entries.map(strip) };
    const t6 = new Date('2026-01-03T03:04:05Z');
    const v6 = { ...v5, v: 6, id: newSnapshotId(t6), time: t6.toISOString(), base: v5.id, depth: 1, entries: [[0, v5.entries.length]] };
    for (const snap of [v5, v6]) await local.putSnapshot(snap.id, snap.time, sealSnapshot(keys, snap.id, Buffer.from(JSON.stringify(snap))));
    await local.close();
    for (const snap of [v5, v6]) {
      const out = join(work, `out-v${snap.v}`);
      const r = await agent.run(['restore', '--store', store, '--snapshot', snap.id, '--to', out]);
      expect(r.code, r.output).toBe(0);
      expect(readFileSync(join(out, 'Home', 'readonly.txt'), 'utf8')).toBe('read only\n');
      expect(xattrsOf(join(out, 'Home')).size).toBe(0);
    }
  });
});
