// The addresses a fleet's agents dial, and the port warnings about them. One place: validation, the firewall
// sheets and their test all derive from it.
import { parseEndpoint } from '../common/endpoint.js';
import type { SchemaIssue } from '../common/json-schema.js';
import type { Fleet } from './types.js';

/** One address agents connect to, and the fleet field it comes from. */
export interface DialAddress {
  field: string;
  host: string;
  port: number;
}

/** The registration pair as the fleet file gives it (server addresses). */
export function registrationAddresses(fleet: Fleet): DialAddress[] {
  const out: DialAddress[] = [];
  for (const key of ['primary', 'alternate'] as const) {
    const e = parseEndpoint(fleet.registration[key]);
    if (e) out.push({ field: `/registration/${key}`, host: e.host, port: e.port });
  }
  return out;
}

/**
 * Warnings, not errors: the seed has every registration and backup server listen on one well-known port
 * (fleet.port, 16384 by default). An address on another port works only if the firewall opens it too (the sheets do).
 */
export function fleetWarnings(fleet: Fleet): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  for (const a of registrationAddresses(fleet)) {
    if (a.port === fleet.port) continue;
    const value = JSON.stringify(fleet.registration[a.field.endsWith('primary') ? 'primary' : 'alternate']);
    issues.push({
      path: a.field,
      value,
      allowed: `an address on the fleet's server port ${fleet.port} (/port): servers listen on that one port`,
      message:
        `${a.field}: ${value} uses port ${a.port}, not the fleet's server port ${fleet.port} (/port); servers listen on one port ` +
        `(16384 by default), so check the address — the firewall sheets open ${a.port} as well`,
    });
  }
  return issues;
}

/**
 * Every address the agents connect to by name of field: the registration pair. (Backup servers assigned later lie
 * in the server subnets, on the fleet's port.)
 */
export function fleetDialAddresses(fleet: Fleet): DialAddress[] {
  return registrationAddresses(fleet);
}

/** Every port the agents dial, sorted: the server port and any other port an address of the fleet uses. */
export function fleetPorts(fleet: Fleet): number[] {
  return [...new Set([fleet.port, ...fleetDialAddresses(fleet).map((a) => a.port)])].sort((a, b) => a - b);
}
