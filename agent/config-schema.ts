// The agent config schema (agent-config.schema.json) and the value lists code needs from it: proxy types, schedule
// frequencies and days, with their display names. These lists exist only in the schema; the fleet schema, the GPO
// templates, group policy parsing and the transport all read them from here.
import { schemaNode } from '../common/json-schema.js';
import type { AgentProxyType, AgentSchedule } from './config-types.js';

// The schema ships inside the bundle, so every face (agent, deployer, extension) validates alike.
import schema from './agent-config.schema.json' with { type: 'json' };

export const agentConfigSchema = schema;

const definition = (name: string) => schemaNode(schema, `#/definitions/${name}`);
const labels = (name: string) => definition(name)['x-labels'] as Record<string, string>;

export type ScheduleFrequency = AgentSchedule['frequency'];
export type ScheduleDay = NonNullable<AgentSchedule['day']>;

export const PROXY_TYPES = definition('proxyType').enum as readonly AgentProxyType[];
export const PROXY_TYPE_LABELS = labels('proxyType') as Readonly<Record<AgentProxyType, string>>;
export const SCHEDULE_FREQUENCIES = definition('scheduleFrequency').enum as readonly ScheduleFrequency[];
/** Monday first, as the schema lists them. */
export const SCHEDULE_DAYS = definition('scheduleDay').enum as readonly ScheduleDay[];
export const SCHEDULE_DAY_LABELS = labels('scheduleDay') as Readonly<Record<ScheduleDay, string>>;

/** A field's pattern and its words, for checks outside a whole-document validation (group policy values, pushed addresses). */
export function fieldRule(name: 'technicianId' | 'scheduleAt' | 'endpoint'): { pattern: RegExp; allowed: string } {
  const node = definition(name);
  return { pattern: new RegExp(node.pattern as string), allowed: node['x-allowed'] as string };
}

/** "a, b, c or d": an enumeration in words, for help texts. */
export function inWords(values: readonly string[]): string {
  return values.length < 2 ? values.join('') : `${values.slice(0, -1).join(', ')} or ${values[values.length - 1]}`;
}

/** The proxies an agent can use, by display name, in words ("SOCKS4, ... or HTTP CONNECT"). */
export const PROXY_KINDS_IN_WORDS = inWords(PROXY_TYPES.filter((t) => t !== 'none').map((t) => PROXY_TYPE_LABELS[t]));
