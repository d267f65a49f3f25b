// The default backup set is the machine's people: with an empty include the agent backs up every local user
// profile (here a fake /home and a fake /Users through HOLDFAST_PROFILES_ROOT), enumerated at each backup, never the
// home of the account it runs as; per-OS default excludes apply; {profiles} in include, exclude and protected paths
// means "of every user"; status says exactly what is backed up. Real agent CLI, local store.
import { beforeAll, describe, expect, it } from 'vitest';
import { type Dirent, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeAgent, type TestAgent } from './helpers/agent.js';
import { tempDir } from './helpers/server.js';

const NO_SERVER = { primary: '127.0.0.1:1', alternate: '127.0.0.1:2' };
const PIN = Array(32).fill('AB').join(':');

function backupConfig(include: string[], exclude: string[] = [], protectedPaths: string[] = []) {
  return { backup: { include, exclude, protectedPaths, schedule: { frequency: 'manual' as const, at: '02:00' } } };
}

function put(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

function filesUnder(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as Dirent[])
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name).slice(dir.length + 1))
    .sort();
}

async function backupAndRestore(agent: TestAgent, env: NodeJS.ProcessEnv, store: string, out: string): Promise<string[]> {
  const b = await agent.run(['backup', '--store', store, '--json'], { env });
  expect(b.code, b.output).toBe(0);
  const r = await agent.run(['restore', '--store', store, '--to', out], { env });
  expect(r.code, r.output).toBe(0);
  return filesUnder(out);
}

let work: string;
/** The home of the account the agent runs as (root's /var/root, LocalSystem's profile): never backed up by default. */
let serviceHome: string;

beforeAll(async () => {
  work = await tempDir('holdfast-profiles-');
  serviceHome = join(work, 'var-root');
  put(join(serviceHome, 'service-account-secret.txt'), 'not a user file');
});

describe('empty include: every user profile (fake /home)', () => {
  let home: string;
  let agent: TestAgent;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    home = join(work, 'home');
    put(join(home, 'alice', 'Documents', 'thesis.txt'), 'alice thesis');
    put(join(home, 'alice', '.cache', 'thumbs', 'x.png'), 'cache');
    put(join(home, 'alice', '.local', 'share', 'Trash', 'files', 'old.txt'), 'trash');
    put(join(home, 'bob', 'Desktop', 'todo.txt'), 'bob todo');
    put(join(home, 'bob', '.config', 'app.ini'), 'bob settings');
    mkdirSync(join(home, 'lost+found'), { recursive: true });
    put(join(home, '.hidden-admin', 'x.txt'), 'not a profile');
    put(join(home, 'stray-file.txt'), 'not a profile');
    agent = await makeAgent({ registration: NO_SERVER, tlsPin: PIN, config: backupConfig([]) });
    env = { HOLDFAST_PROFILES_ROOT: home, HOME: serviceHome, USERPROFILE: serviceHome };
  });

  it("backs up each user's profile, not the service account's home, without caches and trash", async () => {
    const files = await backupAndRestore(agent, env, join(work, 'store-home'), join(work, 'out-home'));
    expect(files).toEqual(['alice/Documents/thesis.txt', 'bob/.config/app.ini', 'bob/Desktop/todo.txt']);
    expect(files.join('\n')).not.toContain('service-account-secret');
  });

  it('status names the users, the folders and the default excludes', async () => {
    const r = await agent.run(['status', '--json'], { env });
    expect(r.code, r.output).toBe(0);
    const set = JSON.parse(r.stdout).backupSet;
    expect(set).toMatchObject({
      include: ['{profiles}'],
      meaning: 'every local user profile (include is empty)',
      profilesFrom: home,
      users: ['alice', 'bob'],
      folders: [
        { name: 'alice', path: join(home, 'alice') },
        { name: 'bob', path: join(home, 'bob') },
      ],
    });
    expect(set.exclude).toContain(join(home, 'alice', '.cache'));
    expect(set.exclude).toContain(join(home, 'bob', '.local/share/Trash'));
    const text = await agent.run(['status'], { env });
    expect(text.stdout).toContain('backs up:      every local user profile (include is empty): {profiles}');
    expect(text.stdout).toContain(`user profiles: alice, bob (from ${home})`);
  });

  it('no profile at all: the backup says so instead of silently backing up nothing', async () => {
    const empty = join(work, 'empty-home');
    mkdirSync(join(empty, 'lost+found'), { recursive: true });
    const b = await agent.run(['backup', '--store', join(work, 'store-empty'), '--json'], { env: { ...env, HOLDFAST_PROFILES_ROOT: empty } });
    expect(b.code, b.output).toBe(0);
    expect(JSON.parse(b.stdout).warnings).toContain(`no user profiles found (in ${empty}): nothing to back up`);
  });

  it('a user added later is in the next backup', async () => {
    put(join(home, 'carol', 'Documents', 'new.txt'), 'carol');
    const files = await backupAndRestore(agent, env, join(work, 'store-home'), join(work, 'out-home-2'));
    expect(files).toContain('carol/Documents/new.txt');
    expect(files).toContain('alice/Documents/thesis.txt');
  });
});

