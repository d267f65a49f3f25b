// Service recovery in the MSI: the failure actions wixl cannot write (MsiServiceConfigFailureActions + MsiConfigureServices,
// and the sc.exe action Microsoft recommends instead), checked in the tables; then under Wine: the install runs
// `sc.exe failure` for the fleet's service, a killed agent process comes back (the wrapper restarts it), and what Wine's
// service manager does with a killed service process (nothing: evidence for docs/msi.md).
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFleets } from '../deployer/generate.js';
import { nodeRuntime } from '../installers/runtimes.js';
import { column, exportTable } from '../installers/win/msi-tables.js';
import { RESET_PERIOD_SECONDS, RESTART_DELAYS_MS } from '../installers/win/service-recovery.js';
import { repoRoot } from './helpers/paths.js';
import { tempDir } from './helpers/server.js';
import { createWinePrefix, type WinePrefix } from './helpers/wine.js';

const PRODUCT = 'Recovery QA';
const SERVICE = 'RecoveryQA';
let work: string;
let msi: string;
let wine: WinePrefix | undefined;
let keepAlive: ChildProcess | undefined;

beforeAll(async () => {
  work = await tempDir('holdfast-msi-recovery-');
  process.env.HOLDFAST_RUNTIME_WIN_X64 ??= await nodeRuntime('win-x64');
  const demo = JSON.parse(await readFile(join(repoRoot, 'examples/fleets/demo.fleet.json'), 'utf8'));
  const dir = join(work, 'fleet');
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'recovery.fleet.json');
  const fleet = {
    ...demo,
    $schema: undefined,
    fleet: 'recovery',
    technicianId: 'RECOVERY-TECH-01',
    branding: { vendor: 'Holdfast', product: PRODUCT, upgradeCode: randomUUID() },
  };
  await writeFile(file, JSON.stringify(fleet, null, 2));
  const result = await generateFleets([file], { outDir: join(work, 'out'), cacheDir: join(work, 'cache'), targets: ['msi'], env: {} });
  msi = join(result.fleets[0].outDir, 'holdfast-recovery.msi');
}, 300_000);

afterAll(async () => {
  keepAlive?.kill();
  await wine?.close();
  await rm(work, { recursive: true, force: true });
});

const cells = (t: Awaited<ReturnType<typeof exportTable>>, row: string[]) => Object.fromEntries(t.columns.map((c, i) => [c, row[i]]));

/** PIDs and command lines of this prefix's processes (Wine shows the Windows command line as the Linux argv). */
function processes(prefix: string): Array<{ pid: number; cmdline: string }> {
  const marker = Buffer.from(`\0WINEPREFIX=${prefix}\0`);
  const found: Array<{ pid: number; cmdline: string }> = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      if (!Buffer.concat([Buffer.from([0]), readFileSync(`/proc/${pid}/environ`)]).includes(marker)) continue;
      // A process still being loaded shows the loader first ("/usr/lib/wine/wine64 C:\..."): compare the Windows part.
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        .replace(/\0/g, ' ')
        .trim()
        .replace(/^\/\S*wine\S*\s+/, '');
      found.push({ pid: Number(pid), cmdline });
    } catch {
      // Ended meanwhile.
    }
  }
  return found;
}

// The wrapper's own command line names node.exe and the agent too (after " -- "): tell them apart by the program.
const wrapperProcess = (prefix: string) => processes(prefix).find((p) => /holdfast-service\.exe --log/.test(p.cmdline));
const agentProcess = (prefix: string) =>
  processes(prefix).find((p) => !/holdfast-service\.exe/.test(p.cmdline) && /node\.exe .*holdfast-agent\.mjs service/.test(p.cmdline));

