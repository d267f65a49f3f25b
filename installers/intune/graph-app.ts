// Microsoft Graph (beta) bodies describing the Holdfast apps and profiles to Intune.
// Written to disk by the intune targets, sent as they are by `holdfast-deploy push intune`.
import type { MsiInfo } from './detection-xml.js';

/** Windows Installer return codes Intune should understand (msiexec documents them). */
export const MSI_RETURN_CODES = [
  { returnCode: 0, type: 'success' },
  { returnCode: 1707, type: 'success' },
  { returnCode: 3010, type: 'softReboot' },
  { returnCode: 1641, type: 'hardReboot' },
  { returnCode: 1618, type: 'retry' },
] as const;

/** Double quotes are the only character cmd.exe/msiexec treat specially inside a quoted file name. */
function quoteArg(s: string): string {
  if (/["\r\n]/.test(s)) throw new Error(`cannot quote ${JSON.stringify(s)} for a command line: it contains a quote or line break`);
  return `"${s}"`;
}

/** `args`: placeholders of properties the admin must fill in at install (" TECHNICIANID=<Technician ID>"). */
export function msiInstallCommand(msiFileName: string, args = ''): string {
  return `msiexec /i ${quoteArg(msiFileName)} /qn /norestart${args}`;
}

export function msiUninstallCommand(productCode: string): string {
  if (!/^\{[0-9A-Fa-f-]{36}\}$/.test(productCode)) throw new Error(`not an MSI product code: ${JSON.stringify(productCode)}`);
  return `msiexec /x ${quoteArg(productCode)} /qn /norestart`;
}

/** What every mobileApp body carries. */
export interface AppIdentity {
  displayName: string;
  publisher: string;
  description: string;
  informationUrl?: string;
}

function appIdentity(input: AppIdentity): Record<string, unknown> {
  return {
    displayName: input.displayName,
    description: input.description,
    publisher: input.publisher,
    developer: input.publisher,
    ...(input.informationUrl && { informationUrl: input.informationUrl }),
    isFeatured: false,
  };
}

export interface Win32AppInput extends AppIdentity {
  /** Name of the .intunewin file uploaded. */
  fileName: string;
  /** The MSI inside it. */
  setupFile: string;
  msi: MsiInfo;
  /** Placeholders the install line carries for values given at install time (installTimeArgs). */
  installArgs?: string;
}

export type GraphBody = Record<string, unknown> & { '@odata.type': string };

export function win32LobAppBody(input: Win32AppInput): GraphBody {
  const { msi } = input;
  return {
    '@odata.type': '#microsoft.graph.win32LobApp',
    ...appIdentity(input),
    fileName: input.fileName,
    setupFilePath: input.setupFile,
    displayVersion: msi.productVersion,
    installCommandLine: msiInstallCommand(input.setupFile, input.installArgs),
    uninstallCommandLine: msiUninstallCommand(msi.productCode),
    applicableArchitectures: 'x64',
    minimumSupportedWindowsRelease: '1607',
    installExperience: {
      '@odata.type': 'microsoft.graph.win32LobAppInstallExperience',
      runAsAccount: 'system',
      deviceRestartBehavior: 'basedOnReturnCode',
      maxRunTimeInMinutes: 60,
    },
    rules: [
      {
        '@odata.type': '#microsoft.graph.win32LobAppProductCodeRule',
        ruleType: 'detection',
        productCode: msi.productCode,
        productVersionOperator: 'greaterThanOrEqual',
        productVersion: msi.productVersion,
      },
    ],
    returnCodes: MSI_RETURN_CODES.map((r) => ({ '@odata.type': '#microsoft.graph.win32LobAppReturnCode', ...r })),
    msiInformation: {
      '@odata.type': 'microsoft.graph.win32LobAppMsiInformation',
      productCode: msi.productCode,
      productVersion: msi.productVersion,
      upgradeCode: msi.upgradeCode,
      requiresReboot: msi.requiresReboot,
      packageType: msi.isMachineInstall ? 'perMachine' : 'perUser',
      productName: msi.productName,
      publisher: msi.publisher,
    },
  };
}

export interface MacPkgAppInput extends AppIdentity {
  fileName: string;
  bundleId: string;
  version: string;
}

export function macOSPkgAppBody(input: MacPkgAppInput): GraphBody {
  return {
    '@odata.type': '#microsoft.graph.macOSPkgApp',
    ...appIdentity(input),
    fileName: input.fileName,
    primaryBundleId: input.bundleId,
    primaryBundleVersion: input.version,
    includedApps: [{ '@odata.type': 'microsoft.graph.macOSIncludedApp', bundleId: input.bundleId, bundleVersion: input.version }],
    ignoreVersionDetection: false,
    minimumSupportedOperatingSystem: { '@odata.type': 'microsoft.graph.macOSMinimumOperatingSystem', v12_0: true },
  };
}

export interface MacProfileInput {
  displayName: string;
  description: string;
  /** The .mobileconfig bytes. */
  payload: Buffer;
  payloadFileName: string;
  payloadName: string;
}

export function macOSCustomConfigurationBody(input: MacProfileInput): GraphBody {
  return {
    '@odata.type': '#microsoft.graph.macOSCustomConfiguration',
    displayName: input.displayName,
    description: input.description,
    deploymentChannel: 'deviceChannel',
    payloadName: input.payloadName,
    payloadFileName: input.payloadFileName,
    payload: input.payload.toString('base64'),
  };
}
