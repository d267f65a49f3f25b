// What a backup could not read is visible: counted, the first paths kept with a reason, in the CLI's result line,
// status (text and JSON) and the service log; such a backup "completed with warnings". The service's own log file
// rotates by size. Root reads every file, so the agent runs here as root without the capabilities that let it
// (setpriv drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH): mode 000 then means unreadable, as for a locked file.
import { beforeAll, describe, expect, it } from 'vitest';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeAgent, manualBackup, type TestAgent } from './helpers/agent.js';
import { agentBin, repoRoot } from './helpers/paths.js';
import { runProcess } from './helpers/process.js';
import { tempDir, useTestServer } from './helpers/server.js';

const server = useTestServer();
const HOSTILE = 'red\x1b[31mname';
const NO_DAC = ['--bounding-set', '-dac_override,-dac_read_search', '--inh-caps', '-dac_override,-dac_read_search'];

/** Runs the agent CLI without root's power to read any file. */
function runUnprivileged(agent: TestAgent, args: string[]) {
  return runProcess('setpriv', [...NO_DAC, process.execPath, agentBin, ...args], {
    cwd: repoRoot,
    env: { ...process.env, HOLDFAST_CONFIG: agent.configPath },
    timeoutMs: 120_000,
  });
}

/** A folder with 2 readable files, `unreadable` files of mode 000 (one with a terminal escape in its name) and a folder of mode 000. */
async function treeWithSkips(unreadable: number): Promise<string> {
  const root = join(await tempDir('holdfast-skips-'), 'home');
  await mkdir(join(root, 'closed'), { recursive: true });
  await writeFile(join(root, 'closed', 'inside.txt'), 'never read');
  await writeFile(join(root, 'a.txt'), 'readable a');
  await writeFile(join(root, 'b.txt'), 'readable b');
  for (let i = 0; i < unreadable; i++) {
    const f = join(root, i === 0 ? HOSTILE : `locked-${String(i).padStart(3, '0')}.bin`);
    await writeFile(f, `secret ${i}`);
    await chmod(f, 0o000);
  }
  await chmod(join(root, 'closed'), 0o000);
  return root;
}

beforeAll(async () => {
  const r = await runProcess('setpriv', [...NO_DAC, 'cat', '/proc/self/status']).catch((err: Error) => ({ code: -1, stdout: err.message }));
  if (r.code !== 0) throw new Error(`setpriv (util-linux) is needed: apt-get install -y util-linux\n${r.stdout}`);
});

