// agent.json has one contract, agent/agent-config.schema.json, checked by the same Ajv set-up as fleet files
// (common/json-schema.ts); the fleet schema reuses its definitions, and every list of proxy types, schedule
// frequencies and days in code and templates is read from it.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

import { AgentConfigError, validateAgentConfig } from '../agent/config.js';
import type { AgentProxyType, AgentSchedule } from '../agent/config-types.js';
import { agentConfigSchema, PROXY_TYPE_LABELS, PROXY_TYPES, SCHEDULE_DAY_LABELS, SCHEDULE_DAYS, SCHEDULE_FREQUENCIES } from '../agent/config-schema.js';
import { PolicyError, parseRegQuery, policyOverrides } from '../agent/policy.js';
import { renderGpoFiles } from '../deployer/targets/gpo.js';
import { agentConfigFromFleet } from '../fleet/agent-config.js';
import { type FleetValidationError, fleetSchema, listFleetFiles, loadFleet, parseFleet } from '../fleet/load.js';
import { agentBin, repoRoot } from './helpers/paths.js';
import { runProcess } from './helpers/process.js';
import { tempDir } from './helpers/server.js';

const good = {
  registration: { primary: '12.159.133.10:16384', alternate: '[2001:db8::10]:16384' },
  tlsPin: `${'AB:'.repeat(31)}AB`,
};

function issuesOf(raw: unknown): AgentConfigError['issues'] {
  try {
    validateAgentConfig(raw, 'agent.json');
  } catch (err) {
    if (err instanceof AgentConfigError) return err.issues;
    throw err;
  }
  return [];
}

