// Detection.xml: the metadata IntuneWinAppUtil writes beside the encrypted content (see docs/intunewin.md).
import { xmlEscape, xmlUnescape } from '../../common/xml.js';

/** Key material and digest of the encrypted content; binary values base64, as Detection.xml and Graph carry them. */
export interface EncryptionInfo {
  encryptionKey: string;
  macKey: string;
  initializationVector: string;
  mac: string;
  profileIdentifier: 'ProfileVersion1';
  fileDigest: string;
  fileDigestAlgorithm: 'SHA256';
}

/** What Intune learns about an MSI setup file (MsiInfo in Detection.xml, msiInformation in Graph). */
export interface MsiInfo {
  productCode: string;
  productVersion: string;
  packageCode: string;
  upgradeCode: string;
  /** System for per-machine packages (ALLUSERS=1), User for per-user ones. */
  executionContext: 'System' | 'User' | 'Any';
  requiresLogon: boolean;
  requiresReboot: boolean;
  isMachineInstall: boolean;
  isUserInstall: boolean;
  includesServices: boolean;
  includesODBCDataSource: boolean;
  containsSystemRegistryKeys: boolean;
  containsSystemFolders: boolean;
  publisher: string;
  productName: string;
}

export interface ApplicationInfo {
  name: string;
  unencryptedContentSize: number;
  fileName: string;
  setupFile: string;
  encryptionInfo: EncryptionInfo;
  msiInfo?: MsiInfo;
}

export function renderDetectionXml(info: ApplicationInfo): string {
  const e = info.encryptionInfo;
  const lines = [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<ApplicationInfo xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ToolVersion="1.8.6.0">',
    `  <Name>${xmlEscape(info.name, 'Detection.xml <Name>')}</Name>`,
    `  <UnencryptedContentSize>${info.unencryptedContentSize}</UnencryptedContentSize>`,
    `  <FileName>${xmlEscape(info.fileName, 'Detection.xml <FileName>')}</FileName>`,
    `  <SetupFile>${xmlEscape(info.setupFile, 'Detection.xml <SetupFile>')}</SetupFile>`,
    '  <EncryptionInfo>',
    `    <EncryptionKey>${e.encryptionKey}</EncryptionKey>`,
    `    <MacKey>${e.macKey}</MacKey>`,
    `    <InitializationVector>${e.initializationVector}</InitializationVector>`,
    `    <Mac>${e.mac}</Mac>`,
    `    <ProfileIdentifier>${e.profileIdentifier}</ProfileIdentifier>`,
    `    <FileDigest>${e.fileDigest}</FileDigest>`,
    `    <FileDigestAlgorithm>${e.fileDigestAlgorithm}</FileDigestAlgorithm>`,
    '  </EncryptionInfo>',
  ];
  const m = info.msiInfo;
  if (m) {
    lines.push(
      '  <MsiInfo>',
      `    <MsiProductCode>${xmlEscape(m.productCode, 'Detection.xml <MsiProductCode>')}</MsiProductCode>`,
      `    <MsiProductVersion>${xmlEscape(m.productVersion, 'Detection.xml <MsiProductVersion>')}</MsiProductVersion>`,
      `    <MsiPackageCode>${xmlEscape(m.packageCode, 'Detection.xml <MsiPackageCode>')}</MsiPackageCode>`,
      `    <MsiUpgradeCode>${xmlEscape(m.upgradeCode, 'Detection.xml <MsiUpgradeCode>')}</MsiUpgradeCode>`,
      `    <MsiExecutionContext>${m.executionContext}</MsiExecutionContext>`,
      `    <MsiRequiresLogon>${m.requiresLogon}</MsiRequiresLogon>`,
      `    <MsiRequiresReboot>${m.requiresReboot}</MsiRequiresReboot>`,
      `    <MsiIsMachineInstall>${m.isMachineInstall}</MsiIsMachineInstall>`,
      `    <MsiIsUserInstall>${m.isUserInstall}</MsiIsUserInstall>`,
      `    <MsiIncludesServices>${m.includesServices}</MsiIncludesServices>`,
      `    <MsiIncludesODBCDataSource>${m.includesODBCDataSource}</MsiIncludesODBCDataSource>`,
      `    <MsiContainsSystemRegistryKeys>${m.containsSystemRegistryKeys}</MsiContainsSystemRegistryKeys>`,
      `    <MsiContainsSystemFolders>${m.containsSystemFolders}</MsiContainsSystemFolders>`,
      `    <MsiPublisher>${xmlEscape(m.publisher, 'Detection.xml <MsiPublisher>')}</MsiPublisher>`,
      '  </MsiInfo>',
    );
  }
  lines.push('</ApplicationInfo>', '');
  return lines.join('\r\n');
}

