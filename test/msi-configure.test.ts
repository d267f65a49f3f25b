// `holdfast-agent configure`, the MSI's install-time config writer, run on Linux: precedence (given > earlier
// install > fleet default), secrets never printed, ownership across upgrades, uninstall keeping the identity.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentBin, repoRoot } from './helpers/paths.js';
import { runProcess } from './helpers/process.js';
import { tempDir } from './helpers/server.js';

let dir: string;
const PIN = '6D:C4:F3:16:E4:ED:A5:DB:94:C1:03:A4:49:CA:FC:58:46:AB:63:9D:67:4B:6A:13:D1:57:06:16:78:8C:30:38';
const defaults = (over: Record<string, unknown> = {}) => ({
  fleet: 'demo',
  technicianId: 'FLEET-DEFAULT-0001',
  registration: { primary: '10.0.0.1:16384', alternate: '10.0.0.2:16384' },
  tlsPin: PIN,
  proxy: { type: 'none' },
  backup: { include: [], exclude: ['**/*.tmp'], protectedPaths: [], schedule: { frequency: 'daily', at: '02:00' } },
  ...over,
});
const configure = (...args: string[]) => runProcess(process.execPath, [agentBin, 'configure', ...args], { cwd: repoRoot });

async function setup(name: string, over: Record<string, unknown> = {}) {
  const d = join(dir, name);
  await mkdir(d, { recursive: true });
  const defaultsFile = join(d, 'fleet-defaults.json');
  await writeFile(defaultsFile, JSON.stringify(defaults(over)));
  return { d, defaultsFile, config: join(d, 'data', 'agent.json') };
}
const read = async (f: string) => JSON.parse(await readFile(f, 'utf8'));

