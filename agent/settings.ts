// The one table of managed agent settings: where each lives in agent.json, and under which name an installer
// property (MSI, `configure --set`), a group policy value (ADMX, registry) and a macOS managed preference
// (mobileconfig, /Library/Managed Preferences) carry it. configure, the MSI properties, the ADMX, the mobileconfig and
// both policy readers derive from this table, so the names cannot drift apart. Values are checked against the
// agent config schema's definitions; whether a setting is a secret comes from the schema's "x-secret".
import { schemaNode } from '../common/json-schema.js';
import { agentConfigSchema } from './config-schema.js';

export interface SettingRow {
  /** Dotted JSON path in agent.json; also the name of `configure --set name=value`. */
  name: string;
  /** The agent config schema node the value must satisfy (a $ref into agent-config.schema.json). */
  schema: string;
  /** The MSI public property that sets it at install time (configure applies it); none: not an install setting. */
  msiProperty?: string;
  /** Group policy value name under HKLM\Software\Policies\<vendor>\<product>; a list lives in a subkey of that name. */
  policyValue?: string;
  /** Key in the managed preferences of the agent's domain (macOS); secrets never have one. */
  plistKey?: string;
  /** An array of strings (policy: values 1, 2, 3... of a subkey; plist: an array). */
  list?: boolean;
  /** A map of strings to strings (policy: value name → data in a subkey, an ADMX explicitValue list; plist: a dictionary). */
  map?: boolean;
}

export const SETTINGS = [
  { name: 'technicianId', schema: '#/definitions/technicianId', msiProperty: 'TECHNICIANID', policyValue: 'TechnicianId' },
  {
    name: 'registration.primary',
    schema: '#/definitions/endpoint',
    msiProperty: 'REGPRIMARY',
    policyValue: 'RegistrationPrimary',
    plistKey: 'RegistrationPrimary',
  },
  {
    name: 'registration.alternate',
    schema: '#/definitions/endpoint',
    msiProperty: 'REGALTERNATE',
    policyValue: 'RegistrationAlternate',
    plistKey: 'RegistrationAlternate',
  },
  { name: 'proxy.type', schema: '#/definitions/proxyType', msiProperty: 'PROXYTYPE', policyValue: 'ProxyType', plistKey: 'ProxyType' },
  { name: 'proxy.host', schema: '#/definitions/proxyHost', msiProperty: 'PROXYHOST', policyValue: 'ProxyHost', plistKey: 'ProxyHost' },
  { name: 'proxy.port', schema: '#/definitions/port', msiProperty: 'PROXYPORT', policyValue: 'ProxyPort', plistKey: 'ProxyPort' },
  { name: 'proxy.username', schema: '#/definitions/proxyUsername', msiProperty: 'PROXYUSER', policyValue: 'ProxyUsername', plistKey: 'ProxyUsername' },
  // Policy stores are readable by every domain user (SYSVOL) or every local user (managed preferences): no password there.
  { name: 'proxy.password', schema: '#/definitions/proxyPassword', msiProperty: 'PROXYPASSWORD' },
  { name: 'backup.schedule.frequency', schema: '#/definitions/scheduleFrequency', policyValue: 'ScheduleFrequency', plistKey: 'ScheduleFrequency' },
  { name: 'backup.schedule.at', schema: '#/definitions/scheduleAt', policyValue: 'ScheduleAt', plistKey: 'ScheduleAt' },
  { name: 'backup.schedule.day', schema: '#/definitions/scheduleDay', policyValue: 'ScheduleDay', plistKey: 'ScheduleDay' },
  { name: 'backup.exclude', schema: '#/definitions/pathList', policyValue: 'Exclusions', plistKey: 'Exclusions', list: true },
  { name: 'backup.uploadLimitKiBps', schema: '#/definitions/uploadLimitKiBps', policyValue: 'UploadLimitKiBps', plistKey: 'UploadLimitKiBps' },
  { name: 'serviceLog.maxBytes', schema: '#/definitions/logMaxBytes', policyValue: 'LogMaxBytes', plistKey: 'LogMaxBytes' },
  { name: 'serviceLog.files', schema: '#/definitions/logFiles', policyValue: 'LogFiles', plistKey: 'LogFiles' },
  // Mapped proxy firewall: server IP:port → firewall IP:port (keys and values both endpoints).
  { name: 'addressMap', schema: '#/definitions/addressMap', policyValue: 'AddressMap', plistKey: 'AddressMap', map: true },
  { name: 'backup.retention.keepLast', schema: '#/definitions/keepCount', msiProperty: 'KEEPLAST' },
  { name: 'backup.retention.keepDaily', schema: '#/definitions/keepCount', msiProperty: 'KEEPDAILY' },
  { name: 'backup.retention.keepWeekly', schema: '#/definitions/keepCount', msiProperty: 'KEEPWEEKLY' },
  { name: 'backup.retention.keepMonthly', schema: '#/definitions/keepCount', msiProperty: 'KEEPMONTHLY' },
] as const satisfies readonly SettingRow[];

