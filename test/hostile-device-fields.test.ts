// Device-supplied fields on an admin's terminal: a host name with a newline must not forge a device line, and
// ANSI/OSC escapes, C1 controls and bidi overrides must not reach the terminal. The server refuses such names at
// registration (real server process), and `holdfast-server devices` shows whatever is already on disk (an older
// server stored names raw) with control characters escaped; `--json` stays exact.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openConnection } from '../agent/transport/index.js';
import { RemoteError, RpcConnection } from '../protocol/connection.js';
import { MessageType } from '../protocol/messages.js';
import { removeTempDirs, runServerCli, startTestServer, TEST_TECHNICIAN_ID, type TestServer } from './helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
  await removeTempDirs();
});

async function register(hostname: string, platform = 'linux-x64'): Promise<{ deviceId?: string; error?: RemoteError }> {
  const rpc = new RpcConnection(await openConnection(server.addresses[0], { tlsPin: server.pin }), server.addresses[0]);
  try {
    const r = await rpc.request(MessageType.REGISTER, {
      technicianId: TEST_TECHNICIAN_ID,
      identityId: randomBytes(16).toString('hex'),
      identitySecret: randomBytes(32).toString('hex'),
      hostname,
      platform,
    });
    return { deviceId: r.header.deviceId as string };
  } catch (err) {
    if (err instanceof RemoteError) return { error: err };
    throw err;
  } finally {
    rpc.close();
  }
}

const HOSTILE: Array<[string, string]> = [
  ['a newline forging a device line', 'pc-1\ndev-000000000000000000000000  forged  win32-x64  1.2.3.4:16384 / 1.2.3.4:16384  2020-01-01T00:00:00.000Z'],
  ['an ANSI colour and a cursor-up', 'pc-2\u001b[31mRED\u001b[1A\u001b[2K'],
  ['an OSC title and hyperlink', 'pc-3\u001b]0;pwned\u0007\u001b]8;;https://evil.example\u001b\\click\u001b]8;;\u001b\\'],
  ['a C1 CSI', 'pc-4\u009b31m'],
  ['a bidi override', 'pc-5\u202egpj.exe'],
  ['a carriage return', 'pc-6\rdev-overwritten'],
  ['DEL and a backspace', 'pc-7\u007f\u0008'],
];

describe('device-supplied fields', () => {
  it.each(HOSTILE)('a host name with %s is refused at registration, naming the field', async (_name, hostname) => {
    const r = await register(hostname);
    expect(r.error?.code).toBe('bad-request');
    expect(r.error?.message).toMatch(/^hostname is not allowed: expected at most 255 characters without control characters or bidi marks/);
  });

  it('a platform with an escape sequence is refused too', async () => {
    expect((await register('pc-ok', 'linux\u001b[2J')).error?.message).toMatch(/^platform is not allowed/);
  });

  it('Unicode host names register and are listed as they are', async () => {
    const names = ['Büro-PC-03', '会計-ノート', 'Δοκιμή', 'مكتب-1', 'pc 😀 long name'];
    for (const n of names) expect((await register(n)).deviceId).toMatch(/^dev-/);
    const list = await runServerCli(['devices', '--data', server.dataDir]);
    expect(list.code, list.output).toBe(0);
    for (const n of names) expect(list.stdout).toContain(`  ${n}  `);
  });

  it('names stored raw (by an older server) are listed one line per device with every control character escaped; --json is exact', async () => {
    // Devices as an older server left them: the host name exactly as the device sent it.
    const stored: string[] = [];
    for (const [, hostname] of HOSTILE) {
      const { deviceId } = await register(`placeholder-${stored.length}`, 'win32-x64');
      const file = join(server.dataDir, 'devices', deviceId!, 'device.json');
      const rec = JSON.parse(await readFile(file, 'utf8'));
      await writeFile(file, JSON.stringify({ ...rec, hostname, platform: `win32\u001b]0;x\u0007` }));
      stored.push(deviceId!);
    }
    const list = await runServerCli(['devices', '--data', server.dataDir]);
    expect(list.code, list.output).toBe(0);
    const lines = list.stdout.split('\n').filter(Boolean);
    const devices = (await runServerCli(['devices', '--data', server.dataDir, '--json'])).stdout;
    const records = JSON.parse(devices) as Array<{ deviceId: string; hostname: string; platform: string }>;
    // One line per device, each starting with its own id: nothing forged.
    expect(lines.length).toBe(records.length);
    expect(lines.map((l) => l.split('  ')[0])).toEqual(records.map((r) => r.deviceId));
    expect(lines.filter((l) => l.startsWith('dev-000000000000000000000000'))).toEqual([]);
    // Nothing a terminal acts on: no C0 (but the line ends), DEL, C1 or bidi controls.
    expect(list.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
    // Shown visibly instead.
    expect(list.stdout).toContain('pc-2\\x1b[31mRED\\x1b[1A\\x1b[2K');
    expect(list.stdout).toContain('pc-4\\x9b31m');
    expect(list.stdout).toContain('pc-5\\u{202e}gpj.exe');
    expect(list.stdout).toContain('pc-1\\ndev-000000000000000000000000');
    expect(list.stdout).toContain('win32\\x1b]0;x\\x07');
    // --json: the exact values, escaped only as JSON escapes them.
    for (const [i, [, hostname]] of HOSTILE.entries()) expect(records.find((r) => r.deviceId === stored[i])).toMatchObject({ hostname });
  });
});
