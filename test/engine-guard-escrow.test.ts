// Deselection guard (excluding what a restore needs is refused unless --force) and key escrow (an admin
// restores a device whose key is lost, with the company private key).
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { makeAgent, type TestAgent } from './helpers/agent.js';
import { tempDir } from './helpers/server.js';
import { allFileBytes, makeCorpus, plaintextMarker, snapshotTree } from './helpers/engine-corpus.js';

const NO_SERVER = { primary: '127.0.0.1:1', alternate: '127.0.0.1:2' };
const PIN = Array(32).fill('AB').join(':');

let work: string;

beforeAll(async () => {
  work = await tempDir('holdfast-guard-');
});

function backupConfig(include: string[], exclude: string[] = [], protectedPaths: string[] = []) {
  return { backup: { include, exclude, protectedPaths, schedule: { frequency: 'manual' as const, at: '02:00' } } };
}

describe('deselection guard', () => {
  let agent: TestAgent;
  let docs: string;
  let finance: string;

  beforeAll(async () => {
    docs = join(work, 'home', 'Documents');
    finance = join(docs, 'Finance');
    mkdirSync(finance, { recursive: true });
    writeFileSync(join(finance, 'ledger.txt'), 'ledger');
    writeFileSync(join(docs, 'cv.txt'), 'cv');
    agent = await makeAgent({ registration: NO_SERVER, tlsPin: PIN, config: backupConfig([docs], [], [finance]) });
  });

  it('refuses to exclude the agent state (identity and device key), saving nothing', async () => {
    const r = await agent.run(['exclude', 'add', agent.stateDir]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("the agent's identity and device key");
    expect(r.stderr).toContain('--force');
    expect(existsSync(join(agent.stateDir, 'exclusions.json'))).toBe(false);
  });

  it('refuses protected paths, the folders above them and parts inside them; allows unrelated patterns', async () => {
    for (const pattern of [finance, docs, `${finance}/2024/**`, '**/Finance', '**/Finance/**']) {
      const r = await agent.run(['exclude', 'add', pattern]);
      expect(r.code, pattern).not.toBe(0);
      expect(r.stderr).toContain('protected by your administrator');
    }
    const ok = await agent.run(['exclude', 'add', '**/*.iso']);
    expect(ok.code, ok.output).toBe(0);
    const list = JSON.parse((await agent.run(['exclude', 'list', '--json'])).stdout);
    expect(list).toMatchObject({ user: ['**/*.iso'], forced: [] });
  });

  it('--force overrides, and the backup then honours the exclusion without refusing again', async () => {
    const r = await agent.run(['exclude', 'add', finance, '--force']);
    expect(r.code, r.output).toBe(0);
    expect(r.stderr).toContain('forced');
    const b = await agent.run(['backup', '--store', join(work, 'store-forced'), '--json']);
    expect(b.code, b.output).toBe(0);
    expect(JSON.parse(b.stdout).files).toBe(1); // cv.txt only
    expect((await agent.run(['exclude', 'remove', finance])).code).toBe(0);
  });

  it('a config exclude list covering a protected path does not stop the backup: the protected files are kept, with a warning', async () => {
    const a = await makeAgent({ registration: NO_SERVER, tlsPin: PIN, config: backupConfig([docs], ['**/Finance/**'], [finance]) });
    const store = join(work, 'store-config-guard');
    const r = await a.run(['backup', '--store', store, '--json']);
    expect(r.code, r.output).toBe(0);
    expect(JSON.parse(r.stdout).files).toBe(2);
    expect(r.stderr).toContain('backed up anyway');
    const status = await a.status();
    expect(status.lastError).toBe(null);
    expect(JSON.stringify(status.lastBackup)).toContain('protectedKept');
    const forced = await a.run(['backup', '--store', store, '--force', '--json']);
    expect(forced.code, forced.output).toBe(0);
    expect(JSON.parse(forced.stdout).files).toBe(1);
  });
});

describe('key escrow', () => {
  for (const kind of ['rsa', 'ec'] as const) {
    it(`${kind.toUpperCase()} company key: with the device key lost, escrow-restore recovers byte-identical data`, async () => {
      const pair = kind === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 3072 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const pubPem = pair.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const privFile = join(work, `company-${kind}.pem`);
      writeFileSync(privFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
      const src = join(work, `escrow-src-${kind}`);
      const marker = plaintextMarker();
      makeCorpus(src, marker);
      const agent = await makeAgent({ registration: NO_SERVER, tlsPin: PIN, config: { ...backupConfig([src]), escrowPublicKeyPem: pubPem } });
      const store = join(work, `store-escrow-${kind}`);
      expect((await agent.run(['backup', '--store', store])).code).toBe(0);
      const deviceKeyHex = readFileSync(join(agent.stateDir, 'device.key'), 'utf8').split(' ')[1].trim();
      for (const b of allFileBytes(store)) expect(b.includes(Buffer.from(deviceKeyHex, 'hex'))).toBe(false);

      // The machine is lost: no device key any more.
      renameSync(join(agent.stateDir, 'device.key'), join(work, `lost-${kind}.key`));
      const plain = await agent.run(['restore', '--store', store, '--to', join(work, `nokey-${kind}`)]);
      expect(plain.code).not.toBe(0);
      expect(plain.stderr).toContain('no device key');

      const out = join(work, `escrow-out-${kind}`);
      const r = await agent.run(['escrow-restore', '--store', store, '--company-key', privFile, '--to', out]);
      expect(r.code, r.output).toBe(0);
      expect(snapshotTree(join(out, `escrow-src-${kind}`))).toEqual(snapshotTree(src));
      expect(r.output).not.toContain(deviceKeyHex);
    });
  }

  it('the wrong company key is a clear error and restores nothing', async () => {
    const right = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const wrong = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const src = join(work, 'escrow-wrong-src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.bin'), randomBytes(1000));
    const agent = await makeAgent({
      registration: NO_SERVER,
      tlsPin: PIN,
      config: { ...backupConfig([src]), escrowPublicKeyPem: right.publicKey.export({ type: 'spki', format: 'pem' }).toString() },
    });
    const store = join(work, 'store-escrow-wrong');
    expect((await agent.run(['backup', '--store', store])).code).toBe(0);
    const wrongFile = join(work, 'wrong.pem');
    writeFileSync(wrongFile, wrong.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const out = join(work, 'escrow-wrong-out');
    const r = await agent.run(['escrow-restore', '--store', store, '--company-key', wrongFile, '--to', out]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('escrowed for another company key');
    expect(existsSync(out)).toBe(false);
  });

  it('a device without escrow says so', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const src = join(work, 'noescrow-src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.txt'), 'a');
    const agent = await makeAgent({ registration: NO_SERVER, tlsPin: PIN, config: backupConfig([src]) });
    const store = join(work, 'store-noescrow');
    expect((await agent.run(['backup', '--store', store])).code).toBe(0);
    const f = join(work, 'noescrow.pem');
    writeFileSync(f, key.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const r = await agent.run(['escrow-restore', '--store', store, '--company-key', f, '--to', join(work, 'noescrow-out')]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('has no escrowed key');
  });
});
