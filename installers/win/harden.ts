// Post-processing of the wixl-built payload MSI with msibuild: custom-action rows, bits and tables wixl 0.101 cannot write.
import { column, exportTable, importArgs, rowWhere, type MsiTable } from './msi-tables.js';
import { CONFIGURE_ACTION, HIDDEN_PROPERTIES, PROPERTY_SETTINGS, PUBLIC_PROPERTIES } from './properties.js';
import {
  CONFIGURE_SERVICES_SEQUENCE,
  SERVICE_NAME_PROPERTY,
  SERVICE_RECOVERY_ACTION,
  SERVICE_RECOVERY_SEQUENCE,
  SERVICE_RECOVERY_TYPE,
  failureActionsTable,
  scFailureArgs,
} from './service-recovery.js';
import { runTool } from './tools.js';

// https://learn.microsoft.com/windows/win32/msi/custom-action-in-script-execution-options
const CA_HIDE_TARGET = 0x2000;
// Type 51 (set property) with a null target removes the property.
const CA_SET_PROPERTY = 51;
// Type 2 (exe stored in the Binary table) + 64 (continue when it fails).
const CA_BINARY_EXE_IGNORE = 2 | 64;
// Type 1 (DLL stored in the Binary table) + deferred (0x400) + no impersonation (0x800): runs as LocalSystem.
const CA_BINARY_DLL_DEFERRED_SYSTEM = 1 | 0x400 | 0x800;

/** SYSTEM and Administrators full control, nothing inherited, nobody else (SDDL; FA = file all access). */
export const LOCKED_FILE_SDDL = 'D:PAI(A;;FA;;;SY)(A;;FA;;;BA)';
/** The same for a folder, inherited by everything created in it (OI object inherit, CI container inherit). */
export const LOCKED_FOLDER_SDDL = 'D:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)';

/** Objects holding secrets and the MsiLockPermissionsEx rows that lock them (Windows Installer 5.0+). */
export const LOCKS: ReadonlyArray<{ key: string; lockObject: string; table: 'File' | 'CreateFolder'; sddl: string }> = [
  // fleet-defaults.json (File row added per fleet by patch.ts): may hold the Technician ID and proxy password.
  { key: 'HF_LockFleetDefaults', lockObject: 'FleetDefaults', table: 'File', sddl: LOCKED_FILE_SDDL },
  // The data folder: agent.json, installer.json, logs and state\ (identity, credential, device key).
  { key: 'HF_LockDataDir', lockObject: 'DATADIR', table: 'CreateFolder', sddl: LOCKED_FOLDER_SDDL },
];

/**
 * CustomActionData of HF_Configure: line 1 the command line the DLL starts (paths and the ProductCode only), then
 * one name=value line per public property, which the DLL writes to the command's stdin (wrapper/holdfast-msi-ca.c).
 */
export function configureActionData(): string {
  const command =
    '"[#NodeExe]" "[#AgentBundle]" configure --msi --settings-stdin --owner [ProductCode] --config "[DATADIR]agent.json" --defaults "[#FleetDefaults]"';
  return [command, ...PUBLIC_PROPERTIES.map((p) => `${PROPERTY_SETTINGS[p]}=[${p}]`)].join('\n');
}

/** The type-51 action that sets HF_Configure's CustomActionData. */
export const CONFIGURE_DATA_ACTION = 'HF_ConfigureData';

const row = (t: MsiTable, values: Record<string, string>): string[] => t.columns.map((c) => values[c] ?? '');

function lockTable(): MsiTable {
  return {
    name: 'MsiLockPermissionsEx',
    columns: ['MsiLockPermissionsEx', 'LockObject', 'Table', 'SDDLText', 'Condition'],
    types: ['s72', 's72', 's32', 's0', 'S255'],
    keys: ['MsiLockPermissionsEx'],
    rows: LOCKS.map((l) => [l.key, l.lockObject, l.table, l.sddl, '']),
  };
}