async function until<T>(what: string, probe: () => T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = probe();
    if (got) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; processes: ${JSON.stringify(wine && processes(wine.dir))}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('service recovery in the MSI tables', () => {
  it('restart on failure: a MsiServiceConfigFailureActions row, MsiConfigureServices and the sc.exe action between InstallServices and StartServices', async () => {
    const [actions, seq, ca, prop] = await Promise.all(
      ['MsiServiceConfigFailureActions', 'InstallExecuteSequence', 'CustomAction', 'Property'].map((t) => exportTable(msi, t)),
    );
    expect(actions.rows.map((r) => cells(actions, r))).toEqual([
      {
        MsiServiceConfigFailureActions: 'HF_RestartOnFailure',
        Name: SERVICE,
        Event: '1',
        ResetPeriod: String(RESET_PERIOD_SECONDS),
        RebootMessage: '',
        Command: '',
        Actions: '1[~]1[~]1',
        DelayActions: '5000[~]30000[~]60000',
        Component_: 'ServiceComponent',
      },
    ]);
    const at = (action: string) => Number(seq.rows.find((r) => r[column(seq, 'Action')] === action)?.[column(seq, 'Sequence')]);
    expect(at('InstallServices')).toBeLessThan(at('MsiConfigureServices'));
    expect(at('MsiConfigureServices')).toBeLessThan(at('HF_ServiceRecovery'));
    expect(at('HF_ServiceRecovery')).toBeLessThan(at('StartServices'));
    const recovery = cells(ca, ca.rows.find((r) => r[0] === 'HF_ServiceRecovery')!);
    // Deferred (0x400), as SYSTEM (0x800), exit code ignored (64), exe by command line (34).
    expect(Number(recovery.Type)).toBe(34 | 0x400 | 0x800 | 64);
    expect(recovery.Target).toBe('"[System64Folder]sc.exe" failure "[HF_SERVICENAME]" reset= 86400 actions= restart/5000/restart/30000/restart/60000');
    expect(prop.rows.find((r) => r[0] === 'HF_SERVICENAME')?.[1]).toBe(SERVICE);
    expect(RESTART_DELAYS_MS).toEqual([5000, 30000, 60000]);
  });
});

describe('service recovery under Wine', () => {
  it('the install runs sc.exe failure for the service; Wine skips MsiConfigureServices and keeps no failure actions', async () => {
    wine = await createWinePrefix({ parentDir: work });
    const recorder = wine.recordCommandLines();
    const r = await wine.msiexec(['/i', wine.toWindows(msi), '/qn']);
    const seen = recorder.stop();
    expect(r.code, r.log.slice(-3000)).toBe(0);
    expect(seen).toContainEqual(
      expect.stringMatching(new RegExp(`system32\\\\sc\\.exe"? failure "?${SERVICE}"? reset= 86400 actions= restart/5000/restart/30000/restart/60000$`, 'i')),
    );
    // Wine 8's msi has no MsiConfigureServices ("unhandled msi action" on WINEDEBUG=warn+msi): return value 0 = not run.
    expect(r.log).toMatch(/Action ended [^\n]*: MsiConfigureServices\. Return value 0\./);
    expect(r.log).toMatch(/Action ended [^\n]*: HF_ServiceRecovery\. Return value 1\./);
    // Windows would store the actions as the service's FailureActions value; Wine's sc.exe accepts `failure` and stores nothing.
    const values = await wine.regValues(`HKEY_LOCAL_MACHINE\\System\\CurrentControlSet\\Services\\${SERVICE}`);
    expect(values?.ObjectName).toBe('LocalSystem');
    expect(Object.keys(values ?? {})).not.toContain('FailureActions');
    expect(await wine.serviceState(SERVICE)).toBe('RUNNING');
  }, 600_000);

  it('a killed agent process comes back: the service wrapper restarts node.exe and logs why', async () => {
    const prefix = wine!.dir;
    // Wine runs services as "system" processes and ends the session (services included) when the last other process
    // exits; the agent is that process here, so a console waiting on its stdin keeps the session up, as a logged-on
    // Windows machine would be.
    keepAlive = spawn('wine', ['cmd'], { env: wine!.env, stdio: ['pipe', 'ignore', 'ignore'] });
    const first = await until('the agent process', () => agentProcess(prefix));
    process.kill(first.pid, 'SIGKILL');
    const second = await until('a new agent process', () => {
      const p = agentProcess(prefix);
      return p && p.pid !== first.pid && p;
    });
    expect(second.cmdline).toBe(first.cmdline);
    const log = await readFile(wine!.fromWindows(`C:\\ProgramData\\Holdfast\\${PRODUCT}\\service.log`), 'utf8');
    expect(log).toMatch(/agent process exited with code \d+; restarting/);
    expect(await wine!.serviceState(SERVICE)).toBe('RUNNING');
  }, 120_000);

  it("Wine's service manager does not notice a killed service process, let alone restart it (Windows applies the failure actions)", async () => {
    const prefix = wine!.dir;
    const wrapper = await until('the service wrapper', () => wrapperProcess(prefix));
    process.kill(wrapper.pid, 'SIGKILL');
    // The wrapper's job object takes the agent with it.
    await until('the agent process to end with its wrapper', () => !agentProcess(prefix) && true);
    // An observation window, not a synchronisation: three times the first restart delay, in which Windows would restart it.
    await new Promise((r) => setTimeout(r, 3 * RESTART_DELAYS_MS[0]));
    expect(wrapperProcess(prefix)).toBeUndefined();
    expect(agentProcess(prefix)).toBeUndefined();
    // If Wine ever honours failure actions, this fails: then assert the restart instead.
    expect(await wine!.serviceState(SERVICE)).toBe('RUNNING');
  }, 120_000);
});
