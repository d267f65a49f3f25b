// The background service as the Windows service / LaunchDaemon runs it: registers when needed, checks in
// (applying pushed address updates), backs up, and stops cleanly on SIGTERM.
import { beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeAgent, manualBackup } from './helpers/agent.js';
import { makeSampleTree } from './helpers/sample.js';
import { runServerCli, tempDir, TEST_TECHNICIAN_ID, useTestServer } from './helpers/server.js';
import { nextBackupDue, previousSlot } from '../agent/schedule.js';

const server = useTestServer();
let sample: string;

beforeAll(async () => {
  sample = join(await tempDir('holdfast-sample-'), 'home');
  await makeSampleTree(sample, 4, 50_000);
});

describe('agent service', () => {
  it('registers an unregistered agent, backs up, and exits 0 on SIGTERM; logs carry no Technician ID', async () => {
    const agent = await makeAgent({ server, config: { backup: manualBackup([sample]) } });
    const svc = agent.spawn(['service', '--backup-now']);
    await svc.waitForOutput(/backup complete: snapshot \S+/, 60_000);
    expect(svc.output()).toMatch(/registered as new device dev-[0-9a-f]{24}/);
    const status = await agent.status();
    expect(status.registered).toBe(true);
    expect(typeof status.lastSuccessfulBackup).toBe('string');
    await svc.stop();
    expect((await svc.exited).code).toBe(0);
    expect(svc.output()).toMatch(/SIGTERM received, stopping[\s\S]*service stopped/);
    expect(svc.output()).not.toContain(TEST_TECHNICIAN_ID);
  });

  it('applies an address update at check-in and persists it', async () => {
    const agent = await makeAgent({ server, config: { backup: manualBackup([sample]) } });
    const deviceId = await agent.register();
    // The new pair must be reachable for later sessions; the server's own addresses swapped will do.
    const swapped = { primary: server.addresses[1], alternate: server.addresses[0] };
    expect(
      (await runServerCli(['reassign', '--data', server.dataDir, '--device', deviceId, '--primary', swapped.primary, '--alternate', swapped.alternate])).code,
    ).toBe(0);
    const svc = agent.spawn(['service']);
    await svc.waitForOutput(new RegExp(`checked in with .*; servers ${swapped.primary} / ${swapped.alternate}`));
    expect(svc.output()).toContain(`server assigned a new backup-server pair: primary ${swapped.primary}, alternate ${swapped.alternate}`);
    const stored = JSON.parse(await readFile(join(agent.stateDir, 'registration.json'), 'utf8'));
    expect(stored.servers).toEqual(swapped);
    // Manual schedule: nothing more to do; SIGTERM while idle stops it at once.
    await svc.stop();
    expect((await svc.exited).code).toBe(0);
    expect(svc.output()).not.toMatch(/backup started/);
  });

  it('a missing config is a clear error and a non-zero exit', async () => {
    const agent = await makeAgent({ server });
    const r = await agent.run(['service', '--once', '--config', join(agent.dir, 'nope.json')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/nope\.json.*no agent config here \(chosen by --config\)/s);
  });
});

describe('schedule', () => {
  const at = (s: string) => new Date(s);
  it('daily: due now when the last slot was missed, else at the next slot', () => {
    const sched = { frequency: 'daily' as const, at: '02:00' };
    const now = at('2026-11-25T10:00:00');
    expect(previousSlot(sched, now)).toEqual(at('2026-11-25T02:00:00'));
    expect(nextBackupDue(sched, undefined, now)).toEqual(now);
    expect(nextBackupDue(sched, at('2026-11-24T02:00:05'), now)).toEqual(now);
    expect(nextBackupDue(sched, at('2026-11-25T02:00:05'), now)).toEqual(at('2026-11-26T02:00:00'));
  });
  it('hourly and weekly slots; manual never', () => {
    expect(previousSlot({ frequency: 'hourly', at: '00:15' }, at('2026-11-25T10:05:00'))).toEqual(at('2026-11-25T09:15:00'));
    // 2026-11-25 is a Wednesday.
    expect(previousSlot({ frequency: 'weekly', at: '03:00', day: 'mon' }, at('2026-11-25T10:00:00'))).toEqual(at('2026-11-23T03:00:00'));
    expect(previousSlot({ frequency: 'weekly', at: '12:00', day: 'wed' }, at('2026-11-25T10:00:00'))).toEqual(at('2026-11-18T12:00:00'));
    expect(nextBackupDue({ frequency: 'manual', at: '00:00' }, undefined, at('2026-11-25T10:00:00'))).toBeUndefined();
  });
});
