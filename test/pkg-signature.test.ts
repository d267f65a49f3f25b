// The pkg signature as productsign writes it, checked by openssl alone (test/helpers/xar-signature-check.ts): RSA over
// the TOC checksum with the chain in the TOC, chaining to a test CA made here; any flipped byte breaks the check; bsdtar
// and 7-Zip still list and test the signed archive. Then the fleet face: signing.macos.installer through the pkg target.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'plist';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pkgTarget } from '../deployer/targets/pkg.js';
import { loadFleet, resolveSecrets } from '../fleet/load.js';
import { loadInstallerIdentity, xarSigner } from '../installers/mac/pkg-signature.js';
import { writeXar, type XarFile } from '../installers/mac/xar.js';
import { agentBin, repoRoot } from './helpers/paths.js';
import { sevenZip, tool } from './helpers/pkg-readers.js';
import { makeTestPki, type TestPki } from './helpers/test-pki.js';
import { checkXarSignature } from './helpers/xar-signature-check.js';

const work = mkdtempSync(join(tmpdir(), 'hf-pkg-sign-'));
let pki: TestPki;
let otherPki: TestPki;
beforeAll(() => {
  mkdirSync(join(work, 'pki'));
  mkdirSync(join(work, 'other'));
  pki = makeTestPki(join(work, 'pki'), '/O=Holdfast Test/OU=TEAM123456/CN=Developer ID Installer: Holdfast Test (TEAM123456)', 'codeSigning');
  otherPki = makeTestPki(join(work, 'other'), '/CN=Someone Else', 'codeSigning');
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const members = (): XarFile[] => {
  const big = Buffer.alloc(200_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
  writeFileSync(join(work, 'big.bin'), big);
  return [
    { path: 'agent.pkg/Bom', data: Buffer.from('b'.repeat(3000)), compress: true },
    { path: 'agent.pkg/Payload', data: { file: join(work, 'big.bin') } },
    { path: 'agent.pkg/PackageInfo', data: Buffer.from('<pkg-info/>\n'), compress: true },
    { path: 'Distribution', data: Buffer.from('<installer-gui-script/>\n'), compress: true },
  ];
};

describe('xar signature (productsign layout)', () => {
  it('openssl verifies the RSA signature over the TOC checksum and the chain to the test CA; bsdtar and 7-Zip still read it', async () => {
    const identity = await loadInstallerIdentity({ certificate: pki.chainCert, key: pki.leafKeyEncrypted }, pki.password);
    const pkg = join(work, 'signed.pkg');
    await writeXar(pkg, members(), { signer: xarSigner(identity) });
    const report = checkXarSignature(pkg, pki.rootCert, work);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.signatureSize).toBe(256);
    expect(report.subjects).toEqual([expect.stringContaining('Developer ID Installer: Holdfast Test'), expect.stringContaining('Intermediate CA')]);
    // Another CA does not vouch for it.
    expect(checkXarSignature(pkg, otherPki.rootCert, work).problems).toEqual([expect.stringMatching(/certificate chain does not verify/)]);
    expect(execFileSync(tool('bsdtar'), ['-tf', pkg], { encoding: 'utf8' }).trim().split('\n')).toEqual([
      'agent.pkg',
      'agent.pkg/Bom',
      'agent.pkg/Payload',
      'agent.pkg/PackageInfo',
      'Distribution',
    ]);
    expect(execFileSync(sevenZip(), ['t', pkg], { encoding: 'utf8' })).toContain('Everything is Ok');
    expect(execFileSync(sevenZip(), ['l', pkg], { encoding: 'utf8' })).toMatch(/agent\.pkg[\\/]Payload/);
  });

  it('an unsigned archive fails the check (it is not vacuous)', async () => {
    const pkg = join(work, 'unsigned.pkg');
    await writeXar(pkg, members());
    expect(checkXarSignature(pkg, pki.rootCert, work)).toMatchObject({ ok: false, problems: ['the TOC has no checksum or RSA signature'] });
  });

  it('a flipped byte anywhere breaks it: header, TOC, stored checksum, signature, every member', async () => {
    const identity = await loadInstallerIdentity({ pkcs12: pki.pkcs12 }, pki.password);
    const pkg = join(work, 'flip.pkg');
    await writeXar(pkg, members(), { signer: xarSigner(identity) });
    const good = readFileSync(pkg);
    expect(checkXarSignature(pkg, pki.rootCert, work).ok).toBe(true);
    const tocLength = Number(good.readBigUInt64BE(8));
    const heap = 28 + tocLength;
    const spots: Array<[string, number]> = [
      ['header TOC length', 15],
      ['header checksum algorithm', 27],
      ['TOC start', 28 + 3],
      ['TOC middle', 28 + Math.floor(tocLength / 2)],
      ['TOC end', heap - 2],
      ['stored checksum', heap + 7],
      ['signature first byte', heap + 20],
      ['signature last byte', heap + 20 + 255],
      ['Bom (first member)', heap + 276 + 3],
      ['Payload middle', heap + 276 + 100_000],
      ['last byte (Distribution)', good.length - 1],
    ];
    for (const [what, at] of spots) {
      const bad = Buffer.from(good);
      bad[at] ^= 0x20;
      const file = join(work, 'flipped.pkg');
      writeFileSync(file, bad);
      const report = checkXarSignature(file, pki.rootCert, work);
      expect(report.ok, `flipped ${what} at ${at}: ${report.problems.join('; ')}`).toBe(false);
    }
  });

  it('a flipped byte at every 37th position of a small signed archive breaks it (header, TOC, checksum, signature, data)', async () => {
    const identity = await loadInstallerIdentity({ certificate: pki.chainCert, key: pki.leafKey });
    const pkg = join(work, 'small.pkg');
    await writeXar(pkg, [{ path: 'Distribution', data: Buffer.from('<installer-gui-script minSpecVersion="2"/>\n') }], { signer: xarSigner(identity) });
    const good = readFileSync(pkg);
    expect(checkXarSignature(pkg, pki.rootCert, work).ok).toBe(true);
    const passed: number[] = [];
    for (let at = 0; at < good.length; at += 37) {
      const bad = Buffer.from(good);
      bad[at] ^= 0x01;
      writeFileSync(join(work, 'small-flipped.pkg'), bad);
      if (checkXarSignature(join(work, 'small-flipped.pkg'), pki.rootCert, work).ok) passed.push(at);
    }
    expect(good.length).toBeGreaterThan(2000);
    expect(passed).toEqual([]);
  }, 300_000);

  it('reads PKCS#12 and PEM identities alike; a wrong password or a key of another certificate is refused without echoing secrets', async () => {
    const fromP12 = await loadInstallerIdentity({ pkcs12: pki.pkcs12 }, pki.password);
    const fromPem = await loadInstallerIdentity({ certificate: pki.chainCert, key: pki.leafKey });
    expect(fromP12.chain.map((c) => c.toString('base64'))).toEqual(fromPem.chain.map((c) => c.toString('base64')));
    const wrong = 'not-the-pass-31337';
    const err = await loadInstallerIdentity({ pkcs12: pki.pkcs12 }, wrong).catch((e: Error) => e);
    expect(String(err)).toMatch(/cannot open the PKCS#12 file .*leaf\.p12/);
    expect(String(err)).not.toContain(wrong);
    await expect(loadInstallerIdentity({ certificate: pki.chainCert, key: pki.leafKeyEncrypted })).rejects.toThrow(
      /cannot read the private key .* \(no password given\)/,
    );
    await expect(loadInstallerIdentity({ certificate: otherPki.leafCert, key: pki.leafKey })).rejects.toThrow(/does not match its private key/);
  });
});

describe('pkg target with signing.macos.installer', () => {
  it('signs the generated pkg with the fleet identity (PKCS#12, password from the environment, never printed)', async () => {
    const fleetDir = join(work, 'fleet');
    mkdirSync(fleetDir);
    copyFileSync(pki.pkcs12, join(fleetDir, 'installer.p12'));
    const demo = JSON.parse(readFileSync(join(repoRoot, 'examples/fleets/demo.fleet.json'), 'utf8'));
    const fleetFile = join(fleetDir, 'signed.fleet.json');
    writeFileSync(
      fleetFile,
      JSON.stringify({
        ...demo,
        $schema: undefined,
        fleet: 'signed',
        signing: { macos: { installer: { pkcs12: 'installer.p12', password: { env: 'HF_TEST_PKG_PW' } } } },
      }),
    );
    const loaded = await loadFleet(fleetFile);
    const secrets = resolveSecrets(loaded.fleet, { ...process.env, HF_TEST_PKG_PW: pki.password }, ['installerSigningPassword']);
    const agentCopy = join(work, 'holdfast-agent.mjs');
    copyFileSync(agentBin, agentCopy);
    process.env.HOLDFAST_AGENT_BUNDLE = agentCopy;
    process.env.HOLDFAST_PKG_GZIP_LEVEL = '1';
    const messages: string[] = [];
    const artifacts = await pkgTarget.make({
      loaded,
      secrets,
      outDir: join(work, 'out'),
      cacheDir: join(work, 'cache'),
      previous: [],
      progress: (m) => messages.push(m),
    });
    const pkg = artifacts[0].path;
    expect(artifacts[0].description).toMatch(/signed by .*Developer ID Installer: Holdfast Test \(TEAM123456\).*not notarized/);
    const report = checkXarSignature(pkg, pki.rootCert, work);
    expect(report.problems).toEqual([]);
    expect(execFileSync(sevenZip(), ['t', pkg], { encoding: 'utf8' })).toContain('Everything is Ok');
    expect(JSON.stringify({ artifacts, messages })).not.toContain(pki.password);

    // Recovery on macOS: launchd restarts the daemon when it fails (non-zero exit or a signal), at most every 30 s.
    const x = join(work, 'x');
    mkdirSync(x);
    execFileSync(tool('bsdtar'), ['-xf', pkg, '-C', x, 'agent.pkg/Payload']);
    execFileSync('sh', ['-c', `gzip -dc agent.pkg/Payload | ${tool('cpio')} -i -d -H odc --quiet ./Library/LaunchDaemons/*`], { cwd: x });
    const daemon = parse(readFileSync(join(x, 'Library/LaunchDaemons/com.holdfast.agent.plist'), 'utf8')) as Record<string, unknown>;
    expect(daemon).toMatchObject({ Label: 'com.holdfast.agent', RunAtLoad: true, KeepAlive: { SuccessfulExit: false }, ThrottleInterval: 30 });

    // The wrong password stops the build before any payload work, naming the file and not the password.
    const bad = resolveSecrets(loaded.fleet, { HF_TEST_PKG_PW: 'wrong-password-123' });
    const failed = await pkgTarget
      .make({ loaded, secrets: bad, outDir: join(work, 'out2'), cacheDir: join(work, 'cache'), previous: [], progress: () => {} })
      .catch((e) => e);
    expect(String(failed)).toMatch(/installer\.p12/);
    expect(String(failed)).not.toContain('wrong-password-123');
    expect(spawnSync('ls', [join(work, 'out2')]).stdout.toString()).toBe('');
  }, 300_000);
});
