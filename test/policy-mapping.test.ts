// agent/policy.ts and agent/config.ts: `reg query` output parsing, mapping onto the agent config with precedence over the file,
// clear errors for bad policy values (never echoing the Technician ID), and no process spawn off Windows.
import { describe, expect, it } from 'vitest';

import { withPolicyOverrides } from '../agent/config.js';
import { policyTestConfig } from './helpers/policy-config.js';
import { PolicyError, parseRegQuery, policyKey, policyOverrides, readPolicyOverrides } from '../agent/policy.js';

const config = policyTestConfig;

// What reg.exe prints for `reg query "HKLM\Software\Policies\ACME IT\ACME Backup" /s`.
const regOutput = [
  '',
  'HKEY_LOCAL_MACHINE\\Software\\Policies\\ACME IT\\ACME Backup',
  '    TechnicianId    REG_SZ    GPO-TECH-0042',
  '    RegistrationPrimary    REG_SZ    10.0.0.5:16384',
  '    ProxyType    REG_SZ    http',
  '    ProxyHost    REG_SZ    gw.acme.example',
  '    ProxyPort    REG_DWORD    0xc38',
  '    ScheduleFrequency    REG_SZ    weekly',
  '    ScheduleAt    REG_SZ    03:15',
  '    ScheduleDay    REG_SZ    sun',
  '',
  'HKEY_LOCAL_MACHINE\\Software\\Policies\\ACME IT\\ACME Backup\\Exclusions',
  '    2    REG_SZ    **/*.iso',
  '    1    REG_SZ    C:\\Users\\*\\Videos    with spaces',
  '',
].join('\r\n');

describe('agent policy (GPO) overrides', () => {
  it('parses reg query output and maps every policy onto the config, merged with the file values', () => {
    const tree = parseRegQuery(regOutput);
    expect(tree.get('HKEY_LOCAL_MACHINE\\Software\\Policies\\ACME IT\\ACME Backup')!.get('ProxyPort')).toEqual({ type: 'REG_DWORD', value: 3128 });
    const overrides = policyOverrides(tree, config);
    expect(overrides).toEqual({
      technicianId: 'GPO-TECH-0042',
      registration: { primary: '10.0.0.5:16384', alternate: '66.151.228.10:16384' },
      proxy: { type: 'http', host: 'gw.acme.example', port: 3128, username: 'file-user', password: 'file-pass' },
      backup: {
        include: [],
        exclude: ['C:\\Users\\*\\Videos    with spaces', '**/*.iso'],
        protectedPaths: ['~/Finance'],
        schedule: { frequency: 'weekly', at: '03:15', day: 'sun' },
      },
    });
    // Laid over the file by the agent's own merge (agent/config.ts): policy wins, the rest of the file stays.
    const effective = withPolicyOverrides(config, overrides, 'agent.json');
    expect(effective.technicianId).toBe('GPO-TECH-0042');
    expect(effective.tlsPin).toBe(config.tlsPin);
    expect(effective.backup.protectedPaths).toEqual(['~/Finance']);
  });

  it('proxy type none drops the file proxy; no policy key means no overrides', () => {
    const none = parseRegQuery('HKEY_LOCAL_MACHINE\\Software\\Policies\\ACME IT\\ACME Backup\r\n    ProxyType    REG_SZ    none\r\n');
    expect(policyOverrides(none, config)).toEqual({ proxy: { type: 'none' } });
    expect(policyOverrides(parseRegQuery(''), config)).toEqual({});
    const otherProduct = parseRegQuery('HKEY_LOCAL_MACHINE\\Software\\Policies\\Other\\Thing\r\n    TechnicianId    REG_SZ    OTHER-0001\r\n');
    expect(policyOverrides(otherProduct, config)).toEqual({});
    expect(policyKey('ACME IT', 'ACME Backup')).toBe('HKLM\\Software\\Policies\\ACME IT\\ACME Backup');
  });

  it('rejects bad policy values naming the value, what was found and what is allowed; never echoes the Technician ID', () => {
    const key = 'HKEY_LOCAL_MACHINE\\Software\\Policies\\ACME IT\\ACME Backup';
    expect(() => policyOverrides(parseRegQuery(`${key}\r\n    ProxyType    REG_SZ    ftp\r\n`), config)).toThrow(
      /ProxyType: "ftp" is not allowed; expected one of none, socks4, socks4a, socks5, http/,
    );
    expect(() => policyOverrides(parseRegQuery(`${key}\r\n    ProxyPort    REG_DWORD    0x0\r\n`), config)).toThrow(
      /ProxyPort: "0" is not allowed; expected an integer from 1 to 65535/,
    );
    expect(() => policyOverrides(parseRegQuery(`${key}\r\n    ScheduleAt    REG_SZ    25:99\r\n`), config)).toThrow(/ScheduleAt: "25:99" is not allowed/);
    const secret = 'BAD SECRET $(x)';
    const err = (() => {
      try {
        policyOverrides(parseRegQuery(`${key}\r\n    TechnicianId    REG_SZ    ${secret}\r\n`), config);
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(PolicyError);
    expect(err!.message).toMatch(/TechnicianId: \(hidden secret\) is not allowed/);
    expect(err!.message).not.toContain('BAD SECRET');
  });

  it('returns {} off Windows at once, without spawning reg (which does not exist here)', async () => {
    const started = performance.now();
    for (let i = 0; i < 1000; i++) expect(await readPolicyOverrides(config, 'linux')).toEqual({});
    expect(await readPolicyOverrides(config, 'darwin')).toEqual({});
    // 1000 calls well under a second: no child process per call.
    expect(performance.now() - started).toBeLessThan(1000);
    // On "win32" without reg.exe the spawn is attempted and fails clearly: proof the platform gate is what skips it.
    await expect(readPolicyOverrides(config, 'win32')).rejects.toThrow(/reg\.exe was not found|cannot read group policy/);
  });
});
