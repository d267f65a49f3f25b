// Post-processing of the wixl-built payload MSI with msibuild: custom-action rows and bits wixl 0.101 cannot write.
import { column, exportTable, importArgs, rowWhere } from './msi-tables.js';
import { HIDDEN_PROPERTIES } from './properties.js';
import { runTool } from './tools.js';

// https://learn.microsoft.com/windows/win32/msi/custom-action-in-script-execution-options
const CA_HIDE_TARGET = 0x2000;
// Type 51 (set property) with a null target removes the property.
const CA_SET_PROPERTY = 51;
// Type 2 (exe stored in the Binary table) + 64 (continue when it fails).
const CA_BINARY_EXE_IGNORE = 2 | 64;

/**
 * What wixl cannot express, added to the payload once:
 * - HideTarget on the custom actions that carry secrets on their command line;
 * - HF_Handoff (see the template), since wixl drops a CustomAction with BinaryKey + ExeCommand;
 * - two actions after InstallFinalize that drop TECHNICIANID and PROXYPASSWORD, so the property dump at the end of a
 *   /l*v log cannot show them even where MsiHiddenProperties is not honoured (Wine 8 ignores it). They run after the
 *   deferred configure action has used the values.
 */
export async function hardenPayload(msi: string, dir: string): Promise<void> {
  const ca = await exportTable(msi, 'CustomAction');
  const seq = await exportTable(msi, 'InstallExecuteSequence');
  for (const action of ['HF_Configure', 'HF_Unconfigure']) {
    const row = rowWhere(ca, 'Action', action);
    row[column(ca, 'Type')] = String(Number(row[column(ca, 'Type')]) | CA_HIDE_TARGET);
  }
  ca.rows.push(
    ca.columns.map(
      (c) =>
        ({
          Action: 'HF_Handoff',
          Type: String(CA_BINARY_EXE_IGNORE),
          Source: 'HandoffTool',
          Target: '--set-owner "[DATADIR]installer.json" [ProductCode]',
        })[c] ?? '',
    ),
  );
  const finalize = Number(rowWhere(seq, 'Action', 'InstallFinalize')[column(seq, 'Sequence')]);
  HIDDEN_PROPERTIES.forEach((property, i) => {
    const action = `HF_Forget_${property}`;
    ca.rows.push(ca.columns.map((c) => ({ Action: action, Type: String(CA_SET_PROPERTY), Source: property })[c] ?? ''));
    seq.rows.push(seq.columns.map((c) => ({ Action: action, Sequence: String(finalize + 10 + i) })[c] ?? ''));
  });
  await runTool('msibuild', [msi, ...(await importArgs(dir, [ca, seq]))], { cwd: dir });
}