export type Setting = (typeof SETTINGS)[number];
export type SettingName = Setting['name'];

/** The schema node of a setting's value (for a list: of one item; for a map: of one value, keys are checked alike). */
export function settingSchema(row: SettingRow): Record<string, unknown> {
  const node = schemaNode(agentConfigSchema, row.schema);
  if (row.map) return schemaNode(agentConfigSchema, (node.additionalProperties as { $ref: string }).$ref);
  if (!row.list) return node;
  return schemaNode(agentConfigSchema, (node.items as { $ref: string }).$ref);
}

/** Most entries a map setting may have (its schema's maxProperties). */
const mapLimit = (row: SettingRow): number => (schemaNode(agentConfigSchema, row.schema).maxProperties as number | undefined) ?? Number.POSITIVE_INFINITY;

export const isSecret = (row: SettingRow): boolean => settingSchema(row)['x-secret'] === true;

/** The allowed range of an integer setting, from its schema (for templates that show or enforce it). */
export function settingRange(name: string): { minimum: number; maximum: number } {
  const row = (SETTINGS as readonly SettingRow[]).find((r) => r.name === name);
  const node = row && settingSchema(row);
  if (node?.type !== 'integer') throw new Error(`settings table: ${name} is not an integer setting`);
  return { minimum: node.minimum as number, maximum: node.maximum as number };
}

/** Settings an installer may set (configure --set, MSI properties), in table order. */
export const INSTALL_SETTINGS = SETTINGS.filter((s): s is Extract<Setting, { msiProperty: string }> => 'msiProperty' in s);
/** Settings a group policy may set. */
export const POLICY_SETTINGS = SETTINGS.filter((s): s is Extract<Setting, { policyValue: string }> => 'policyValue' in s);
/** Settings a macOS managed preference may set. */
export const PLIST_SETTINGS = SETTINGS.filter((s): s is Extract<Setting, { plistKey: string }> => 'plistKey' in s);

