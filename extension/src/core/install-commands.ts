import type { GenerateResult } from './manifest.js';

export interface InstallChoice {
  channel: string;
  label: string;
  command: string;
}

const LABELS: Record<string, string> = {
  msiexec: 'msiexec (Windows, silent MSI install)',
  intune: 'Intune (Win32 app install command)',
  gpo: 'Group Policy (startup script)',
  installer: 'installer (macOS, silent pkg install)',
  jamf: 'Jamf Pro (policy command)',
  uninstall: 'Uninstall',
};
const ORDER = ['msiexec', 'installer', 'intune', 'gpo', 'jamf', 'uninstall'];

/** The silent install lines of a generate, msiexec/installer/Intune first; secrets never appear in them. */
export function installChoices(gen: GenerateResult | undefined): InstallChoice[] {
  if (!gen) return [];
  return Object.entries(gen.installCommands)
    .sort(([a], [b]) => (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99) || a.localeCompare(b))
    .map(([channel, command]) => ({ channel, label: LABELS[channel] ?? channel, command }));
}
