// Registration against a real server process: Technician ID -> device id + credential + assigned pair,
// stored by the agent; reinstall keeps the device; unknown ID and hostnames are clear errors.
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeAgent } from './helpers/agent.js';
import { startTestServer, TEST_TECHNICIAN_ID, useTestServer } from './helpers/server.js';

const server = useTestServer();

describe('registration', () => {
  it('registers with the Technician ID, stores device id, credential and the assigned pair; status reports it', async () => {
    const agent = await makeAgent({ server });
    const before = await agent.status();
    expect(before).toMatchObject({
      registered: false,
      deviceId: null,
      servers: null,
      lastSuccessfulBackup: null,
      lastBackup: null,
      lastError: null,
      fleet: 'test',
    });
    expect(typeof before.version).toBe('string');

    const r = await agent.run(['register']);
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toMatch(/registered as new device dev-[0-9a-f]{24}/);

    const reg = JSON.parse(await readFile(join(agent.stateDir, 'registration.json'), 'utf8'));
    expect(reg.deviceId).toMatch(/^dev-[0-9a-f]{24}$/);
    expect(reg.credential.length).toBeGreaterThanOrEqual(40);
    expect(reg.servers).toEqual({ primary: server.addresses[0], alternate: server.addresses[1] });

    const status = await agent.status();
    expect(status).toMatchObject({ registered: true, deviceId: reg.deviceId, servers: reg.servers });

    // The server keeps only hashes: neither the credential nor the Technician ID is in its files.
    const deviceJson = await readFile(join(server.dataDir, 'devices', reg.deviceId, 'device.json'), 'utf8');
    expect(deviceJson).not.toContain(reg.credential);
    expect(deviceJson).not.toContain(TEST_TECHNICIAN_ID);

    // A second register is a no-op that says so.
    const again = await agent.run(['register']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`already registered as device ${reg.deviceId}`);
  });

  it('reinstall with the same identity file gets the same device (no second device); a new identity gets a new one', async () => {
    const agent = await makeAgent({ server });
    expect((await agent.run(['register'])).code).toBe(0);
    const first = JSON.parse(await readFile(join(agent.stateDir, 'registration.json'), 'utf8'));
    const devicesBefore = (await readdir(join(server.dataDir, 'devices'))).length;

    // Reinstall: the uninstaller kept the identity, the registration is gone.
    await rm(join(agent.stateDir, 'registration.json'));
    const r = await agent.run(['register', '--json']);
    expect(r.code, r.output).toBe(0);
    const second = JSON.parse(r.stdout);
    expect(second).toMatchObject({ deviceId: first.deviceId, existingDevice: true, alreadyRegistered: false });
    expect((await readdir(join(server.dataDir, 'devices'))).length).toBe(devicesBefore);
    // The old credential was replaced.
    const reg2 = JSON.parse(await readFile(join(agent.stateDir, 'registration.json'), 'utf8'));
    expect(reg2.credential).not.toBe(first.credential);

    const other = await makeAgent({ server });
    const o = await other.run(['register', '--json']);
    expect(o.code, o.output).toBe(0);
    expect(JSON.parse(o.stdout).deviceId).not.toBe(first.deviceId);
    expect((await readdir(join(server.dataDir, 'devices'))).length).toBe(devicesBefore + 1);
  });

  it('an unknown Technician ID is a clear error, exits non-zero, stores nothing and never echoes the ID', async () => {
    const wrongId = 'WRONG-TECH-ZZ9-PLURAL-Z-ALPHA';
    const agent = await makeAgent({ server, technicianId: wrongId });
    const r = await agent.run(['register']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/does not know this Technician ID/);
    expect(r.output).not.toContain(wrongId);
    expect(server.output()).not.toContain(wrongId);
    expect(existsSync(agent.stateDir) ? await readdir(agent.stateDir) : []).toEqual([]);
  });

  it('falls back to the alternate registration server when the primary is down', async () => {
    const agent = await makeAgent({ server, registration: { primary: '127.0.0.1:1', alternate: server.addresses[1] } });
    const r = await agent.run(['register']);
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toContain(`via ${server.addresses[1]}`);
  });

  it('rejects host names in the registration pair: agents connect by IP, no DNS', async () => {
    const agent = await makeAgent({ server, registration: { primary: 'backup.example.com:16384', alternate: server.addresses[1] } });
    const r = await agent.run(['register']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('/registration/primary');
    expect(r.stderr).toContain('"backup.example.com" is not an IP address (agents connect by IP, no DNS)');
  });

  it('a certificate pin mismatch is a clear error naming the pin check', async () => {
    const wrongPin = Array.from({ length: 32 }, () => 'AB').join(':');
    const agent = await makeAgent({ server, tlsPin: wrongPin });
    const r = await agent.run(['register']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no registration server presented the pinned certificate \(check tlsPin/);
    expect(r.stderr).toMatch(/TLS pin mismatch/);
    expect(existsSync(join(agent.stateDir, 'registration.json'))).toBe(false);
  });

  it('a missing Technician ID names where to set it', async () => {
    const agent = await makeAgent({ server, technicianId: null });
    const r = await agent.run(['register']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no Technician ID.*technicianId.*HOLDFAST_TECHNICIAN_ID/);
  });

  it('an identity file with the wrong secret cannot take over the device', async () => {
    const owner = await makeAgent({ server });
    expect((await owner.run(['register'])).code).toBe(0);
    const identity = JSON.parse(await readFile(join(owner.stateDir, 'identity.json'), 'utf8'));
    const thief = await makeAgent({ server });
    await mkdir(thief.stateDir, { recursive: true });
    await writeFile(join(thief.stateDir, 'identity.json'), JSON.stringify({ ...identity, identitySecret: 'forged-secret-forged-secret-forged-secret' }));
    const r = await thief.run(['register']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/identity belongs to another device/);
    expect(existsSync(join(thief.stateDir, 'registration.json'))).toBe(false);
  });

  it('works over IPv6 loopback ([::1]:port)', async () => {
    const v6 = await startTestServer({ listen: ['[::1]:0', '[::1]:0'] });
    try {
      expect(v6.addresses[0]).toMatch(/^\[::1\]:\d+$/);
      const agent = await makeAgent({ server: v6 });
      const r = await agent.run(['register', '--json']);
      expect(r.code, r.output).toBe(0);
      expect(JSON.parse(r.stdout).servers).toEqual({ primary: v6.addresses[0], alternate: v6.addresses[1] });
    } finally {
      await v6.stop();
    }
  });
});
