// Issue 15 point 1, a lost or replaced machine, with real server and agent processes: an admin restores a device's
// data with only the company private key and an admin credential (nothing from the device) onto a fresh folder; a
// device still reads only its own data (its own credential, a forged device id, an admin credential it does not
// hold); a replacement machine takes over the device with a one-time token and its next backup sends only new data.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readRegistration } from '../agent/state.js';
import { openConnection } from '../agent/transport/index.js';
import { RemoteStore } from '../agent/remote-store.js';
import { type RemoteError, RpcConnection } from '../protocol/connection.js';
import { MessageType } from '../protocol/messages.js';
import { makeAgent, manualBackup, runAgent, type TestAgent } from './helpers/agent.js';
import { registeredDevice, type TestDevice } from './helpers/device.js';
import { snapshotTree } from './helpers/engine-corpus.js';
import { runServerCli, startTestServer, storedChunkIds, tempDir, useTestServer } from './helpers/server.js';

const server = useTestServer();

const company = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const companyPub = company.publicKey.export({ type: 'spki', format: 'pem' }).toString();
let work: string;
let companyKeyFile: string;
let credFile: string;
let src: string;
let laptop: TestAgent;
let laptopId: string;

/** A machine with the fleet's config (escrow key included) backing up `folder`. */
function fleetMachine(folder: string): Promise<TestAgent> {
  return makeAgent({ server, config: { backup: manualBackup([folder]), escrowPublicKeyPem: companyPub } });
}

async function backupJson(agent: TestAgent): Promise<Record<string, number | string>> {
  const r = await agent.run(['backup', '--json', '--quiet']);
  expect(r.code, r.output).toBe(0);
  return JSON.parse(r.stdout) as Record<string, number | string>;
}

beforeAll(async () => {
  work = await tempDir('holdfast-lost-');
  companyKeyFile = join(work, 'company.pem');
  writeFileSync(companyKeyFile, company.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), { mode: 0o600 });
  src = join(work, 'Documents');
  mkdirSync(join(src, 'Finance'), { recursive: true });
  writeFileSync(join(src, 'Finance', 'budget.xlsx'), randomBytes(3 * 1024 * 1024 + 17));
  writeFileSync(join(src, 'notes.txt'), 'minutes of the meeting\n'.repeat(2000));
  writeFileSync(join(src, 'empty'), '');
  laptop = await fleetMachine(src);
  laptopId = await laptop.register();
  await backupJson(laptop);
  credFile = join(work, 'admin.json');
  const made = await runServerCli(['admin-credential', '--data', server.dataDir, '--out', credFile, '--config', server.configPath, ...serverArgs()]);
  expect(made.code, made.output).toBe(0);
});

function serverArgs(): string[] {
  return server.addresses.flatMap((a) => ['--server', a]);
}

