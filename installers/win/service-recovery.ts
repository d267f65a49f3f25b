// What Windows does when the agent service fails: restart it, as WiX's util:ServiceConfig would say. wixl 0.101 rejects
// ServiceConfig, so harden.ts adds to the payload (patch.ts sets the fleet's service name):
// - the MsiServiceConfigFailureActions row and the MsiConfigureServices action (Windows Installer 5.0);
// - HF_ServiceRecovery, a deferred SYSTEM action running `sc.exe failure` with the same values, which Microsoft's page
//   on MsiConfigureServices recommends because the table "is not working as expected".
// Inside the service, holdfast-service.exe restarts the agent process itself (wrapper/holdfast-service.c); these
// actions cover the wrapper's own death.
import type { MsiTable } from './msi-tables.js';

/** https://learn.microsoft.com/windows/win32/msi/msiserviceconfigfailureactions-table */
export const FAILURE_ACTIONS_TABLE = 'MsiServiceConfigFailureActions';
export const FAILURE_ACTIONS_KEY = 'HF_RestartOnFailure';
/** msidbServiceConfigEventInstall: applied when the component is installed (a major upgrade installs it anew). */
const EVENT_INSTALL = 1;
/** SC_ACTION_RESTART for the first, second and later failures, after these delays. */
const SC_ACTION_RESTART = 1;
export const RESTART_DELAYS_MS = [5_000, 30_000, 60_000] as const;
/** A day without failure resets the count, so a later failure restarts after the first delay again. */
export const RESET_PERIOD_SECONDS = 86_400;
/** MsiConfigureServices runs after InstallServices (5800) and before StartServices (5900). */
export const CONFIGURE_SERVICES_SEQUENCE = 5820;

export function failureActionsTable(serviceName: string, component: string): MsiTable {
  return {
    name: FAILURE_ACTIONS_TABLE,
    columns: ['MsiServiceConfigFailureActions', 'Name', 'Event', 'ResetPeriod', 'RebootMessage', 'Command', 'Actions', 'DelayActions', 'Component_'],
    types: ['s72', 's255', 'i2', 'I4', 'L255', 'L255', 'S255', 'S255', 's72'],
    keys: ['MsiServiceConfigFailureActions'],
    rows: [
      [
        FAILURE_ACTIONS_KEY,
        serviceName,
        String(EVENT_INSTALL),
        String(RESET_PERIOD_SECONDS),
        '',
        '',
        RESTART_DELAYS_MS.map(() => SC_ACTION_RESTART).join('[~]'),
        RESTART_DELAYS_MS.join('[~]'),
        component,
      ],
    ],
  };
}

/** The property holding the fleet's service name (patch.ts), which HF_ServiceRecovery's command line names. */
export const SERVICE_NAME_PROPERTY = 'HF_SERVICENAME';
export const SERVICE_RECOVERY_ACTION = 'HF_ServiceRecovery';
/** Type 34 (exe by command line, Source = working folder) + deferred (0x400) + no impersonation (0x800) + ignore exit (64). */
export const SERVICE_RECOVERY_TYPE = 34 | 0x400 | 0x800 | 64;
export const SERVICE_RECOVERY_SEQUENCE = 5830;

/** `sc failure` arguments for the same actions as the table: reset= seconds, actions= restart/<ms>/... */
export function scFailureArgs(serviceName: string): string {
  return `failure "${serviceName}" reset= ${RESET_PERIOD_SECONDS} actions= ${RESTART_DELAYS_MS.map((ms) => `restart/${ms}`).join('/')}`;
}
