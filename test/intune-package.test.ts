// The .intunewin writer: round trip (decrypt with the Detection.xml keys, MAC and digest checked, unzip,
// byte-equal setup file), the container layout, Detection.xml fields from a real MSI, hostile values,
// and the intune target on the real MSI of the demo fleet through `generate`.
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { generateFleets } from '../deployer/generate.js';
import { CONTENT_ENTRY, DETECTION_ENTRY, decryptContent, extractIntuneWin, readIntuneWin, writeIntuneWin } from '../installers/intune/intunewin.js';
import { readMsiInfo } from '../installers/intune/msi-info.js';
import { unzipBuffer, zipEntryMethods } from '../installers/intune/zip.js';
import { repoRoot } from './helpers/paths.js';
import { buildTinyMsi } from './helpers/tiny-msi.js';

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'hf-intune-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function xmlWellFormed(xml: string): void {
  execFileSync('xmllint', ['--noout', '-'], { input: xml });
}

describe('.intunewin writer', () => {
  it('round-trips any setup file: decrypt with the Detection.xml keys, check MAC and digest, unzip, byte-equal', async () => {
    const setup = join(work, 'setup.bin');
    const data = randomBytes(300_000);
    writeFileSync(setup, data);
    const out = join(work, 'plain.intunewin');
    const result = await writeIntuneWin({ setupFile: setup, outFile: out });
    const { info, files } = await extractIntuneWin(out);
    expect(files.get('setup.bin')!.equals(data)).toBe(true);
    expect(info.setupFile).toBe('setup.bin');
    expect(info.fileName).toBe('IntunePackage.intunewin');
    expect(info.msiInfo).toBeUndefined();
    expect(result.encryptedSize).toBe((await readIntuneWin(out)).encrypted.length);

    // Outer zip stored, inner zip deflated; layout [HMAC 32][IV 16][AES-256-CBC ciphertext].
    const outer = readFileSync(out);
    const methods = await zipEntryMethods(outer);
    expect(methods.get(CONTENT_ENTRY)).toBe(0);
    expect(methods.get(DETECTION_ENTRY)).toBe(0);
    const pkg = await readIntuneWin(out);
    const e = pkg.info.encryptionInfo;
    expect(Buffer.from(e.encryptionKey, 'base64')).toHaveLength(32);
    expect(Buffer.from(e.macKey, 'base64')).toHaveLength(32);
    expect(Buffer.from(e.initializationVector, 'base64')).toHaveLength(16);
    expect(pkg.encrypted.subarray(32, 48).toString('base64')).toBe(e.initializationVector);
    expect(pkg.encrypted.subarray(0, 32).toString('base64')).toBe(e.mac);
    expect(createHmac('sha256', Buffer.from(e.macKey, 'base64')).update(pkg.encrypted.subarray(32)).digest('base64')).toBe(e.mac);
    expect((pkg.encrypted.length - 48) % 16).toBe(0);
    const innerZip = decryptContent(pkg.encrypted, e);
    expect(innerZip.length).toBe(pkg.info.unencryptedContentSize);
    expect((await zipEntryMethods(innerZip)).get('setup.bin')).toBe(8);

    // Tampering is caught by the MAC; a wrong digest by the digest check.
    const tampered = Buffer.from(pkg.encrypted);
    tampered[tampered.length - 1] ^= 1;
    expect(() => decryptContent(tampered, e)).toThrow(/MAC mismatch/);
    expect(() => decryptContent(pkg.encrypted, { ...e, fileDigest: Buffer.alloc(32).toString('base64') })).toThrow(/FileDigest mismatch/);

    // An independent decoder agrees: openssl checks the HMAC and decrypts to the same zip, which bsdtar lists.
    const hex = (b64: string) => Buffer.from(b64, 'base64').toString('hex');
    const body = join(work, 'body.bin');
    writeFileSync(body, pkg.encrypted.subarray(32));
    const hmac = execFileSync('openssl', ['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${hex(e.macKey)}`, '-r', body], { encoding: 'utf8' }).split(
      ' ',
    )[0];
    expect(Buffer.from(hmac, 'hex').toString('base64')).toBe(e.mac);
    const cipherFile = join(work, 'cipher.bin');
    writeFileSync(cipherFile, pkg.encrypted.subarray(48));
    const plainZip = execFileSync('openssl', ['enc', '-d', '-aes-256-cbc', '-K', hex(e.encryptionKey), '-iv', hex(e.initializationVector), '-in', cipherFile]);
    expect(plainZip.equals(innerZip)).toBe(true);
    writeFileSync(join(work, 'inner.zip'), plainZip);
    expect(execFileSync('bsdtar', ['-tf', join(work, 'inner.zip')], { encoding: 'utf8' }).trim()).toBe('setup.bin');

    // Fresh random keys per package.
    const again = await writeIntuneWin({ setupFile: setup, outFile: join(work, 'again.intunewin') });
    expect(again.info.encryptionInfo.encryptionKey).not.toBe(e.encryptionKey);
    expect(again.info.encryptionInfo.initializationVector).not.toBe(e.initializationVector);
  });

  it('writes MsiInfo from a real MSI (msiinfo), in the documented element order, escaping hostile names', async () => {
    const dir = mkdtempSync(join(work, 'msi-'));
    const hostile = `Tiny "Q" & <B> ]]> \`x\``; // wixl itself treats $ as a variable
    const msi = buildTinyMsi(dir, { name: hostile, manufacturer: `Pub & <Co>`, version: '3.4.5' });
    const info = await readMsiInfo(msi);
    const props = execFileSync('msiinfo', ['export', msi, 'Property'], { encoding: 'utf8' });
    expect(props).toContain(`ProductCode\t${info.productCode}`);
    expect(props).toContain(`UpgradeCode\t${info.upgradeCode}`);
    expect(info.productVersion).toBe('3.4.5');
    const suminfo = execFileSync('msiinfo', ['suminfo', msi], { encoding: 'utf8' });
    expect(suminfo).toContain(`Revision number (UUID): ${info.packageCode}`);
    expect(info).toMatchObject({
      executionContext: 'System',
      isMachineInstall: true,
      isUserInstall: false,
      includesServices: false,
      containsSystemRegistryKeys: true,
      publisher: 'Pub & <Co>',
      productName: hostile,
    });

    const out = join(dir, 'tiny.intunewin');
    const result = await writeIntuneWin({ setupFile: msi, outFile: out, msi: info });
    xmlWellFormed(result.detectionXml);
    expect(result.detectionXml).toContain('<Name>Tiny &quot;Q&quot; &amp; &lt;B&gt; ]]&gt; `x`</Name>');
    const order = [...result.detectionXml.matchAll(/<(\w+)>/g)].map((m) => m[1]);
    expect(order).toEqual([
      'Name',
      'UnencryptedContentSize',
      'FileName',
      'SetupFile',
      'EncryptionInfo',
      'EncryptionKey',
      'MacKey',
      'InitializationVector',
      'Mac',
      'ProfileIdentifier',
      'FileDigest',
      'FileDigestAlgorithm',
      'MsiInfo',
      'MsiProductCode',
      'MsiProductVersion',
      'MsiPackageCode',
      'MsiUpgradeCode',
      'MsiExecutionContext',
      'MsiRequiresLogon',
      'MsiRequiresReboot',
      'MsiIsMachineInstall',
      'MsiIsUserInstall',
      'MsiIncludesServices',
      'MsiIncludesODBCDataSource',
      'MsiContainsSystemRegistryKeys',
      'MsiContainsSystemFolders',
      'MsiPublisher',
    ]);
    const { info: parsed, files } = await extractIntuneWin(out);
    expect(parsed.name).toBe(hostile);
    expect(parsed.msiInfo).toMatchObject({
      productCode: info.productCode,
      productVersion: '3.4.5',
      packageCode: info.packageCode,
      upgradeCode: info.upgradeCode,
      executionContext: 'System',
      isMachineInstall: true,
      publisher: 'Pub & <Co>',
    });
    expect(files.get('holdfast-tiny.msi')!.equals(readFileSync(msi))).toBe(true);
  });

  it('generate --target intune packs the real MSI of the demo fleet: byte-equal round trip and Graph app JSON', async () => {
    const out = join(work, 'dist');
    const result = await generateFleets([join(repoRoot, 'examples/fleets/demo.fleet.json')], { outDir: out, targets: ['intune'] });
    const fleetDir = result.fleets[0].outDir;
    const msiPath = join(fleetDir, 'holdfast-demo.msi');
    const { info, files } = await extractIntuneWin(join(fleetDir, 'intune/holdfast-demo.intunewin'));
    expect(files.get('holdfast-demo.msi')!.equals(readFileSync(msiPath))).toBe(true);
    const props = execFileSync('msiinfo', ['export', msiPath, 'Property'], { encoding: 'utf8' });
    expect(props).toContain(`ProductCode\t${info.msiInfo!.productCode}`);
    expect(info.msiInfo).toMatchObject({
      productVersion: '1.0.0',
      upgradeCode: '{3F2B8C1E-6A4D-4E8B-9C2F-1A7D5E0B4C93}',
      executionContext: 'System',
      isMachineInstall: true,
      includesServices: true,
    });
    const app = JSON.parse(readFileSync(join(fleetDir, 'intune/win32LobApp.json'), 'utf8'));
    expect(app).toMatchObject({
      '@odata.type': '#microsoft.graph.win32LobApp',
      fileName: 'holdfast-demo.intunewin',
      setupFilePath: 'holdfast-demo.msi',
      installCommandLine: 'msiexec /i "holdfast-demo.msi" /qn /norestart',
      uninstallCommandLine: `msiexec /x "${info.msiInfo!.productCode}" /qn /norestart`,
      installExperience: { runAsAccount: 'system' },
      rules: [{ '@odata.type': '#microsoft.graph.win32LobAppProductCodeRule', ruleType: 'detection', productCode: info.msiInfo!.productCode }],
      msiInformation: { productCode: info.msiInfo!.productCode, upgradeCode: info.msiInfo!.upgradeCode, packageType: 'perMachine' },
    });
    expect(app.returnCodes.map((r: { returnCode: number; type: string }) => `${r.returnCode}:${r.type}`)).toEqual([
      '0:success',
      '1707:success',
      '3010:softReboot',
      '1641:hardReboot',
      '1618:retry',
    ]);
    const manifest = JSON.parse(readFileSync(result.fleets[0].manifestPath, 'utf8'));
    expect(JSON.stringify(manifest)).toContain('intune/holdfast-demo.intunewin');
    // The outer container really is a zip holding exactly the two entries.
    expect([...(await unzipBuffer(readFileSync(join(fleetDir, 'intune/holdfast-demo.intunewin')))).keys()].sort()).toEqual([CONTENT_ENTRY, DETECTION_ENTRY]);
  });
});
