// Which address the agent dials for each server it knows (status): with a mapped proxy firewall (config addressMap,
// which group policy or managed preferences may set) the firewall address that forwards to it, else the server itself.
// The translation is the transport's own (mappedEndpoint), so status shows exactly what a connection does.
import type { AgentConfig } from './config-types.js';
import type { ServerPair } from '../protocol/messages.js';
import { mappedEndpoint } from './transport/index.js';

export interface DialRoute {
  /** "registration primary", "registration alternate", "assigned primary", "assigned alternate". */
  role: string;
  server: string;
  /** The address connected to: the firewall address when the map names the server, else the server. */
  dials: string;
}

export function dialRoutes(config: Pick<AgentConfig, 'registration' | 'addressMap'>, assigned: ServerPair | null): DialRoute[] {
  const pairs: Array<[string, ServerPair]> = [['registration', config.registration]];
  if (assigned) pairs.push(['assigned', assigned]);
  return pairs.flatMap(([kind, pair]) =>
    (['primary', 'alternate'] as const).map((which) => ({
      role: `${kind} ${which}`,
      server: pair[which],
      dials: mappedEndpoint(pair[which], config.addressMap),
    })),
  );
}

/** status lines: the map (when there is one) and each route that goes through the firewall. */
export function formatDialRoutes(addressMap: Record<string, string> | null, routes: DialRoute[]): string[] {
  const entries = Object.entries(addressMap ?? {});
  if (entries.length === 0) return ['address map:   none (servers are dialled directly)'];
  const lines = [`address map:   ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} (mapped firewall: server -> firewall)`];
  for (const [server, firewall] of entries) lines.push(`  ${server} -> ${firewall}`);
  for (const r of routes) lines.push(`  dials:       ${r.role} ${r.server}${r.dials === r.server ? ' directly (not in the map)' : ` via ${r.dials}`}`);
  return lines;
}
