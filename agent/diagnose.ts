// Preflight: can this machine reach its servers the way the agent is configured? Each hop (server x route)
// is probed with the real transport (TCP, proxy, pinned TLS) and a protocol PING, and gets a verdict.
import type { AgentConfig } from './config-types.js';
import { describeProxy, openConnection, TransportError, usesProxy, type TransportErrorKind } from './transport/index.js';
import { MessageType, RpcConnection, type ServerPair } from '../protocol/index.js';

export type Verdict = 'ok' | 'refused' | 'timeout' | 'proxy-auth' | 'proxy-refused' | 'proxy-unreachable' | 'tls-pin' | 'error';

export const verdictLabels: Record<Verdict, string> = {
  ok: 'ok',
  refused: 'refused',
  timeout: 'timed out',
  'proxy-auth': 'proxy auth failed',
  'proxy-refused': 'proxy refused destination',
  'proxy-unreachable': 'proxy unreachable',
  'tls-pin': 'TLS pin mismatch',
  error: 'error',
};

export type PairName = 'registration' | 'assigned';

export interface HopResult {
  pair: PairName;
  role: 'primary' | 'alternate';
  endpoint: string;
  route: 'direct' | 'proxy';
  /** "socks5 proxy 10.0.0.5:1080" when route is proxy. */
  via?: string;
  verdict: Verdict;
  /** The transport error kind behind a failed verdict, or "protocol" when TLS worked but PING did not. */
  kind?: TransportErrorKind | 'protocol';
  /** What happened, without the endpoint/proxy prefix (those are in their own fields). No secrets. */
  detail: string;
  elapsedMs: number;
  /** On the path the agent itself uses (its configured route, to the pair it needs now). */
  needed: boolean;
}

export interface PairSummary {
  pair: PairName;
  needed: boolean;
  /** At least one of primary/alternate is ok by the agent's configured route. */
  reachable: boolean;
}

export interface DiagnoseReport {
  /** Exit-code rule: every needed pair is reachable. */
  ok: boolean;
  registered: boolean;
  route: 'direct' | 'proxy';
  proxy?: string;
  pairs: PairSummary[];
  hops: HopResult[];
}

export interface DiagnoseOptions {
  /** Assigned server pair from the agent's state; absent when the agent has not registered yet. */
  assigned?: ServerPair;
  /** Per phase (TCP, proxy handshake, TLS, PING); default 5000 ms. */
  timeoutMs?: number;
  /** Also try each server directly when a proxy is configured (default true): tells whether the proxy is needed. */
  alsoDirect?: boolean;
}

function verdictOf(kind: TransportErrorKind): Verdict {
  switch (kind) {
    case 'refused':
    case 'timeout':
    case 'proxy-auth':
    case 'proxy-refused':
    case 'proxy-unreachable':
    case 'tls-pin':
      return kind;
    default:
      return 'error';
  }
}

/** One hop: pinned TLS through the route, then a PING so a foreign TLS service is not taken for a server. */
export async function probeHop(
  endpoint: string,
  config: Pick<AgentConfig, 'tlsPin' | 'proxy' | 'addressMap'>,
  route: 'direct' | 'proxy',
  timeoutMs: number,
): Promise<Pick<HopResult, 'verdict' | 'kind' | 'detail' | 'elapsedMs'>> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const proxy = route === 'proxy' ? config.proxy : { type: 'none' as const };
  let tls;
  try {
    tls = await openConnection(endpoint, { tlsPin: config.tlsPin, proxy, timeoutMs, addressMap: config.addressMap });
  } catch (err) {
    if (!(err instanceof TransportError)) return { verdict: 'error', kind: 'protocol', detail: (err as Error).message, elapsedMs: elapsed() };
    const prefix = route === 'proxy' ? `${endpoint} via ${describeProxy(config.proxy)}: ` : `${endpoint}: `;
    const detail = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
    return { verdict: verdictOf(err.kind), kind: err.kind, detail, elapsedMs: elapsed() };
  }
  const rpc = new RpcConnection(tls, endpoint, timeoutMs);
  try {
    await rpc.request(MessageType.PING, {});
    return { verdict: 'ok', detail: 'TLS pin verified, server answered PING', elapsedMs: elapsed() };
  } catch (err) {
    return {
      verdict: 'error',
      kind: 'protocol',
      detail: `TLS pin verified but the server did not answer PING: ${(err as Error).message}`,
      elapsedMs: elapsed(),
    };
  } finally {
    rpc.close();
    tls.destroy();
  }
}

