// The addresses a fleet's agents dial, and the port warnings about them. One place: validation, the firewall
// sheets and their test all derive from it.
import { formatEndpoint, parseEndpoint } from '../common/endpoint.js';
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
  for (const a of [...registrationAddresses(fleet), ...mappedServers(fleet)]) {
    if (a.port === fleet.port) continue;
    const value = JSON.stringify(formatEndpoint(a.host, a.port));
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

/** The server side of each address-map entry (the key), with its field. */
function mappedServers(fleet: Fleet): DialAddress[] {
  const out: DialAddress[] = [];
  for (const server of Object.keys(fleet.addressMap ?? {})) {
    const e = parseEndpoint(server);
    if (e) out.push({ field: `/addressMap/${pointerToken(server)}`, host: e.host, port: e.port });
  }
  return out;
}

/** A JSON pointer token (RFC 6901): "~" and "/" escaped. */
export function pointerToken(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** One mapped-firewall forwarding: agents dial `firewall`, the firewall forwards to `server`. */
export interface Forwarding {
  field: string;
  server: { host: string; port: number };
  firewall: { host: string; port: number };
}

export function fleetForwardings(fleet: Fleet): Forwarding[] {
  const out: Forwarding[] = [];
  for (const [server, firewall] of Object.entries(fleet.addressMap ?? {})) {
    const s = parseEndpoint(server);
    const f = parseEndpoint(firewall);
    if (s && f) out.push({ field: `/addressMap/${pointerToken(server)}`, server: s, firewall: f });
  }
  return out;
}

/**
 * Every address the agents connect to, with the field it comes from: the registration pair, where the address map
 * names one of them its firewall address instead, and every firewall address of the map (assigned and pushed pairs
 * are dialled through it). Backup servers assigned without a mapping lie in the server subnets, on the fleet's port.
 */
export function fleetDialAddresses(fleet: Fleet): DialAddress[] {
  const forwardings = fleetForwardings(fleet);
  const out: DialAddress[] = [];
  for (const a of registrationAddresses(fleet)) {
    const f = forwardings.find((x) => x.server.port === a.port && x.server.host === a.host);
    out.push(f ? { field: f.field, ...f.firewall } : a);
  }
  for (const f of forwardings) if (!out.some((a) => a.host === f.firewall.host && a.port === f.firewall.port)) out.push({ field: f.field, ...f.firewall });
  return out;
}

/** Every port the agents dial, sorted: the server port and any other port an address of the fleet uses. */
export function fleetPorts(fleet: Fleet): number[] {
  return [...new Set([fleet.port, ...fleetDialAddresses(fleet).map((a) => a.port)])].sort((a, b) => a - b);
}