describe('agent config schema', () => {
  it('fills in the defaults without changing its input', () => {
    const raw = structuredClone(good);
    expect(validateAgentConfig(raw, 'agent.json')).toEqual({
      ...good,
      proxy: { type: 'none' },
      backup: { include: [], exclude: [], protectedPaths: [], schedule: { frequency: 'manual', at: '00:00' } },
    });
    expect(raw).toEqual(good);
  });

  it('errors read like fleet errors: path, value (secrets masked), what is allowed; unknown fields are named', () => {
    const issues = issuesOf({
      ...good,
      technicianId: 'no spaces allowed',
      proxy: { type: 'http', host: '10.0.0.1', port: 8080, username: 'u', password: 'hunter2\u0001' },
      backup: { exclude: ['ok', ''], schedule: { frequency: 'weekly', at: '09:00', day: 'someday' } },
      registraton: {},
    });
    const byPath = Object.fromEntries(issues.map((i) => [i.path, i]));
    expect(Object.keys(byPath).sort()).toEqual(['/backup/exclude/1', '/backup/schedule/day', '/proxy/password', '/registraton', '/technicianId']);
    expect(byPath['/technicianId']).toMatchObject({
      value: '(hidden secret)',
      message: "/technicianId: (hidden secret) is not allowed; expected 4-64 letters, digits or '-'",
    });
    expect(byPath['/proxy/password'].value).toBe('(hidden secret)');
    expect(byPath['/backup/schedule/day'].message).toBe('/backup/schedule/day: "someday" is not allowed; expected one of mon, tue, wed, thu, fri, sat, sun');
    expect(byPath['/backup/exclude/1'].allowed).toMatch(/1-1024 characters/);
    expect(byPath['/registraton'].message).toMatch(/^\/registraton: unknown field; allowed here: fleet, technicianId, registration, tlsPin/);
    const text = JSON.stringify(issues);
    expect(text).not.toContain('no spaces allowed');
    expect(text).not.toContain('hunter2');
  });

  it('what the installers write from every example fleet is what the agent accepts', async () => {
    const files = await listFleetFiles(join(repoRoot, 'examples', 'fleets'));
    expect(files.length).toBeGreaterThan(1);
    for (const file of files) {
      const loaded = await loadFleet(file);
      const config = await agentConfigFromFleet(loaded, { technicianId: 'TECH-0001', proxyPassword: 'proxy-pass' });
      expect(validateAgentConfig(config, file)).toMatchObject({ registration: loaded.fleet.registration, proxy: { type: loaded.fleet.proxy.type } });
    }
    // A secret from the environment, which the fleet schema never saw, is checked before an installer carries it.
    const acme = await loadFleet(join(repoRoot, 'examples/fleets/acme.fleet.json'));
    await expect(agentConfigFromFleet(acme, { technicianId: 'pasted with spaces' })).rejects.toThrow(
      /\/technicianId: \(hidden secret\) is not allowed; expected 4-64 letters, digits or '-'/,
    );
  });

  it('the fleet schema uses the agent definitions: a fleet is refused with the agent schema’s words', () => {
    const fleetText = JSON.stringify(fleetSchema);
    expect(fleetText).not.toContain('"enum"');
    expect(fleetText).toContain('../agent/agent-config.schema.json#/definitions/proxyType');
    return readFile(join(repoRoot, 'examples/fleets/demo.fleet.json'), 'utf8').then((text) => {
      const fleet = JSON.parse(text);
      fleet.proxy = { type: 'socks6', host: '10.0.0.1', port: 1080 };
      fleet.backup.schedule = { frequency: 'fortnightly' };
      let err: FleetValidationError | undefined;
      try {
        parseFleet(JSON.stringify(fleet), 'demo.fleet.json');
      } catch (e) {
        err = e as FleetValidationError;
      }
      expect(err!.message).toContain('/proxy/type: "socks6" is not allowed; expected one of none, socks4, socks4a, socks5, http');
      expect(err!.message).toContain('/backup/schedule/frequency: "fortnightly" is not allowed; expected one of manual, hourly, daily, weekly');
    });
  });

  it('the TypeScript unions name exactly the schema enums, and every enum value has a display name', () => {
    // A Record over each union fails to compile when the union gains or loses a value; the runtime lists come from the schema.
    const proxyTypes: Record<AgentProxyType, true> = { none: true, socks4: true, socks4a: true, socks5: true, http: true };
    const frequencies: Record<AgentSchedule['frequency'], true> = { manual: true, hourly: true, daily: true, weekly: true };
    const days: Record<NonNullable<AgentSchedule['day']>, true> = { mon: true, tue: true, wed: true, thu: true, fri: true, sat: true, sun: true };
    expect([...PROXY_TYPES]).toEqual(Object.keys(proxyTypes));
    expect([...SCHEDULE_FREQUENCIES]).toEqual(Object.keys(frequencies));
    expect([...SCHEDULE_DAYS]).toEqual(Object.keys(days));
    expect(Object.keys(PROXY_TYPE_LABELS)).toEqual([...PROXY_TYPES]);
    expect(Object.keys(SCHEDULE_DAY_LABELS)).toEqual([...SCHEDULE_DAYS]);
    expect(agentConfigSchema.$id).toBe('https://holdfast.invalid/agent/agent-config.schema.json');
  });

  it('group policy and the GPO templates use the schema lists', async () => {
    const config = validateAgentConfig({ ...good, policy: { vendor: 'V', product: 'P' } }, 'agent.json');
    const key = 'HKEY_LOCAL_MACHINE\\Software\\Policies\\V\\P';
    const err = (() => {
      try {
        policyOverrides(parseRegQuery(`${key}\r\n    ScheduleDay    REG_SZ    someday\r\n`), config);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(PolicyError);
    expect(err!.message).toContain(`expected one of ${SCHEDULE_DAYS.join(', ')}`);
    const loaded = await loadFleet(join(repoRoot, 'examples/fleets/acme.fleet.json'));
    const files = renderGpoFiles(loaded.fleet);
    const admx = Object.entries(files).find(([n]) => n.endsWith('.admx'))![1];
    const adml = Object.entries(files).find(([n]) => n.endsWith('.adml'))![1];
    const enumValues = (id: string) =>
      [...new RegExp(`<enum id="${id}"[\\s\\S]*?</enum>`).exec(admx)![0].matchAll(/<string>([^<]+)<\/string>/g)].map((m) => m[1]);
    expect(enumValues('ProxyType')).toEqual([...PROXY_TYPES]);
    expect(enumValues('ScheduleFrequency')).toEqual([...SCHEDULE_FREQUENCIES]);
    expect(enumValues('ScheduleDay')).toEqual([...SCHEDULE_DAYS]);
    for (const day of SCHEDULE_DAYS) expect(adml).toContain(`<string id="ScheduleDay_${day}">${SCHEDULE_DAY_LABELS[day]}</string>`);
    expect(adml).toContain('through a SOCKS4, SOCKS4a, SOCKS5 or HTTP CONNECT proxy');
  });

  it('the bundled agent checks with validators generated at build time: same messages, no Ajv compiler shipped', async () => {
    const dir = await tempDir();
    const bad = { ...good, registration: { ...good.registration, primary: 'backup.example.com:1' }, proxy: { type: 'gopher' }, technicianId: 'x' };
    await writeFile(join(dir, 'agent.json'), JSON.stringify(bad));
    const r = await runProcess(process.execPath, [agentBin, 'status', '--config', join(dir, 'agent.json')]);
    expect(r.code).not.toBe(0);
    const expected = issuesOf(bad).map((i) => `  ${i.message}`);
    expect(expected.length).toBeGreaterThan(2);
    expect(r.stderr.split('\n').filter((l) => l.startsWith('  /'))).toEqual(expected);
    const bundle = await readFile(agentBin, 'utf8');
    expect(bundle).not.toContain('node_modules/ajv/dist/core.js');
  });

  it('no source file or template spells out one of these lists again', async () => {
    const lists = [PROXY_TYPES, SCHEDULE_FREQUENCIES, SCHEDULE_DAYS];
    // Two neighbouring values as quoted list items or union members ('a', 'b' / "a", "b" / 'a' | 'b'), or two
    // neighbouring display names in prose ("SOCKS4, SOCKS4a").
    const patterns = lists.flatMap((values) => values.slice(1).map((v, i) => new RegExp(`['"\`]${values[i]}['"\`]\\s*[,|]\\s*['"\`]${v}['"\`]`)));
    const labelLists = [PROXY_TYPES.map((t) => PROXY_TYPE_LABELS[t]), SCHEDULE_DAYS.map((d) => SCHEDULE_DAY_LABELS[d])];
    for (const labels of labelLists) patterns.push(...labels.slice(2).map((l, i) => new RegExp(`\\b${labels[i + 1]}, ${l}\\b`)));
    const allowed = new Set(['agent/agent-config.schema.json', 'agent/config-types.ts']);
    const found: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        if (['node_modules', 'dist', '.git', 'test', 'docs', '.tools'].includes(e.name)) continue;
        const path = join(dir, e.name);
        if (e.isDirectory()) await walk(path);
        else if (/\.(ts|mts|mjs|hbs|json)$/.test(e.name) && !allowed.has(relative(repoRoot, path)) && !e.name.startsWith('package')) {
          const text = await readFile(path, 'utf8');
          for (const p of patterns) if (p.test(text)) found.push(`${relative(repoRoot, path)}: ${p.source}`);
        }
      }
    };
    await walk(repoRoot);
    expect(found).toEqual([]);
  });
});