/** Probes every hop at once and applies the exit rule (see docs/proxies.md). */
export async function diagnose(config: AgentConfig, options: DiagnoseOptions = {}): Promise<DiagnoseReport> {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const viaProxy = usesProxy(config.proxy);
  const configured: 'direct' | 'proxy' = viaProxy ? 'proxy' : 'direct';
  const routes: Array<'direct' | 'proxy'> = viaProxy ? (options.alsoDirect === false ? ['proxy'] : ['proxy', 'direct']) : ['direct'];
  const registered = options.assigned !== undefined;
  const pairs: Array<[PairName, ServerPair]> = [['registration', config.registration]];
  if (options.assigned) pairs.push(['assigned', options.assigned]);
  // Before registration the agent needs the registration pair; after it, only its assigned pair.
  const neededPair: PairName = registered ? 'assigned' : 'registration';

  const plans: Array<Omit<HopResult, 'verdict' | 'kind' | 'detail' | 'elapsedMs'>> = [];
  for (const [pair, servers] of pairs) {
    for (const role of ['primary', 'alternate'] as const) {
      for (const route of routes) {
        plans.push({
          pair,
          role,
          endpoint: servers[role],
          route,
          ...(route === 'proxy' && { via: describeProxy(config.proxy) }),
          needed: pair === neededPair && route === configured,
        });
      }
    }
  }
  const hops: HopResult[] = await Promise.all(plans.map(async (plan) => ({ ...plan, ...(await probeHop(plan.endpoint, config, plan.route, timeoutMs)) })));
  const summaries: PairSummary[] = pairs.map(([pair]) => ({
    pair,
    needed: pair === neededPair,
    reachable: hops.some((h) => h.pair === pair && h.route === configured && h.verdict === 'ok'),
  }));
  return {
    ok: summaries.every((s) => !s.needed || s.reachable),
    registered,
    route: configured,
    ...(viaProxy && { proxy: describeProxy(config.proxy) }),
    pairs: summaries,
    hops,
  };
}

/** The human table `holdfast-agent diagnose` prints. */
export function formatReport(report: DiagnoseReport): string {
  const header = ['SERVER', 'ROLE', 'ENDPOINT', 'ROUTE', 'VERDICT', 'TIME', 'DETAIL'];
  const rows = report.hops.map((h) => [
    `${h.pair}${h.needed ? '' : ' (info)'}`,
    h.role,
    h.endpoint,
    h.route === 'proxy' ? `via ${h.via}` : 'direct',
    verdictLabels[h.verdict],
    `${h.elapsedMs} ms`,
    h.detail,
  ]);
  const widths = header.map((_, i) => Math.max(header[i].length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const route = report.route === 'proxy' ? `through the ${report.proxy}` : 'directly (no proxy configured)';
  const stage = report.registered ? 'registered: it uses its assigned server pair' : 'not registered yet: it needs the registration server pair';
  const out = [`The agent connects ${route}; it is ${stage}.`, '', line(header), ...rows.map(line), ''];
  if (report.hops.some((h) => !h.needed)) out.push('(info): not on the path the agent uses now; shown for comparison, does not affect the result.');
  for (const p of report.pairs) {
    if (!p.needed) continue;
    out.push(
      p.reachable
        ? `OK: the ${p.pair} pair is reachable ${report.route === 'proxy' ? 'through the proxy' : 'directly'}.`
        : `FAIL: neither ${p.pair} server is reachable ${report.route === 'proxy' ? 'through the proxy' : 'directly'}.`,
    );
  }
  return `${out.join('\n')}\n`;
}
