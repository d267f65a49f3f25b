// Per-fleet MSI: a copy of the shared payload MSI with the fleet's values written into its tables, its own
// fleet-defaults.json in a small second cabinet, and fresh product and package codes. No wixl, no recompression.
import { copyFile, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { column, formattedLiteral, importArgs, setCell, type MsiTable } from './msi-tables.js';
import type { Payload } from './payload.js';
import { HIDDEN_PROPERTIES, PUBLIC_PROPERTIES } from './properties.js';
import { FAILURE_ACTIONS_KEY, FAILURE_ACTIONS_TABLE, SERVICE_NAME_PROPERTY } from './service-recovery.js';
import { runTool } from './tools.js';

// https://learn.microsoft.com/windows/win32/msi/upgrade-table
const UPGRADE_MIGRATE_FEATURES = 0x1;
const UPGRADE_INCLUDE_MAXIMUM = 0x200;

export interface FleetMsiValues {
  fleet: string;
  customer: string;
  vendor: string;
  product: string;
  version: string;
  upgradeCode: string;
  productCode: string;
  packageCode: string;
  serviceName: string;
  keepIdentity: boolean;
  supportUrl?: string;
  componentGuids: Record<'RuntimeComponent' | 'AgentComponent' | 'ServiceComponent' | 'FleetComponent' | 'RegistryComponent' | 'DataComponent', string>;
  /** Contents of fleet-defaults.json (the agent config the configure action starts from; locked, it may hold secrets). */
  fleetDefaults: string;
}

const braced = (guid: string): string => `{${guid.replace(/[{}]/g, '').toUpperCase()}}`;

function clone(t: MsiTable): MsiTable {
  return { ...t, rows: t.rows.map((r) => [...r]) };
}

function setProperty(t: MsiTable, name: string, value: string): void {
  const row = t.rows.find((r) => r[0] === name);
  if (row) row[1] = value;
  else t.rows.push([name, value]);
}

/** The tables of one fleet's MSI, derived from the payload's. Exported for tests. */
export function fleetTables(payload: Payload, v: FleetMsiValues, fleetDefaultsSize: number): MsiTable[] {
  const t = Object.fromEntries(Object.entries(payload.tables).map(([k, table]) => [k, clone(table)])) as Payload['tables'];

  const prop = t.Property;
  setProperty(prop, 'ProductCode', braced(v.productCode));
  setProperty(prop, 'UpgradeCode', braced(v.upgradeCode));
  setProperty(prop, 'ProductName', v.product);
  setProperty(prop, 'Manufacturer', v.vendor);
  setProperty(prop, 'ProductVersion', v.version);
  setProperty(prop, 'HF_FLEET', v.fleet);
  setProperty(prop, 'HF_KEEPIDENTITY', v.keepIdentity ? '1' : '0');
  setProperty(prop, SERVICE_NAME_PROPERTY, v.serviceName);
  setProperty(prop, 'ARPCOMMENTS', `${v.product} for ${v.customer}`);
  if (v.supportUrl) {
    setProperty(prop, 'ARPHELPLINK', v.supportUrl);
    setProperty(prop, 'ARPURLINFOABOUT', v.supportUrl);
  }
  const secure = new Set((prop.rows.find((r) => r[0] === 'SecureCustomProperties')?.[1] ?? '').split(';').filter(Boolean));
  for (const p of PUBLIC_PROPERTIES) secure.add(p);
  setProperty(prop, 'SecureCustomProperties', [...secure].join(';'));
  setProperty(prop, 'MsiHiddenProperties', HIDDEN_PROPERTIES.join(';'));

  const up = t.Upgrade;
  const [iCode, iMin, iMax, iAttr, iAction] = ['UpgradeCode', 'VersionMin', 'VersionMax', 'Attributes', 'ActionProperty'].map((c) => column(up, c));
  for (const row of up.rows) {
    row[iCode] = braced(v.upgradeCode);
    if (row[iAction] === 'HF_OLDER_FOUND') {
      row[iMax] = v.version;
      // Same-version reinstall replaces too (a rebuilt MSI of the same version), keeping the feature states.
      row[iAttr] = String(Number(row[iAttr]) | UPGRADE_MIGRATE_FEATURES | UPGRADE_INCLUDE_MAXIMUM);
    } else {
      row[iMin] = v.version;
    }
  }

  for (const [dir, name] of [
    ['VENDORDIR', v.vendor],
    ['DATAVENDORDIR', v.vendor],
    ['INSTALLDIR', v.product],
    ['DATADIR', v.product],
  ]) {
    setCell(t.Directory, 'Directory', dir, 'DefaultDir', name);
  }

  const reg = t.Registry;
  const [rKey, rName, rValue] = ['Key', 'Name', 'Value'].map((c) => column(reg, c));
  for (const row of reg.rows) {
    row[rKey] = `SOFTWARE\\${v.vendor}\\${v.product}\\`;
    if (row[rName] === 'Customer') row[rValue] = formattedLiteral(v.customer);
    if (row[rName] === 'ServiceName') row[rValue] = v.serviceName;
  }

  setCell(t.ServiceInstall, 'ServiceInstall', 'AgentService', 'Name', v.serviceName);
  setCell(t.ServiceInstall, 'ServiceInstall', 'AgentService', 'DisplayName', v.product);
  setCell(t.ServiceInstall, 'ServiceInstall', 'AgentService', 'Description', `${v.product} backup agent`);
  setCell(t.ServiceControl, 'ServiceControl', 'AgentServiceControl', 'Name', v.serviceName);
  setCell(t.MsiServiceConfigFailureActions, FAILURE_ACTIONS_TABLE, FAILURE_ACTIONS_KEY, 'Name', v.serviceName);

  for (const [component, guid] of Object.entries(v.componentGuids)) setCell(t.Component, 'Component', component, 'ComponentId', braced(guid));
  setCell(t.Component, 'Component', 'FleetComponent', 'KeyPath', 'FleetDefaults');

  const file = t.File;
  const iSeq = column(file, 'Sequence');
  const seq = Math.max(...file.rows.map((r) => Number(r[iSeq]))) + 1;
  const fileRow = file.columns.map(() => '');
  fileRow[column(file, 'File')] = 'FleetDefaults';
  fileRow[column(file, 'Component_')] = 'FleetComponent';
  fileRow[column(file, 'FileName')] = 'fleet-defaults.json';
  fileRow[column(file, 'FileSize')] = String(fleetDefaultsSize);
  fileRow[column(file, 'Attributes')] = '512';
  fileRow[iSeq] = String(seq);
  file.rows.push(fileRow);
  setCell(t.Media, 'DiskId', '2', 'LastSequence', String(seq));

  return Object.values(t);
}

/** Writes `out`: the payload MSI with this fleet's tables, cabinet and summary information. */
export async function patchFleetMsi(payload: Payload, v: FleetMsiValues, out: string, workRoot: string): Promise<void> {
  const work = await mkdtemp(join(workRoot, '.msi-patch-'));
  try {
    // The cabinet entry is named by the File table key.
    await writeFile(join(work, 'FleetDefaults'), v.fleetDefaults, { mode: 0o600 });
    await runTool('gcab', ['-c', '-z', '-n', 'fleet.cab', 'FleetDefaults'], { cwd: work });
    const tables = fleetTables(payload, v, Buffer.byteLength(v.fleetDefaults));
    const imports = await importArgs(work, tables);
    const partial = `${out}.partial`;
    await copyFile(payload.msi, partial);
    await runTool('msibuild', [partial, ...imports, '-a', 'fleet.cab', 'fleet.cab', '-s', `${v.product} agent`, v.vendor, 'x64;1033', braced(v.packageCode)], {
      cwd: work,
    });
    await rename(partial, out);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