describe('an admin restores a lost device with the company key and an admin credential', () => {
  it('writes the credential 0600, never prints it, and the server keeps only its hash', () => {
    const cred = JSON.parse(readFileSync(credFile, 'utf8')) as { credential: string; servers: string[]; tlsPin: string; admin: string };
    expect(statSync(credFile).mode & 0o777).toBe(0o600);
    expect(cred.servers).toEqual(server.addresses);
    expect(cred.tlsPin).toBe(server.pin);
    const kept = join(server.dataDir, 'admins', `${cred.admin}.json`);
    expect(statSync(kept).mode & 0o777).toBe(0o600);
    expect(readFileSync(kept, 'utf8')).not.toContain(cred.credential);
    expect(readFileSync(kept, 'utf8')).toMatch(/"credentialHash": "[0-9a-f]{64}"/);
  });

  it('snapshots and escrow-restore with --admin --device list and restore byte-identical onto a fresh machine folder, with no file from the device', async () => {
    const fresh = await tempDir('holdfast-newpc-');
    const out = join(fresh, 'restored');
    const env = { ...process.env, HOLDFAST_CONFIG: join(fresh, 'no-agent.json') };
    const listed = await runAgent(['snapshots', '--admin', credFile, '--device', laptopId, '--json'], { env, cwd: fresh });
    expect(listed.code, listed.output).toBe(0);
    const snaps = JSON.parse(listed.stdout) as Array<{ id: string }>;
    expect(snaps).toHaveLength(1);
    const r = await runAgent(
      ['escrow-restore', '--admin', credFile, '--device', laptopId, '--company-key', companyKeyFile, '--snapshot', snaps[0].id, '--to', out],
      { env, cwd: fresh },
    );
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toContain(`Escrow restore complete: snapshot ${snaps[0].id}, 3 files`);
    expect(snapshotTree(join(out, 'Documents'))).toEqual(snapshotTree(src));
    const cred = JSON.parse(readFileSync(credFile, 'utf8')) as { credential: string };
    expect(r.output).not.toContain(cred.credential);
    expect(server.output()).toContain(`admin session start ${laptopId} (admin admin, read-only)`);
    expect(server.output()).not.toContain(cred.credential);
    // Nothing was written into the fresh folder but the restore.
    expect(readdirSync(fresh)).toEqual(['restored']);
  });

  it('the server folder of a device is no store copy: --store on it says to use --admin', async () => {
    const r = await laptop.run([
      'escrow-restore',
      '--store',
      join(server.dataDir, 'devices', laptopId),
      '--company-key',
      companyKeyFile,
      '--to',
      join(work, 'nope'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("is a backup server's device folder, not a store copy: use --admin");
  });

  it('a credential file other users can read is refused; a replaced credential stops working', async () => {
    const loose = join(work, 'loose.json');
    writeFileSync(loose, readFileSync(credFile), { mode: 0o644 });
    const r = await runAgent(['escrow-restore', '--admin', loose, '--device', laptopId, '--company-key', companyKeyFile, '--to', join(work, 'x1')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is readable by other users \(mode 644\): chmod 600 it/);

    const old = join(work, 'old-admin.json');
    cpSync(credFile, old);
    const again = await runServerCli([
      'admin-credential',
      '--data',
      server.dataDir,
      '--out',
      join(work, 'admin2.json'),
      '--config',
      server.configPath,
      ...serverArgs(),
    ]);
    expect(again.code, again.output).toBe(0);
    expect(again.stdout).toContain('the credential is not shown');
    const stale = await runAgent(['escrow-restore', '--admin', old, '--device', laptopId, '--company-key', companyKeyFile, '--to', join(work, 'x2')]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('admin credential not accepted');
    expect(existsSync(join(work, 'x2'))).toBe(false);
    credFile = join(work, 'admin2.json');
  });
});

describe('device isolation stays as it was', () => {
  let other: TestDevice;
  let laptopChunks: string[];

  beforeAll(async () => {
    other = await registeredDevice({ server });
    laptopChunks = await storedChunkIds(server.dataDir, laptopId);
    expect(laptopChunks.length).toBeGreaterThan(0);
  });

  async function raw(): Promise<RpcConnection> {
    return new RpcConnection(await openConnection(server.addresses[0], { tlsPin: server.pin }), server.addresses[0]);
  }

  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => e as RemoteError,
    );

  it('with its own credential a device sees none of another device’s chunks, snapshots or escrow record', async () => {
    const store = await other.store();
    try {
      expect((await store.has(laptopChunks)).size).toBe(0);
      await expect(store.get([laptopChunks[0]])).rejects.toThrow(/is missing from the server/);
      expect(await store.listSnapshots()).toEqual([]);
      expect(await store.getBlob('key-escrow')).toBeUndefined();
    } finally {
      await store.close();
    }
  });

  it('a forged device id with its own credential is refused (AUTH and ADMIN_AUTH)', async () => {
    const reg = (await readRegistration(other.loaded.state))!;
    const forged = new RemoteStore({ servers: reg.servers, deviceId: laptopId, credential: reg.credential, tlsPin: server.pin, retryRounds: 1 });
    await expect(forged.listSnapshots()).rejects.toThrow(/device id or credential not accepted/);
    await forged.close();
    for (const admin of ['admin', 'device']) {
      const conn = await raw();
      const err = await refusal(conn.request(MessageType.ADMIN_AUTH, { admin, credential: reg.credential, deviceId: laptopId }));
      expect(err?.code).toBe('bad-credential');
      // A refused admin authentication ends the connection, like a refused registration.
      await expect(conn.request(MessageType.PING, {})).rejects.toThrow();
      conn.close();
    }
  });

  it('an admin session reads but never writes: PUT, PUT_SNAPSHOT, PUT_BLOB are forbidden', async () => {
    const cred = JSON.parse(readFileSync(credFile, 'utf8')) as { admin: string; credential: string };
    const conn = await raw();
    try {
      const ok = await conn.request(MessageType.ADMIN_AUTH, { admin: cred.admin, credential: cred.credential, deviceId: laptopId });
      expect(ok.header).toEqual({ deviceId: laptopId, readOnly: true });
      expect((await conn.request(MessageType.HAS, { ids: laptopChunks.slice(0, 2) })).header.present).toEqual([0, 1]);
      const id = randomBytes(32).toString('hex');
      for (const [type, header, body] of [
        [MessageType.PUT, { ids: [id], sizes: [4] }, Buffer.from('evil')],
        [MessageType.PUT_SNAPSHOT, { id: 'evil', time: new Date().toISOString() }, Buffer.from('x')],
        [MessageType.PUT_BLOB, { name: 'key-escrow' }, Buffer.from('{}')],
      ] as const) {
        const err = await refusal(conn.request(type, header, body));
        expect(err?.code).toBe('forbidden');
        expect(err?.message).toContain('an admin session is read-only');
      }
      expect((await conn.request(MessageType.HAS, { ids: [id] })).header.present).toEqual([]);
    } finally {
      conn.close();
    }
    // The escrow record is untouched.
    const r = await runAgent(['escrow-restore', '--admin', credFile, '--device', laptopId, '--company-key', companyKeyFile, '--to', join(work, 'again')]);
    expect(r.code, r.output).toBe(0);
  });

  it('an admin credential names an existing device only after the credential is right', async () => {
    const cred = JSON.parse(readFileSync(credFile, 'utf8')) as { admin: string; credential: string };
    const conn = await raw();
    const err = await refusal(
      conn.request(MessageType.ADMIN_AUTH, { admin: cred.admin, credential: cred.credential, deviceId: 'dev-000000000000000000000000' }),
    );
    expect(err?.code).toBe('not-found');
    conn.close();
  });
});

describe('register --replace: a new machine takes over the lost device', () => {
  it('with the admin’s one-time token its next backup sends only new data, and the lost machine is shut out', async () => {
    const tokenFile = join(work, 'replace.json');
    const t = await runServerCli(['replace-token', '--data', server.dataDir, '--device', laptopId, '--out', tokenFile]);
    expect(t.code, t.output).toBe(0);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    const token = (JSON.parse(readFileSync(tokenFile, 'utf8')) as { token: string }).token;
    expect(t.output).not.toContain(token);

    // The new machine: the user's files as the admin restored them, plus a new one.
    const newSrc = join(await tempDir('holdfast-newsrc-'), 'Documents');
    const restored = join(work, 'restored-for-new');
    const er = await runAgent(['escrow-restore', '--admin', credFile, '--device', laptopId, '--company-key', companyKeyFile, '--to', restored]);
    expect(er.code, er.output).toBe(0);
    cpSync(join(restored, 'Documents'), newSrc, { recursive: true, preserveTimestamps: true });
    const fresh = randomBytes(200 * 1024); // below the 256 KiB minimum chunk: exactly one chunk
    writeFileSync(join(newSrc, 'new-report.bin'), fresh);
    const desk = await fleetMachine(newSrc);

    // A wrong company key is refused before the token is spent.
    const wrong = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const wrongFile = join(work, 'wrong.pem');
    writeFileSync(wrongFile, wrong.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    const bad = await desk.run(['register', '--replace', laptopId, '--replace-token', tokenFile, '--company-key', wrongFile]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('escrowed for another company key');
    expect(existsSync(join(desk.stateDir, 'registration.json'))).toBe(false);

    const reg = await desk.run(['register', '--replace', laptopId, '--replace-token', tokenFile, '--company-key', companyKeyFile, '--json']);
    expect(reg.code, reg.output).toBe(0);
    expect(JSON.parse(reg.stdout)).toMatchObject({ deviceId: laptopId, replaced: true, existingDevice: true });
    expect(reg.output).not.toContain(token);
    expect(statSync(join(desk.stateDir, 'device.key')).mode & 0o777).toBe(0o600);
    expect(server.output()).toContain(`device ${laptopId} taken over by a replacement machine`);

    const chunksBefore = (await storedChunkIds(server.dataDir, laptopId)).length;
    const b = await backupJson(desk);
    // Only the new file travels: 1 chunk of 200 KiB, not the 3 MiB the device already stored.
    expect(b.files).toBe(4);
    expect(b.chunksUploaded).toBe(1);
    expect(b.bytesUploaded).toBeGreaterThan(fresh.length);
    expect(b.bytesUploaded).toBeLessThan(fresh.length + 1024);
    expect((await storedChunkIds(server.dataDir, laptopId)).length).toBe(chunksBefore + 1);

    // The old snapshots restore on the new machine with the recovered key.
    const snaps = JSON.parse((await desk.run(['snapshots', '--json'])).stdout) as Array<{ id: string }>;
    expect(snaps).toHaveLength(2);
    const old = join(work, 'old-on-new');
    const rr = await desk.run(['restore', '--snapshot', snaps[1].id, '--to', old, '--quiet']);
    expect(rr.code, rr.output).toBe(0);
    expect(snapshotTree(join(old, 'Documents'))).toEqual(snapshotTree(src));

    // The lost machine's credential no longer works; the token is spent.
    const stolen = await laptop.run(['backup', '--quiet']);
    expect(stolen.code).toBe(1);
    expect(stolen.stderr).toContain('device id or credential not accepted');
    const reuse = await (await fleetMachine(newSrc)).run(['register', '--replace', laptopId, '--replace-token', tokenFile, '--company-key', companyKeyFile]);
    expect(reuse.code).toBe(1);
    expect(reuse.stderr).toContain(`replace token not accepted for ${laptopId}`);
  });

  it('a token for another device, or none, is refused by the agent before it connects', async () => {
    const desk = await fleetMachine(src);
    const r = await desk.run(['register', '--replace', laptopId, '--company-key', companyKeyFile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--replace needs --replace-token <file>');
    const other = await makeAgent({ server });
    const otherId = await other.register();
    const tokenFile = join(work, 'other-token.json');
    expect((await runServerCli(['replace-token', '--data', server.dataDir, '--device', otherId, '--out', tokenFile])).code).toBe(0);
    const mismatch = await desk.run(['register', '--replace', laptopId, '--replace-token', tokenFile, '--company-key', companyKeyFile]);
    expect(mismatch.code).toBe(1);
    expect(mismatch.stderr).toContain(`is a replace token for ${otherId}, not for --replace ${laptopId}`);
  });
});

describe('REPLACE is a registration: guessing tokens locks the address out', () => {
  it('after 11 wrong tokens from one address (10 failures allowed) even the right one is refused with rate-limited', async () => {
    const own = await startTestServer();
    try {
      const machine = await makeAgent({ server: own, config: { backup: manualBackup([src]), escrowPublicKeyPem: companyPub } });
      const deviceId = await machine.register();
      expect((await machine.run(['backup', '--quiet'])).code).toBe(0);
      const tokenFile = join(work, 'locked-token.json');
      expect((await runServerCli(['replace-token', '--data', own.dataDir, '--device', deviceId, '--out', tokenFile])).code).toBe(0);
      const forged = join(work, 'forged-token.json');
      const real = JSON.parse(readFileSync(tokenFile, 'utf8')) as { token: string };
      writeFileSync(forged, JSON.stringify({ ...real, token: `hfr1-${randomBytes(32).toString('base64url')}` }), { mode: 0o600 });
      const newPc = await makeAgent({ server: own, config: { escrowPublicKeyPem: companyPub } });
      const codes: string[] = [];
      for (let i = 0; i < 11; i++) {
        const r = await newPc.run(['register', '--replace', deviceId, '--replace-token', forged, '--company-key', companyKeyFile]);
        expect(r.code).toBe(1);
        codes.push(/replace token not accepted/.test(r.stderr) ? 'refused' : /try again in \d+ s/.test(r.stderr) ? 'rate-limited' : r.stderr);
      }
      expect(codes).toEqual(Array(11).fill('refused'));
      const right = await newPc.run(['register', '--replace', deviceId, '--replace-token', tokenFile, '--company-key', companyKeyFile]);
      expect(right.code).toBe(1);
      expect(right.stderr).toMatch(/too many registration attempts from this network address; try again in \d+ s/);
      // The right token was not spent by the refusals: the device still has it.
      expect(existsSync(join(own.dataDir, 'devices', deviceId, 'replace-token.json'))).toBe(true);
    } finally {
      await own.stop();
    }
  });
});