beforeAll(async () => {
  dir = await tempDir('holdfast-configure-');
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('holdfast-agent configure', () => {
  it('writes agent.json from the fleet defaults with given values winning; empty values count as not given', async () => {
    const { defaultsFile, config } = await setup('first');
    const r = await configure(
      '--msi',
      '--owner',
      '{AAAA}',
      '--config',
      config,
      '--defaults',
      defaultsFile,
      '--set',
      'technicianId=GIVEN-SECRET-77',
      '--set',
      'registration.primary=127.0.0.1:4000',
      '--set',
      'registration.alternate=',
      '--set',
      'proxy.type=socks5',
      '--set',
      'proxy.host=10.9.9.9',
      '--set',
      'proxy.port=1080',
      '--set',
      'proxy.password=pw-SECRET-88',
    );
    expect(r.code, r.output).toBe(0);
    const c = await read(config);
    expect(c.technicianId).toBe('GIVEN-SECRET-77');
    expect(c.registration).toEqual({ primary: '127.0.0.1:4000', alternate: '10.0.0.2:16384' });
    expect(c.proxy).toEqual({ type: 'socks5', host: '10.9.9.9', port: 1080, password: 'pw-SECRET-88' });
    expect(r.stdout).toMatch(/technicianId: given \(secret\)/);
    expect(r.stdout).toMatch(/registration\.alternate: fleet default/);
    expect(r.output).not.toContain('GIVEN-SECRET-77');
    expect(r.output).not.toContain('pw-SECRET-88');
    expect(await read(join(config, '..', 'installer.json'))).toMatchObject({ owner: '{AAAA}' });
  });

  it('reads settings as name=value lines on stdin (how the MSI action passes them: no secret on a command line); --set wins', async () => {
    const { defaultsFile, config } = await setup('stdin');
    const secret = 'pw "quoted" & spaced=SECRET-55';
    const input = ['technicianId=STDIN-SECRET-66', 'registration.primary=127.0.0.1:4100', 'registration.alternate=', 'proxy.type=http', 'proxy.host=10.8.8.8']
      .concat(['proxy.port=3128', 'proxy.username=', `proxy.password=${secret}`, ''])
      .join('\r\n');
    const args = ['configure', '--msi', '--settings-stdin', '--config', config, '--defaults', defaultsFile, '--set', 'proxy.host=10.7.7.7'];
    const r = spawnSync(process.execPath, [agentBin, ...args], { cwd: repoRoot, input, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const c = await read(config);
    expect(c.technicianId).toBe('STDIN-SECRET-66');
    expect(c.registration).toEqual({ primary: '127.0.0.1:4100', alternate: '10.0.0.2:16384' });
    expect(c.proxy).toEqual({ type: 'http', host: '10.7.7.7', port: 3128, password: secret });
    expect(r.stdout).toMatch(/proxy\.password: given \(secret\)/);
    for (const text of [r.stdout + r.stderr, await readFile(join(config, '..', 'configure.log'), 'utf8')]) {
      expect(text).not.toContain('STDIN-SECRET-66');
      expect(text).not.toContain('SECRET-55');
    }
    // A secret holding a line break leaves a tail line that is no setting: refused by line number, never echoed.
    const broken = spawnSync(process.execPath, [agentBin, ...args], {
      cwd: repoRoot,
      input: 'technicianId=T-1\nproxy.password=first\nTAIL-SECRET-77\n',
      encoding: 'utf8',
    });
    expect(broken.status).not.toBe(0);
    expect(broken.stderr).toMatch(/settings line 3 \(stdin\) is not name=value with a name of technicianId, /);
    expect(broken.stderr + (await readFile(join(config, '..', 'configure.log'), 'utf8'))).not.toContain('TAIL-SECRET-77');
  });

  it('an upgrade keeps the settings of the first install but takes policy from the new fleet defaults', async () => {
    const { defaultsFile, config } = await setup('upgrade');
    expect(
      (await configure('--config', config, '--defaults', defaultsFile, '--set', 'technicianId=FIRST-INSTALL-1', '--set', 'registration.primary=127.0.0.1:5000'))
        .code,
    ).toBe(0);
    await writeFile(
      defaultsFile,
      JSON.stringify(
        defaults({
          technicianId: 'NEW-DEFAULT-2',
          registration: { primary: '10.1.1.1:16384', alternate: '10.1.1.2:16384' },
          backup: { include: [], exclude: ['**/*.bak'], protectedPaths: [], schedule: { frequency: 'hourly', at: '00:15' } },
        }),
      ),
    );
    const r = await configure(
      '--msi',
      '--config',
      config,
      '--defaults',
      defaultsFile,
      '--set',
      'technicianId=',
      '--set',
      'registration.alternate=127.0.0.1:5001',
    );
    expect(r.code, r.output).toBe(0);
    const c = await read(config);
    expect(c.technicianId).toBe('FIRST-INSTALL-1');
    expect(c.registration).toEqual({ primary: '127.0.0.1:5000', alternate: '127.0.0.1:5001' });
    expect(c.backup.exclude).toEqual(['**/*.bak']);
    expect(r.stdout).toMatch(/technicianId: previous install/);
  });

  it('fails without a Technician ID anywhere, and on invalid values, naming the field but not the secret', async () => {
    const { defaultsFile, config } = await setup('notech', { technicianId: undefined });
    const none = await configure('--config', config, '--defaults', defaultsFile);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/no Technician ID.*TECHNICIANID/);
    expect(existsSync(config)).toBe(false);
    const bad = await configure(
      '--msi',
      '--config',
      config,
      '--defaults',
      defaultsFile,
      '--set',
      'technicianId=T-1234',
      '--set',
      'registration.primary=backup.example.com:1',
      '--set',
      'proxy.type=gopher',
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/\/registration\/primary: "backup\.example\.com:1" is not allowed/);
    expect(bad.stderr).toMatch(/\/proxy\/type: "gopher" is not allowed/);
    expect(bad.stderr).not.toContain('T-1234');
    // As the MSI action, the reason is also kept beside the config (an MSI log cannot show it), without the secret.
    const log = await readFile(join(config, '..', 'configure.log'), 'utf8');
    expect(log).toMatch(/install failed: the resulting config is not valid/);
    expect(log).toMatch(/\/proxy\/type: "gopher" is not allowed/);
    expect(log).not.toContain('T-1234');
    const unknown = await configure('--config', config, '--defaults', defaultsFile, '--set', 'tlsPin=AA');
    expect(unknown.stderr).toMatch(/unknown setting "tlsPin"; allowed: technicianId, registration\.primary/);
  });

  it('uninstall removes config, log and state but keeps the identity when asked; a newer owner keeps everything', async () => {
    const { defaultsFile, config } = await setup('uninstall');
    expect((await configure('--owner', '{OLD}', '--config', config, '--defaults', defaultsFile)).code).toBe(0);
    const data = join(config, '..');
    const state = join(data, 'state');
    await mkdir(state, { recursive: true });
    for (const f of ['identity.json', 'registration.json', 'device.key', 'change-cache.bin', 'last-result.json']) await writeFile(join(state, f), '{}');
    // The agent's rotated service log and the service wrapper's log go too.
    for (const f of ['agent.log', 'agent.log.1', 'agent.log.4', 'service.log']) await writeFile(join(data, f), 'log');

    // An upgrade handed the config to a newer product: the older product's uninstall leaves it.
    await writeFile(join(data, 'installer.json'), JSON.stringify({ owner: '{NEW}' }));
    const skipped = await configure('--msi-uninstall', '--owner', '{OLD}', '--config', config, '--keep-identity', '1');
    expect(skipped.code).toBe(0);
    expect(skipped.stdout).toMatch(/belongs to \{NEW\}.*left in place/);
    expect(existsSync(config)).toBe(true);

    const r = await configure('--msi-uninstall', '--owner', '{new}', '--config', config, '--keep-identity', '1');
    expect(r.code, r.output).toBe(0);
    expect(existsSync(config)).toBe(false);
    for (const f of ['agent.log', 'agent.log.1', 'agent.log.4', 'service.log']) expect(existsSync(join(data, f)), f).toBe(false);
    expect(existsSync(join(data, 'installer.json'))).toBe(false);
    for (const f of ['identity.json', 'registration.json', 'device.key']) expect(existsSync(join(state, f)), f).toBe(true);
    for (const f of ['change-cache.bin', 'last-result.json']) expect(existsSync(join(state, f)), f).toBe(false);

    const gone = await configure('--uninstall', '--config', config, '--keep-identity', '0');
    expect(gone.code).toBe(0);
    expect(existsSync(data)).toBe(false);
  });
});