/** Text of the first <tag>…</tag> inside `xml`; Detection.xml elements carry no attributes we need. */
function element(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`).exec(xml);
  return m ? xmlUnescape(m[1]) : undefined;
}

function required(xml: string, tag: string): string {
  const v = element(xml, tag);
  if (v === undefined) throw new Error(`Detection.xml: <${tag}> is missing`);
  return v.trim();
}

export function parseDetectionXml(xml: string): ApplicationInfo {
  if (!/<ApplicationInfo[\s>]/.test(xml)) throw new Error('Detection.xml: no <ApplicationInfo> root element');
  const enc = element(xml, 'EncryptionInfo');
  if (enc === undefined) throw new Error('Detection.xml: <EncryptionInfo> is missing');
  const profile = required(enc, 'ProfileIdentifier');
  const algorithm = required(enc, 'FileDigestAlgorithm');
  if (profile !== 'ProfileVersion1') throw new Error(`Detection.xml: unsupported ProfileIdentifier ${JSON.stringify(profile)}; expected ProfileVersion1`);
  if (algorithm !== 'SHA256') throw new Error(`Detection.xml: unsupported FileDigestAlgorithm ${JSON.stringify(algorithm)}; expected SHA256`);
  const info: ApplicationInfo = {
    name: required(xml, 'Name'),
    unencryptedContentSize: Number(required(xml, 'UnencryptedContentSize')),
    fileName: required(xml, 'FileName'),
    setupFile: required(xml, 'SetupFile'),
    encryptionInfo: {
      encryptionKey: required(enc, 'EncryptionKey'),
      macKey: required(enc, 'MacKey'),
      initializationVector: required(enc, 'InitializationVector'),
      mac: required(enc, 'Mac'),
      profileIdentifier: 'ProfileVersion1',
      fileDigest: required(enc, 'FileDigest'),
      fileDigestAlgorithm: 'SHA256',
    },
  };
  const msi = element(xml, 'MsiInfo');
  if (msi !== undefined) {
    const bool = (tag: string) => required(msi, tag) === 'true';
    const ctx = required(msi, 'MsiExecutionContext');
    info.msiInfo = {
      productCode: required(msi, 'MsiProductCode'),
      productVersion: required(msi, 'MsiProductVersion'),
      packageCode: required(msi, 'MsiPackageCode'),
      upgradeCode: required(msi, 'MsiUpgradeCode'),
      executionContext: ctx === 'User' ? 'User' : ctx === 'Any' ? 'Any' : 'System',
      requiresLogon: bool('MsiRequiresLogon'),
      requiresReboot: bool('MsiRequiresReboot'),
      isMachineInstall: bool('MsiIsMachineInstall'),
      isUserInstall: bool('MsiIsUserInstall'),
      includesServices: bool('MsiIncludesServices'),
      includesODBCDataSource: bool('MsiIncludesODBCDataSource'),
      containsSystemRegistryKeys: bool('MsiContainsSystemRegistryKeys'),
      containsSystemFolders: bool('MsiContainsSystemFolders'),
      publisher: element(msi, 'MsiPublisher')?.trim() ?? '',
      productName: info.name,
    };
  }
  return info;
}