describe('paths a backup skips', () => {
  it('are counted and listed with a reason by the backup, status --json and text status; the backup completed with warnings (exit 3)', async () => {
    const root = await treeWithSkips(2);
    const agent = await makeAgent({ server, config: { backup: manualBackup([root]) } });
    await agent.register();

    const b = await runUnprivileged(agent, ['backup', '--quiet']);
    expect(b.code, b.output).toBe(3);
    expect(b.stdout).toMatch(/^Backup completed with warnings: snapshot \S+\n\s+2 files/);
    expect(b.stdout).toContain('3 paths skipped (not backed up):');
    expect(b.stdout).toMatch(/closed: permission denied/);
    expect(b.stdout).toMatch(/locked-001\.bin: permission denied/);
    expect(b.output).not.toContain('\x1b');

    const status = await agent.status();
    const last = status.lastBackup as { ok: boolean; outcome: string; warnings: number; skipped: { count: number; paths: { path: string; reason: string }[] } };
    expect(last.ok).toBe(true);
    expect(last.outcome).toBe('completed with warnings');
    expect(last.skipped.count).toBe(3);
    expect(last.skipped.paths).toEqual(
      expect.arrayContaining([
        { path: join(root, 'closed'), reason: 'permission denied' },
        { path: join(root, HOSTILE), reason: 'permission denied' },
        { path: join(root, 'locked-001.bin'), reason: 'permission denied' },
      ]),
    );

    const text = await agent.run(['status']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/last backup: +completed with warnings at /);
    expect(text.stdout).toContain('skipped:       3 paths not backed up');
    expect(text.stdout).toContain(`${join(root, 'closed')}: permission denied`);
    expect(text.stdout).toContain('red\\x1b[31mname: permission denied');
    expect(text.stdout).not.toContain('\x1b');

    // The folder readable again: its file is backed up, the two files are still skipped.
    await chmod(join(root, 'closed'), 0o755);
    const again = await runUnprivileged(agent, ['backup', '--quiet']);
    expect(again.code, again.output).toBe(3);
    expect(again.stdout).toContain('2 paths skipped');
  });

  it('a clean backup says complete, exits 0 and status shows completed with no skipped list', async () => {
    const root = join(await tempDir('holdfast-clean-'), 'home');
    await mkdir(root);
    await writeFile(join(root, 'a.txt'), 'a');
    const agent = await makeAgent({ server, config: { backup: manualBackup([root]) } });
    await agent.register();
    const b = await runUnprivileged(agent, ['backup', '--quiet']);
    expect(b.code, b.output).toBe(0);
    expect(b.stdout).toMatch(/^Backup complete: snapshot/);
    const last = (await agent.status()).lastBackup as Record<string, unknown>;
    expect(last.outcome).toBe('completed');
    expect(last.skipped).toBeUndefined();
  });

  it('reach the service log, one line per path, and the service says completed with warnings', async () => {
    const root = await treeWithSkips(2);
    const agent = await makeAgent({ server, config: { backup: manualBackup([root]) } });
    await agent.register();
    const logFile = join(agent.dir, 'logs', 'agent.log');
    const svc = await runUnprivileged(agent, ['service', '--backup-now', '--once', '--log', logFile]);
    expect(svc.code, svc.output).toBe(0);
    expect(svc.stdout).toBe('');
    const log = await readFile(logFile, 'utf8');
    expect(log).toMatch(/backup warning: .*closed: EACCES/);
    expect(log).toMatch(/backup warning: .*locked-001\.bin: EACCES/);
    expect(log).toMatch(/backup warning: .*red\\x1b\[31mname: EACCES/);
    expect(log).not.toContain('\x1b');
    expect(log).toMatch(/backup completed with warnings: snapshot \S+, 2 files, .*; 3 warning\(s\), 3 path\(s\) skipped \(status lists them\)/);
    expect(log).not.toMatch(/backup complete:/);
  });

  it('the service log rotates by size: at most --log-files files of at most --log-max-bytes each', async () => {
    const root = await treeWithSkips(60);
    const agent = await makeAgent({ server, config: { backup: manualBackup([root]) } });
    await agent.register();
    const logDir = join(agent.dir, 'logs');
    const logFile = join(logDir, 'agent.log');
    const args = ['service', '--backup-now', '--once', '--log', logFile, '--log-max-bytes', '2048', '--log-files', '3'];
    const svc = await runUnprivileged(agent, args);
    expect(svc.code, svc.output).toBe(0);
    expect((await readdir(logDir)).sort()).toEqual(['agent.log', 'agent.log.1', 'agent.log.2']);
    for (const f of await readdir(logDir)) expect((await stat(join(logDir, f))).size, f).toBeLessThanOrEqual(2048);
    // The newest lines are in agent.log; the oldest rotated away (60 warnings of ~150 bytes do not fit 3 × 2 KiB).
    expect(await readFile(logFile, 'utf8')).toMatch(/service finished\n$/);
    const kept = (await Promise.all(['agent.log.2', 'agent.log.1', 'agent.log'].map((f) => readFile(join(logDir, f), 'utf8')))).join('');
    expect(kept).not.toContain('service started');
    expect(kept).toMatch(/backup completed with warnings/);

    const bad = await runUnprivileged(agent, ['service', '--once', '--log', logFile, '--log-files', '0']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--log-files "0": expected a whole number from 1 to 100');
  });
});
