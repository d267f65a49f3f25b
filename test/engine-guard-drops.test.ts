// The deselection guard judges an exclusion by what it would drop, not by its text: "**/*.bin" is refused when a
// protected folder holds .bin files (with the list of what it would drop), and a backup keeps protected files
// whatever an exclude says (a warning in the result and in status), including files that appear after a pattern
// was accepted. Real agent CLI, local store.
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeAgent, type TestAgent } from './helpers/agent.js';
import { tempDir } from './helpers/server.js';

const NO_SERVER = { primary: '127.0.0.1:1', alternate: '127.0.0.1:2' };
const PIN = Array(32).fill('AB').join(':');

function backupConfig(include: string[], exclude: string[] = [], protectedPaths: string[] = []) {
  return { backup: { include, exclude, protectedPaths, schedule: { frequency: 'manual' as const, at: '02:00' } } };
}

/** Files (relative paths) a restore of the latest snapshot brings back. */
async function restoredFiles(agent: TestAgent, store: string, out: string): Promise<string[]> {
  const r = await agent.run(['restore', '--store', store, '--to', out]);
  expect(r.code, r.output).toBe(0);
  return (readdirSync(out, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name).slice(out.length + 1))
    .sort();
}

describe('deselection guard by what a rule drops', () => {
  let work: string;
  let docs: string;
  let finance: string;

  beforeAll(async () => {
    work = await tempDir('holdfast-guard-drops-');
    docs = join(work, 'home', 'Documents');
    finance = join(docs, 'Finance');
    mkdirSync(join(finance, 'scans'), { recursive: true });
    for (let i = 0; i < 13; i++) writeFileSync(join(finance, 'scans', `scan-${String(i).padStart(2, '0')}.bin`), `scan ${i}`);
    writeFileSync(join(finance, 'ledger.txt'), 'ledger');
    writeFileSync(join(docs, 'game.bin'), 'not protected');
    writeFileSync(join(docs, 'cv.txt'), 'cv');
  });

  it('"exclude add **/*.bin" is refused, listing the first files it would drop and how many; nothing is saved', async () => {
    const agent = await makeAgent({ registration: NO_SERVER, tlsPin: PIN, config: backupConfig([docs], [], [finance]) });
    const r = await agent.run(['exclude', 'add', '**/*.bin']);
    expect(r.code, r.output).not.toBe(0);
    expect(r.stderr).toContain(`"**/*.bin" would drop from ${finance} (protected by your administrator): 13 paths`);
    expect(r.stderr).toContain(`${finance}/scans/scan-00.bin`);
    expect(r.stderr).toContain(`${finance}/scans/scan-09.bin`);
    expect(r.stderr).not.toContain('scan-10.bin');
    expect(r.stderr).toContain('... and 3 more');
    expect(r.stderr).toContain('--force');
    expect(existsSync(join(agent.stateDir, 'exclusions.json'))).toBe(false);
    // What the protected folder does not hold stays excludable.
    const ok = await agent.run(['exclude', 'add', '**/*.iso']);
    expect(ok.code, ok.output).toBe(0);
  });

  it('a forced exclusion is honoured by the backup; the user saw what it drops', async () => {
    const agent = await makeAgent({ registration: NO_SERVER, tlsPin: PIN, config: backupConfig([docs], [], [finance]) });
    const r = await agent.run(['exclude', 'add', '**/*.bin', '--force']);
    expect(r.code, r.output).toBe(0);
    expect(r.stderr).toContain('warning (forced)');
    expect(r.stderr).toContain('13 paths');
    const store = join(work, 'store-forced');
    expect((await agent.run(['backup', '--store', store])).code).toBe(0);
    expect(await restoredFiles(agent, store, join(work, 'out-forced'))).toEqual(['Documents/Finance/ledger.txt', 'Documents/cv.txt']);
  });

  it('a backup keeps protected files an admin exclude matches, with a warning in the result and in status', async () => {
    const agent = await makeAgent({ registration: NO_SERVER, tlsPin: PIN, config: backupConfig([docs], ['**/*.bin', docs], [finance]) });
    const store = join(work, 'store-kept');
    const b = await agent.run(['backup', '--store', store, '--json']);
    expect(b.code, b.output).toBe(0);
    const result = JSON.parse(b.stdout);
    expect(result.warnings.join('\n')).toContain('exclude "**/*.bin" matches 13 protected paths, backed up anyway');
    expect(b.stderr).toContain('backed up anyway');
    // "Documents" itself is excluded: cv.txt and game.bin go; the protected folder inside it stays, all of it.
    const files = await restoredFiles(agent, store, join(work, 'out-kept'));
    expect(files).toContain('Documents/Finance/ledger.txt');
    expect(files.filter((f) => f.startsWith('Documents/Finance/scans/'))).toHaveLength(13);
    expect(files).not.toContain('Documents/game.bin');
    expect(files).not.toContain('Documents/cv.txt');
    const status = await agent.status();
    const kept = (status.lastBackup as { protectedKept: { pattern: string; count: number; paths: string[] }[] }).protectedKept;
    expect(kept.find((k) => k.pattern === '**/*.bin')).toMatchObject({ count: 13 });
    expect(kept.find((k) => k.pattern === '**/*.bin')?.paths).toHaveLength(10);
    const text = await agent.run(['status']);
    expect(text.stdout).toContain('kept:        exclude "**/*.bin" matched 13 protected path(s), backed up anyway');
    // backup --force lets the excludes drop protected paths too.
    const forced = await agent.run(['backup', '--store', join(work, 'store-kept-forced'), '--force', '--json']);
    expect(forced.code, forced.output).toBe(0);
    expect(JSON.parse(forced.stdout).files).toBe(0);
  });

  it('a pattern accepted while the protected folder held no match cannot drop files that appear there later', async () => {
    const root = join(work, 'later');
    const prot = join(root, 'Contracts');
    mkdirSync(prot, { recursive: true });
    writeFileSync(join(prot, 'signed.pdf'), 'pdf');
    const agent = await makeAgent({ registration: NO_SERVER, tlsPin: PIN, config: backupConfig([root], [], [prot]) });
    const add = await agent.run(['exclude', 'add', '**/*.bak']);
    expect(add.code, add.output).toBe(0);
    writeFileSync(join(prot, 'deal.bak'), 'only copy');
    writeFileSync(join(root, 'junk.bak'), 'junk');
    const store = join(work, 'store-later');
    const b = await agent.run(['backup', '--store', store, '--json']);
    expect(b.code, b.output).toBe(0);
    expect(JSON.parse(b.stdout).warnings.join('\n')).toContain('exclude "**/*.bak" matches 1 protected path, backed up anyway');
    expect(await restoredFiles(agent, store, join(work, 'out-later'))).toEqual(['later/Contracts/deal.bak', 'later/Contracts/signed.pdf']);
  });
});
