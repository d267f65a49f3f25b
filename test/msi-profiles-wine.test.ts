// Issue 14's "done when", end to end under Wine: a fresh silent install of the demo fleet's MSI (empty include, its
// daily schedule) on a machine with two user profiles. The installed service (LocalSystem, holdfast-service.exe ->
// node.exe) registers with the Linux test server and, never having backed up, runs its first backup at start; the
// installed agent then restores the latest snapshot from the server. Both users' documents come back byte-identical;
// nothing of the service account's profile (systemprofile, or the Wine user's own folders) is in the snapshot.
import { randomBytes } from 'node:crypto';
import { type Dirent, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFleets } from '../deployer/generate.js';
import { waitFor } from './helpers/hostile-clients.js';
import { repoRoot } from './helpers/paths.js';
import { TEST_TECHNICIAN_ID, tempDir, useTestServer } from './helpers/server.js';
import { type WinePrefix, createWinePrefix, replaceProfileList } from './helpers/wine.js';

const SID = 'S-1-5-21-1111111111-2222222222-3333333333';

const server = useTestServer();
let wine: WinePrefix;
let winePromise: Promise<WinePrefix> | undefined;
let work: string;
let msi: string;
let product: { vendor: string; product: string };

/** The demo fleet as shipped (empty include, daily schedule), only pointed at the test server. */
async function demoFleetForTestServer(): Promise<string> {
  const demo = JSON.parse(await readFile(join(repoRoot, 'examples/fleets/demo.fleet.json'), 'utf8'));
  expect(demo.backup.include).toEqual([]);
  product = demo.branding;
  const fleet = {
    ...demo,
    $schema: undefined,
    registration: { primary: server.addresses[0], alternate: server.addresses[1] },
    tlsPin: server.pin,
  };
  const dir = join(work, 'fleet');
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'demo.fleet.json');
  await writeFile(file, JSON.stringify(fleet, null, 2));
  return file;
}

function put(file: string, content: string | Buffer): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content);
}

/** The file's text, or '' while it does not exist yet. */
function textOf(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function filesUnder(root: string): string[] {
  return (readdirSync(root, { recursive: true, withFileTypes: true }) as Dirent[])
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath, d.name).slice(root.length + 1))
    .sort();
}

beforeAll(async () => {
  work = await tempDir('holdfast-msi-profiles-');
  winePromise = createWinePrefix();
  winePromise.catch(() => {}); // awaited below; keeps an early failure from being "unhandled"
  const result = await generateFleets([await demoFleetForTestServer()], { outDir: join(work, 'out'), targets: ['msi'] });
  msi = join(result.fleets[0].outDir, 'holdfast-demo.msi');
  wine = await winePromise;
}, 600_000);

afterAll(async () => {
  const prefix = wine ?? (await winePromise?.catch(() => undefined));
  await prefix?.close();
}, 120_000);

describe("the demo fleet's MSI, installed under Wine on a machine with two users", () => {
  it("the installed service backs up both users' documents and nothing of the service account", async () => {
    // Two users' profiles, the service account's (LocalSystem) profile, and a leftover the ProfileList marks .bak.
    const userFiles: Record<string, Buffer> = {
      'alice/Documents/thesis.txt': Buffer.from('alice thesis, chapter 1\n'),
      'alice/Documents/Photos/scan.bin': randomBytes(300_000),
      'bob/Documents/budget.csv': Buffer.from('month,amount\njan,12\n'),
      'bob/Documents/letter.docx': randomBytes(40_000),
    };
    for (const [rel, content] of Object.entries(userFiles)) put(wine.fromWindows(`C:\\Users\\${rel.replace(/\//g, '\\')}`), content);
    put(wine.fromWindows('C:\\Users\\alice\\AppData\\Local\\Temp\\junk.tmp'), 'temp');
    put(wine.fromWindows('C:\\windows\\system32\\config\\systemprofile\\Documents\\service-account.txt'), 'service account');
    put(wine.fromWindows('C:\\Users\\carol\\Documents\\old.txt'), 'a profile Windows could not load');
    await replaceProfileList(wine, {
      [`${SID}-1001`]: '%SystemDrive%\\Users\\alice',
      [`${SID}-1002`]: 'C:\\Users\\bob',
      [`${SID}-1003.bak`]: 'C:\\Users\\carol',
      'S-1-5-18': '%systemroot%\\system32\\config\\systemprofile',
    });

    const r = await wine.msiexec(['/i', wine.toWindows(msi), '/qn', '/norestart', `TECHNICIANID=${TEST_TECHNICIAN_ID}`]);
    expect(r.code, r.output + r.log.slice(-3000)).toBe(0);
    const installDirWin = `C:\\Program Files\\${product.vendor}\\${product.product}`;
    const dataDirWin = `C:\\ProgramData\\${product.vendor}\\${product.product}`;
    const config = JSON.parse(await readFile(wine.fromWindows(`${dataDirWin}\\agent.json`), 'utf8'));
    expect(config.backup.include).toEqual([]);
    expect(config.backup.schedule.frequency).toBe('daily');

    // The real service: it registers, then (no successful backup yet, the 02:00 slot passed) backs up at once.
    const registered = await server.waitForOutput(/registered new device (\S+)/, 120_000);
    const deviceId = /registered new device (\S+)/.exec(registered)![1];
    const agentLog = wine.fromWindows(`${dataDirWin}\\agent.log`);
    const outcome = /backup (?:complete|completed with warnings|failed): (?:snapshot (\S+),.*|.*)/;
    await waitFor("the service's first backup to end (agent.log)", () => outcome.test(textOf(agentLog)), 300_000);
    const done = outcome.exec(textOf(agentLog))!;
    expect(done[0], textOf(agentLog).slice(-3000)).toMatch(/^backup complete(d with warnings)?: snapshot/);
    const snapshotId = done[1];
    expect(textOf(agentLog)).toContain(`registered as new device ${deviceId}`);

    // The installed agent restores the latest snapshot from the backup servers, as the same device.
    const out = join(work, 'restored');
    const restore = await wine.run(
      [
        `${installDirWin}\\node.exe`,
        `${installDirWin}\\holdfast-agent.mjs`,
        'restore',
        '--config',
        `${dataDirWin}\\agent.json`,
        '--to',
        wine.toWindows(out),
        '--json',
        '--quiet',
      ],
      { timeoutMs: 300_000 },
    );
    expect(restore.code, restore.output).toBe(0);
    expect(JSON.parse(restore.output.slice(restore.output.indexOf('{'), restore.output.lastIndexOf('}') + 1)).snapshotId).toBe(snapshotId);

    // One folder per user profile, nothing else: not the service account's profile, not Wine's user, not the .bak.
    expect(readdirSync(out).sort()).toEqual(['alice', 'bob']);
    const restored = filesUnder(out);
    for (const [rel, content] of Object.entries(userFiles)) {
      expect(restored, rel).toContain(rel);
      expect(readFileSync(join(out, rel)).equals(content), `${rel} byte-identical`).toBe(true);
    }
    expect(restored.join('\n')).not.toMatch(/service-account\.txt|old\.txt|junk\.tmp/);
  }, 900_000);
});
