// The default backup set on Windows, for real under Wine: the agent bundle run by the Windows node.exe reads the
// ProfileList key with reg.exe. A fake ProfileList (`reg add`) names two users' profiles, LocalSystem's and a ".bak"
// leftover; an empty include backs up both users' files and nothing of the service account or the other entries.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, type Dirent } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeRuntime } from '../installers/runtimes.js';
import { agentBin } from './helpers/paths.js';
import { PROFILE_LIST, type WinePrefix, createWinePrefix, replaceProfileList } from './helpers/wine.js';

const PIN = Array(32).fill('AB').join(':');

let work: string;
let wine: WinePrefix;
let nodeExe: string;

function put(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'hf-profiles-wine-'));
  nodeExe = await nodeRuntime('win-x64');
  wine = await createWinePrefix();
}, 600_000);

afterAll(async () => {
  await wine?.close();
  rmSync(work, { recursive: true, force: true });
});

async function agent(args: string[]): Promise<string> {
  const r = await wine.run([nodeExe, wine.toWindows(agentBin), ...args, '--config', wine.toWindows(join(work, 'agent.json'))], { timeoutMs: 180_000 });
  expect(r.code, r.output).toBe(0);
  return r.output;
}

const lastJson = (out: string) => JSON.parse(out.slice(out.indexOf('{'), out.lastIndexOf('}') + 1));

describe('default backup set under Wine (ProfileList via reg.exe)', () => {
  it("backs up every S-1-5-21 profile's files, not LocalSystem's, not a .bak entry", async () => {
    put(wine.fromWindows('C:\\Users\\alice\\Documents\\thesis.txt'), 'alice thesis');
    put(wine.fromWindows('C:\\Users\\alice\\AppData\\Local\\Temp\\junk.tmp'), 'temp');
    put(wine.fromWindows('C:\\Users\\alice\\NTUSER.DAT'), 'hive');
    put(wine.fromWindows('C:\\Users\\bob\\Desktop\\todo.txt'), 'bob todo');
    put(wine.fromWindows('C:\\Users\\carol\\Documents\\old.txt'), 'a profile Windows could not load');
    put(wine.fromWindows('C:\\windows\\system32\\config\\systemprofile\\Documents\\system.txt'), 'service account');
    await replaceProfileList(wine, {
      'S-1-5-21-1111111111-2222222222-3333333333-1001': '%SystemDrive%\\Users\\alice',
      'S-1-5-21-1111111111-2222222222-3333333333-1002': 'C:\\Users\\bob',
      'S-1-5-21-1111111111-2222222222-3333333333-1003.bak': 'C:\\Users\\carol',
      'S-1-5-18': '%systemroot%\\system32\\config\\systemprofile',
    });
    const config = {
      fleet: 'test',
      registration: { primary: '127.0.0.1:1', alternate: '127.0.0.1:2' },
      tlsPin: PIN,
      proxy: { type: 'none' },
      backup: { include: [], exclude: [], protectedPaths: [], schedule: { frequency: 'manual', at: '02:00' } },
      stateDir: wine.toWindows(join(work, 'state')),
    };
    writeFileSync(join(work, 'agent.json'), JSON.stringify(config, null, 2));

    const status = lastJson(await agent(['status', '--json'])).backupSet;
    expect(status.profilesFrom).toBe(PROFILE_LIST);
    expect(status.users).toEqual(['alice', 'bob']);
    expect(status.folders.map((f: { path: string }) => f.path.toLowerCase())).toEqual(['c:\\users\\alice', 'c:\\users\\bob']);

    const store = wine.toWindows(join(work, 'store'));
    await agent(['backup', '--store', store, '--json']);
    const out = join(work, 'out');
    await agent(['restore', '--store', store, '--to', wine.toWindows(out)]);
    const files = (readdirSync(out, { recursive: true, withFileTypes: true }) as Dirent[])
      .filter((d) => d.isFile())
      .map((d) => join(d.parentPath, d.name).slice(out.length + 1));
    expect(files).toContain('alice/Documents/thesis.txt');
    expect(files).toContain('bob/Desktop/todo.txt');
    expect(files.join('\n')).not.toMatch(/old\.txt|system\.txt|junk\.tmp|NTUSER\.DAT/);
  }, 600_000);
});