describe('{profiles} tokens (fake /Users)', () => {
  let users: string;
  let agent: TestAgent;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    users = join(work, 'Users');
    put(join(users, 'ann', 'Documents', 'Finance', 'scan.bin'), 'ann scan');
    put(join(users, 'ann', 'Documents', 'letter.txt'), 'ann letter');
    put(join(users, 'ann', 'Desktop', 'note.txt'), 'ann note');
    put(join(users, 'ann', 'Downloads', 'big.iso'), 'not selected');
    put(join(users, 'ben', 'Documents', 'plan.txt'), 'ben plan');
    put(join(users, 'ben', 'Documents', 'game.bin'), 'ben game');
    put(join(users, 'Shared', 'Documents', 'shared.txt'), 'not a person');
    put(join(users, 'Guest', 'Documents', 'guest.txt'), 'not a person');
    writeFileSync(join(users, '.localized'), '');
    agent = await makeAgent({
      registration: NO_SERVER,
      tlsPin: PIN,
      config: backupConfig(['{profiles}/Documents', '{profiles}/Desktop'], [], ['{profiles}/Documents/Finance']),
    });
    env = { HOLDFAST_PROFILES_ROOT: users, HOME: serviceHome };
  });

  it('backs up Documents and Desktop of every user, each under its own name', async () => {
    const files = await backupAndRestore(agent, env, join(work, 'store-users'), join(work, 'out-users'));
    expect(files).toEqual([
      'ann-Desktop/note.txt',
      'ann-Documents/Finance/scan.bin',
      'ann-Documents/letter.txt',
      'ben-Documents/game.bin',
      'ben-Documents/plan.txt',
    ]);
  });

  it('protected paths use the same token: an exclude dropping a protected file of any user is refused', async () => {
    const r = await agent.run(['exclude', 'add', '**/*.bin'], { env });
    expect(r.code, r.output).not.toBe(0);
    expect(r.stderr).toContain(join(users, 'ann', 'Documents', 'Finance', 'scan.bin'));
    const token = await agent.run(['exclude', 'add', '{profiles}/Documents'], { env });
    expect(token.code, token.output).not.toBe(0);
    expect(token.stderr).toContain(`"{profiles}/Documents" would drop from ${join(users, 'ann', 'Documents', 'Finance')}`);
    const ok = await agent.run(['exclude', 'add', '{profiles}/Documents/*.txt'], { env });
    expect(ok.code, ok.output).toBe(0);
    const files = await backupAndRestore(agent, env, join(work, 'store-users-2'), join(work, 'out-users-2'));
    expect(files).toEqual(['ann-Desktop/note.txt', 'ann-Documents/Finance/scan.bin', 'ben-Documents/game.bin']);
  });

  it('a token other than {profiles} is refused in agent.json, naming the field and what is allowed', async () => {
    const bad = await makeAgent({ registration: NO_SERVER, tlsPin: PIN, config: backupConfig(['{profile}/Documents']) });
    const r = await bad.run(['status'], { env });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('/backup/include/0');
    expect(r.stderr).toContain('{profiles}');
  });
});