/** The value at a setting's path in a config-shaped object, or undefined. */
export function getPath(obj: unknown, name: string): unknown {
  let node = obj;
  for (const key of name.split('.')) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** Sets (or, with undefined, deletes) the value at a setting's path, creating objects on the way. */
export function setPath(obj: Record<string, unknown>, name: string, value: unknown): void {
  const keys = name.split('.');
  let node = obj;
  for (const key of keys.slice(0, -1)) {
    if (node[key] === null || typeof node[key] !== 'object') node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = keys[keys.length - 1]!;
  if (value === undefined) delete node[last];
  else node[last] = value;
}

/**
 * Checks one value from a policy store against the setting's schema node and returns it in the config's type (enum
 * values lower-cased, ports as numbers). Throws `describe(problem)` naming what is allowed; a secret is never shown.
 */
export function checkSettingValue(row: SettingRow, raw: string | number, fail: (shown: string, allowed: string) => Error): string | number {
  const node = settingSchema(row);
  const shown = isSecret(row) ? '(hidden secret)' : JSON.stringify(String(raw).slice(0, 80));
  if (Array.isArray(node.enum)) {
    const lower = String(raw).trim().toLowerCase();
    if (!(node.enum as string[]).includes(lower)) throw fail(shown, `one of ${(node.enum as string[]).join(', ')}`);
    return lower;
  }
  if (node.type === 'integer') {
    const n = typeof raw === 'number' ? raw : /^\s*\d+\s*$/.test(raw) ? Number(raw) : Number.NaN;
    if (!Number.isInteger(n) || n < (node.minimum as number) || n > (node.maximum as number)) throw fail(shown, node['x-allowed'] as string);
    return n;
  }
  const s = String(raw).trim();
  const tooLong = typeof node.maxLength === 'number' && s.length > node.maxLength;
  if (tooLong || (typeof node.pattern === 'string' && !new RegExp(node.pattern as string).test(s))) throw fail(shown, node['x-allowed'] as string);
  return s;
}

export class PolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyError';
  }
}

/** A policy store as the mapping sees it: a setting's raw value, or undefined when the store does not set it. */
export interface PolicyStore {
  /** How its values are named in errors: "policy value" (GPO) or "managed preference" (macOS). */
  what: string;
  /** The setting's name in this store (policyValue or plistKey). */
  key(row: SettingRow): string | undefined;
  /** A list setting yields the list, a map setting the map; blank strings count as unset. */
  read(row: SettingRow, key: string): string | number | string[] | Record<string, string> | undefined;
}

/**
 * Lays the values a policy store sets over the config's own objects (so the caller can merge with a shallow spread):
 * a policy wins field by field, the file keeps what no policy sets. Proxy type "none" drops the file's proxy. Every
 * value is checked against the schema; an error names the store's key, the value (never a secret) and what is allowed.
 */
export function policyOverridesFrom<C extends object>(store: PolicyStore, config: C): Partial<C> {
  const out: Record<string, unknown> = {};
  for (const row of SETTINGS as readonly SettingRow[]) {
    const key = store.key(row);
    if (key === undefined) continue;
    const raw = store.read(row, key);
    if (raw === undefined) continue;
    const fail = (shown: string, allowed: string) => new PolicyError(`${store.what} ${key}: ${shown} is not allowed; expected ${allowed}`);
    let value: unknown;
    if (row.map) {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw fail(JSON.stringify(String(raw).slice(0, 80)), 'a map (name → value)');
      const entries = Object.entries(raw);
      if (entries.length > mapLimit(row)) throw fail(`${entries.length} entries`, `at most ${mapLimit(row)}`);
      const item = (what: string) => (shown: string, allowed: string) => fail(`${what} ${shown}`, allowed);
      value = Object.fromEntries(
        entries.map(([k, v]) => [checkSettingValue(row, k, item('name')), checkSettingValue(row, v, item(`value of ${JSON.stringify(k)}:`))]),
      );
    } else if (row.list) {
      if (!Array.isArray(raw)) throw fail(JSON.stringify(String(raw).slice(0, 80)), 'a list of strings');
      value = raw.map((item) => checkSettingValue(row, item, (shown, allowed) => fail(`item ${shown}`, allowed)));
    } else {
      if (typeof raw === 'object') throw fail(Array.isArray(raw) ? 'a list' : 'a map', 'a single value');
      value = checkSettingValue(row, raw, fail);
    }
    const top = row.name.split('.')[0]!;
    if (row.name !== top && !(top in out)) out[top] = structuredClone((config as Record<string, unknown>)[top] ?? {});
    setPath(out, row.name, value);
  }
  if ((out.proxy as { type?: string } | undefined)?.type === 'none') out.proxy = { type: 'none' };
  return out as Partial<C>;
}
