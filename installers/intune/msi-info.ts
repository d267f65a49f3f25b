// MSI metadata for Intune (Detection.xml MsiInfo, Graph msiInformation), read with msitools' msiinfo.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cancelSignal } from '../../common/cancel.js';

import type { MsiInfo } from './detection-xml.js';

const run = promisify(execFile);

async function msiinfo(args: string[]): Promise<string> {
  try {
    return (await run('msiinfo', args, { maxBuffer: 32 << 20, signal: cancelSignal() })).stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error('msiinfo is missing: install it with `apt-get install -y msitools`');
    throw new Error(`msiinfo ${args.join(' ')} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

/** Rows of an exported table (.idt: three header lines, tab-separated, CRLF). */
export async function msiTable(msi: string, table: string): Promise<string[][]> {
  const tables = (await msiinfo(['tables', msi])).split(/\r?\n/);
  if (!tables.includes(table)) return [];
  const text = await msiinfo(['export', msi, table]);
  return text
    .split(/\r?\n/)
    .slice(3)
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}

export async function readMsiInfo(msi: string): Promise<MsiInfo> {
  const props = new Map((await msiTable(msi, 'Property')).map((r) => [r[0], r[1] ?? '']));
  const summary = await msiinfo(['suminfo', msi]);
  const packageCode = /^Revision number \(UUID\):\s*(\{[0-9A-Fa-f-]+\})/m.exec(summary)?.[1];
  const need = (name: string): string => {
    const v = props.get(name);
    if (!v) throw new Error(`${msi}: the Property table has no ${name}`);
    return v;
  };
  if (!packageCode) throw new Error(`${msi}: the summary information has no package code (revision number)`);
  const allUsers = props.get('ALLUSERS');
  const perMachine = allUsers === '1';
  const services = await msiTable(msi, 'ServiceInstall');
  const registry = await msiTable(msi, 'Registry');
  const odbc = await msiTable(msi, 'ODBCDataSource');
  const dirs = await msiTable(msi, 'Directory');
  const systemDirs = /^(System|System64|Windows)Folder$/;
  return {
    productCode: need('ProductCode'),
    productVersion: need('ProductVersion'),
    packageCode,
    upgradeCode: need('UpgradeCode'),
    executionContext: perMachine ? 'System' : allUsers === '2' ? 'Any' : 'User',
    requiresLogon: false,
    requiresReboot: props.get('REBOOT') === 'Force',
    isMachineInstall: perMachine,
    isUserInstall: !perMachine,
    includesServices: services.length > 0,
    includesODBCDataSource: odbc.length > 0,
    // Registry Root 2 = HKEY_LOCAL_MACHINE.
    containsSystemRegistryKeys: registry.some((r) => r[1] === '2'),
    containsSystemFolders: dirs.some((r) => systemDirs.test(r[0] ?? '')),
    publisher: props.get('Manufacturer') ?? '',
    productName: props.get('ProductName') ?? '',
  };
}