/**
 * What wixl cannot express, added to the payload once:
 * - HF_Configure, a deferred DLL action (Binary ConfigureTool) with HideTarget, and HF_ConfigureData, the type-51
 *   action (also HideTarget) that sets its CustomActionData: the settings, secrets included, never travel on a
 *   command line that process auditing records;
 * - HideTarget on HF_Unconfigure;
 * - HF_Handoff (see the template), since wixl drops a CustomAction with BinaryKey + ExeCommand;
 * - the service's failure actions (restart; service-recovery.ts) and the MsiConfigureServices action applying them;
 * - MsiLockPermissionsEx rows limiting fleet-defaults.json and the data folder to SYSTEM and Administrators;
 * - actions that drop the hidden properties as soon as HF_Configure is scheduled (its CustomActionData is then in
 *   the install script), so the property dump at the end of a /l*v log cannot show them even where
 *   MsiHiddenProperties is not honoured (Wine 8 ignores it), and even when the install fails.
 */
export async function hardenPayload(msi: string, dir: string): Promise<void> {
  const ca = await exportTable(msi, 'CustomAction');
  const seq = await exportTable(msi, 'InstallExecuteSequence');
  const unconfigure = rowWhere(ca, 'Action', 'HF_Unconfigure');
  unconfigure[column(ca, 'Type')] = String(Number(unconfigure[column(ca, 'Type')]) | CA_HIDE_TARGET);
  ca.rows.push(
    row(ca, { Action: CONFIGURE_ACTION, Type: String(CA_BINARY_DLL_DEFERRED_SYSTEM | CA_HIDE_TARGET), Source: 'ConfigureTool', Target: 'Configure' }),
    // Its Target holds line breaks, which msibuild cannot import from an .idt file: set below with SQL.
    row(ca, { Action: CONFIGURE_DATA_ACTION, Type: String(CA_SET_PROPERTY | CA_HIDE_TARGET), Source: CONFIGURE_ACTION, Target: 'set below' }),
    row(ca, { Action: 'HF_Handoff', Type: String(CA_BINARY_EXE_IGNORE), Source: 'HandoffTool', Target: '--set-owner "[DATADIR]installer.json" [ProductCode]' }),
  );
  // Scheduling HF_Configure copies its CustomActionData into the install script; the secrets are dropped right after.
  const scheduled = Number(rowWhere(seq, 'Action', CONFIGURE_ACTION)[column(seq, 'Sequence')]);
  HIDDEN_PROPERTIES.forEach((property, i) => {
    const action = `HF_Forget_${property}`;
    ca.rows.push(row(ca, { Action: action, Type: String(CA_SET_PROPERTY), Source: property }));
    seq.rows.push(row(seq, { Action: action, Sequence: String(scheduled + 1 + i) }));
  });
  seq.rows.push(row(seq, { Action: 'MsiConfigureServices', Condition: 'VersionNT', Sequence: String(CONFIGURE_SERVICES_SEQUENCE) }));
  ca.rows.push(
    row(ca, {
      Action: SERVICE_RECOVERY_ACTION,
      Type: String(SERVICE_RECOVERY_TYPE),
      Source: 'INSTALLDIR',
      Target: `"[System64Folder]sc.exe" ${scFailureArgs(`[${SERVICE_NAME_PROPERTY}]`)}`,
    }),
  );
  seq.rows.push(row(seq, { Action: SERVICE_RECOVERY_ACTION, Condition: 'VersionNT AND NOT REMOVE="ALL"', Sequence: String(SERVICE_RECOVERY_SEQUENCE) }));
  const services = await exportTable(msi, 'ServiceInstall');
  const service = rowWhere(services, 'ServiceInstall', 'AgentService');
  const failureActions = failureActionsTable(service[column(services, 'Name')], service[column(services, 'Component_')]);
  await runTool('msibuild', [msi, ...(await importArgs(dir, [ca, seq, lockTable(), failureActions]))], { cwd: dir });
  const data = configureActionData();
  if (data.includes("'")) throw new Error(`${CONFIGURE_DATA_ACTION}: the action data must not contain a single quote (SQL literal)`);
  await runTool('msibuild', [msi, '-q', `UPDATE CustomAction SET Target = '${data}' WHERE Action = '${CONFIGURE_DATA_ACTION}'`], { cwd: dir });
}
