// Jamf extension-attribute scripts, run for real with sh: against a fake agent printing fixed status JSON
// (health by age, version, last backup, missing agent, garbage) and against the real agent bundle.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentConfigFromFleet } from '../fleet/agent-config.js';
import { loadFleet, resolveSecrets } from '../fleet/load.js';
import { extensionAttributeScripts, type EaScript } from '../installers/mac/profiles.js';
import { agentBin, repoRoot } from './helpers/paths.js';

const work = mkdtempSync(join(tmpdir(), 'hf-jamf-ea-'));
const statusFile = join(work, 'status.json');
const fakeAgent = join(work, 'fake-agent');
const configFile = join(work, 'etc', 'agent.json');
let scripts: Record<string, EaScript>;

beforeAll(async () => {
  scripts = Object.fromEntries((await extensionAttributeScripts()).map((s) => [s.file, s]));
  for (const s of Object.values(scripts)) {
    writeFileSync(join(work, s.file), s.contents);
    chmodSync(join(work, s.file), 0o755);
  }
  // The fake agent insists on the exact command line the scripts must use.
  writeFileSync(
    fakeAgent,
    `#!/bin/sh\n[ "$1 $2 $3 $4" = "status --json --config ${configFile}" ] || { echo "bad args: $*" >&2; exit 9; }\ncat "${statusFile}"\n`,
  );
  chmodSync(fakeAgent, 0o755);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function runEa(file: string, env: Record<string, string> = {}): string {
  const r = spawnSync('sh', [join(work, file)], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOLDFAST_AGENT: fakeAgent, HOLDFAST_CONFIG: configFile, HOLDFAST_NODE: process.execPath, ...env },
  });
  expect(r.status, r.stderr).toBe(0);
  const m = /^<result>(.*)<\/result>\n$/.exec(r.stdout);
  expect(m, `output: ${JSON.stringify(r.stdout)}`).not.toBeNull();
  return m![1];
}

const status = (over: Record<string, unknown>) =>
  writeFileSync(
    statusFile,
    JSON.stringify({
      version: '1.4.2',
      fleet: 'demo',
      registered: true,
      deviceId: 'd-1',
      servers: null,
      lastSuccessfulBackup: null,
      lastBackup: null,
      lastError: null,
      ...over,
    }),
  );
const daysAgo = (d: number) => new Date(Date.now() - d * 86_400_000).toISOString();

describe('Jamf extension-attribute scripts', () => {
  it('ship four stable, syntactically valid POSIX sh scripts', () => {
    expect(Object.keys(scripts).sort()).toEqual([
      'holdfast-ea-agent-version.sh',
      'holdfast-ea-health.sh',
      'holdfast-ea-last-backup.sh',
      'holdfast-ea-skipped.sh',
    ]);
    for (const f of Object.keys(scripts)) execFileSync('sh', ['-n', join(work, f)]);
    for (const s of Object.values(scripts)) expect(s.contents).toContain("DEFAULT_AGENT='/Library/Application Support/Holdfast/bin/holdfast-agent'");
  });

  it('health: Healthy under 2 days, Warning under 7, Critical after or never', () => {
    const cases: Array<[string | null, string]> = [
      [daysAgo(0.1), 'Healthy'],
      [daysAgo(1.9), 'Healthy'],
      [daysAgo(2.1), 'Warning'],
      [daysAgo(6.9), 'Warning'],
      [daysAgo(7.1), 'Critical'],
      [daysAgo(400), 'Critical'],
      [null, 'Critical'],
    ];
    for (const [last, expected] of cases) {
      status({ lastSuccessfulBackup: last });
      expect([last, runEa('holdfast-ea-health.sh')]).toEqual([last, expected]);
    }
  });

  it('last successful backup is ISO 8601 (UTC) or Never; version is reported', () => {
    status({ lastSuccessfulBackup: '2026-11-20T08:15:30+01:00' });
    expect(runEa('holdfast-ea-last-backup.sh')).toBe('2026-11-20T07:15:30Z');
    status({ lastSuccessfulBackup: null });
    expect(runEa('holdfast-ea-last-backup.sh')).toBe('Never');
    expect(runEa('holdfast-ea-agent-version.sh')).toBe('1.4.2');
  });

  it('skipped files: None, or the count and the first three paths with their reason, cleaned for Jamf', () => {
    const finished = { ok: true, startedAt: daysAgo(0.1), finishedAt: daysAgo(0.1) };
    status({ lastBackup: { ...finished, outcome: 'completed' } });
    expect(runEa('holdfast-ea-skipped.sh')).toBe('None');
    status({ lastBackup: null });
    expect(runEa('holdfast-ea-skipped.sh')).toBe('None');
    const paths = [
      { path: '/Users/ann/Mail/locked.db', reason: 'locked' },
      { path: '/Users/ann/red\x1b[31m<b>', reason: 'permission denied' },
      { path: '/Users/bob/gone.txt', reason: 'vanished' },
      { path: '/Users/bob/fourth.txt', reason: 'vanished' },
    ];
    status({ lastBackup: { ...finished, outcome: 'completed with warnings', skipped: { count: 41, paths } } });
    expect(runEa('holdfast-ea-skipped.sh')).toBe(
      '41 skipped: /Users/ann/Mail/locked.db (locked); /Users/ann/red[31mb (permission denied); /Users/bob/gone.txt (vanished); ...',
    );
    writeFileSync(statusFile, 'garbage');
    expect(runEa('holdfast-ea-skipped.sh')).toBe('Unknown');
  });

  it('a missing agent, garbage output or a hostile version string give safe answers', () => {
    const none = { HOLDFAST_AGENT: join(work, 'no-such-agent') };
    expect(runEa('holdfast-ea-agent-version.sh', none)).toBe('Not installed');
    expect(runEa('holdfast-ea-health.sh', none)).toBe('Critical');
    writeFileSync(statusFile, 'not json <result>');
    expect(runEa('holdfast-ea-agent-version.sh')).toBe('Unknown');
    expect(runEa('holdfast-ea-health.sh')).toBe('Critical');
    expect(runEa('holdfast-ea-last-backup.sh')).toBe('Unknown');
    status({ version: '1.0</result><result>$(id)' });
    expect(runEa('holdfast-ea-agent-version.sh')).toBe('1.0/resultresult$(id)');
  });

  it('reads the real agent: status --json of a fresh install is version, Never, Critical', async () => {
    const loaded = await loadFleet(join(repoRoot, 'examples/fleets/demo.fleet.json'));
    mkdirSync(join(work, 'etc'), { recursive: true });
    writeFileSync(configFile, JSON.stringify(await agentConfigFromFleet(loaded, resolveSecrets(loaded.fleet, {}))));
    const launcher = join(work, 'holdfast-agent');
    writeFileSync(launcher, `#!/bin/sh\nexec "${process.execPath}" "${agentBin}" "$@"\n`);
    chmodSync(launcher, 0o755);
    const real = JSON.parse(execFileSync(process.execPath, [agentBin, 'status', '--json', '--config', configFile], { encoding: 'utf8' }));
    const env = { HOLDFAST_AGENT: launcher };
    expect(runEa('holdfast-ea-agent-version.sh', env)).toBe(real.version);
    expect(runEa('holdfast-ea-last-backup.sh', env)).toBe('Never');
    expect(runEa('holdfast-ea-health.sh', env)).toBe('Critical');
    expect(runEa('holdfast-ea-skipped.sh', env)).toBe('None');
  });
});
