import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

import { fleetWarnings, pointerToken } from './addresses.js';
import { signingFiles, signingIssues, type ReferencedFile } from './signing.js';
import type { Fleet, FleetSecrets, LoadedFleet, SecretRef } from './types.js';
import { agentConfigSchema } from '../agent/config-schema.js';
import { parseCidr, parseEndpoint } from '../common/endpoint.js';
import { JsonFileError, parseJson, readJsonFile } from '../common/json-file.js';
import { schemaCheck, SchemaIssuesError, schemaNode, type SchemaIssue } from '../common/json-schema.js';

/** Endpoint and subnet syntax (common/endpoint.ts), re-exported for every face. */
export { parseCidr, parseEndpoint };

// The schema ships inside the bundle, so every face (CLI, extension, tests) validates alike.
import schema from './fleet.schema.json' with { type: 'json' };

export const fleetSchema = schema;
export const FLEET_FILE_SUFFIX = '.fleet.json';

/** A problem in a fleet file: JSON pointer, (masked) value, what is allowed, and the line to print. */
export type FleetIssue = SchemaIssue;

export class FleetValidationError extends SchemaIssuesError {
  override name = 'FleetValidationError';
}

const checkFleet = schemaCheck(fleetSchema, [agentConfigSchema]);

function semanticIssues(fleet: Fleet): FleetIssue[] {
  const issues: FleetIssue[] = [];
  const { primary, alternate } = fleet.registration;
  if (primary === alternate) {
    issues.push({
      path: '/registration/alternate',
      value: JSON.stringify(alternate),
      allowed: 'an address different from the primary, so agents have somewhere to fail over to',
      message: `/registration/alternate: ${JSON.stringify(alternate)} is the same as the primary; expected a different server for failover`,
    });
  }
  // A mapped firewall forwards each of its ports to one server: two servers on one firewall port cannot work.
  const seenFirewall = new Map<string, string>();
  for (const [server, firewall] of Object.entries(fleet.addressMap ?? {})) {
    const other = seenFirewall.get(firewall);
    if (other !== undefined) {
      const path = `/addressMap/${pointerToken(server)}`;
      issues.push({
        path,
        value: JSON.stringify(firewall),
        allowed: 'a firewall address used by no other server: a mapped firewall has one port per destination',
        message: `${path}: ${JSON.stringify(firewall)} is also the firewall address of ${other}; a mapped firewall needs one port per server address`,
      });
    } else seenFirewall.set(firewall, server);
  }
  const proxy = fleet.proxy;
  if (proxy.type !== 'socks5' && proxy.type !== 'http' && (proxy.username !== undefined || proxy.password !== undefined)) {
    if (proxy.password !== undefined) {
      issues.push({
        path: '/proxy/password',
        allowed: 'no password: only socks5 and http proxies authenticate with one',
        message: `/proxy/password: a ${proxy.type} proxy takes no password; only socks5 and http proxies authenticate with one`,
      });
    }
  }
  return issues;
}

/** A file that cannot be read or is not JSON, as a fleet error. */
function asFleetError(err: unknown): unknown {
  if (!(err instanceof JsonFileError)) return err;
  return new FleetValidationError(err.file, [{ path: '/', allowed: err.code ? 'a readable fleet file' : 'a JSON object', message: err.problem }]);
}

/** Parse and validate fleet JSON text. Throws FleetValidationError naming every bad field. */
export function parseFleet(text: string, file = 'fleet'): Fleet {
  let doc: unknown;
  try {
    doc = parseJson(text, file);
  } catch (err) {
    throw asFleetError(err);
  }
  return validateFleet(doc, file);
}

function validateFleet(doc: unknown, file: string): Fleet {
  const issues = checkFleet(doc);
  if (issues.length) throw new FleetValidationError(file, issues);
  const fleet = doc as Fleet;
  fleet.proxy ??= { type: 'none' };
  fleet.backup ??= {} as Fleet['backup'];
  fleet.backup.include ??= [];
  fleet.backup.exclude ??= [];
  fleet.backup.protectedPaths ??= [];
  fleet.backup.schedule ??= { frequency: 'daily', at: '02:00' };
  fleet.identity ??= { keepOnUninstall: true };
  fleet.branding.bundleId ??= 'com.holdfast.agent';
  fleet.branding.upgradeCode = fleet.branding.upgradeCode.replace(/[{}]/g, '').toUpperCase();
  fleet.tlsPin = fleet.tlsPin.toUpperCase();
  const extra = [...semanticIssues(fleet), ...signingIssues(fleet)];
  if (extra.length) throw new FleetValidationError(file, extra);
  return fleet;
}

/** Files a fleet names (escrow key, signing identities), checked so generate never fails half-way on them. */
async function referencedFileIssues(fleet: Fleet, dir: string): Promise<FleetIssue[]> {
  const checks: ReferencedFile[] = [
    {
      path: '/escrowPublicKey',
      rel: fleet.escrowPublicKey,
      accepts: (content) => content.toString('latin1').includes('-----BEGIN PUBLIC KEY-----'),
      format: 'PEM',
      allowed: 'a readable PEM public key file (-----BEGIN PUBLIC KEY-----), relative to the fleet file',
    },
    ...signingFiles(fleet),
  ];
  const issues: FleetIssue[] = [];
  for (const c of checks) {
    if (c.rel === undefined) continue;
    let problem: string | undefined;
    try {
      if (!c.accepts(await readFile(resolve(dir, c.rel)))) problem = `is not in the expected ${c.format} format`;
    } catch (err) {
      problem = `cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
    }
    if (problem)
      issues.push({
        path: c.path,
        value: JSON.stringify(c.rel),
        allowed: c.allowed,
        message: `${c.path}: ${JSON.stringify(c.rel)} ${problem}; expected ${c.allowed}`,
      });
  }
  return issues;
}

export async function loadFleet(file: string): Promise<LoadedFleet> {
  const abs = resolve(file);
  let doc: unknown;
  try {
    doc = await readJsonFile(abs, 'fleet file');
  } catch (err) {
    throw asFleetError(err);
  }
  const fleet = validateFleet(doc, abs);
  const fileIssues = await referencedFileIssues(fleet, dirname(abs));
  if (fileIssues.length) throw new FleetValidationError(abs, fileIssues);
  return { file: abs, dir: dirname(abs), fleet, warnings: fleetWarnings(fleet) };
}

/** Every *.fleet.json directly in a folder (an MSP keeps one per customer), sorted by name. */
export async function listFleetFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir);
  return names
    .filter((n) => n.endsWith(FLEET_FILE_SUFFIX))
    .sort()
    .map((n) => join(resolve(dir), n));
}

interface SecretField {
  key: keyof FleetSecrets;
  pointer: string;
  ref(fleet: Fleet): string | SecretRef | undefined;
  /** Where the field's rule for a value from the environment lives when the file cannot hold the value itself. */
  envOnlyRule?: string;
}

/** The fields that hold secrets: their values are never shown, and may come from {"env": NAME}. */
const SECRET_FIELDS: SecretField[] = [
  { key: 'technicianId', pointer: '/technicianId', ref: (f) => f.technicianId },
  { key: 'proxyPassword', pointer: '/proxy/password', ref: (f) => f.proxy.password },
  {
    key: 'signingPassword',
    pointer: '/signing/windows/password',
    ref: (f) => f.signing?.windows?.password,
    envOnlyRule: '#/definitions/signing/properties/windows/properties/password/x-env-value',
  },
  {
    key: 'installerSigningPassword',
    pointer: '/signing/macos/installer/password',
    ref: (f) => f.signing?.macos?.installer?.password,
    envOnlyRule: '#/definitions/signing/properties/windows/properties/password/x-env-value',
  },
];

/** The value of the variable a secret reference names, when it is set; unset or empty: undefined. */
function envValue(ref: string | SecretRef | undefined, env: NodeJS.ProcessEnv): { name: string; value: string } | undefined {
  if (ref === undefined || typeof ref === 'string') return undefined;
  const value = env[ref.env];
  return value === undefined || value === '' ? undefined : { name: ref.env, value };
}

/** The keywords an env-only rule may use: the ones meetsEnvOnlyRule reads. */
const ENV_RULE_KEYWORDS = new Set(['type', 'minLength', 'maxLength', 'pattern', 'x-allowed']);

/**
 * Whether a value meets an env-only field's "x-env-value" rule. The bundles carry generated validators of whole
 * schemas only, so the rule is read here; it may use only type (string), length and pattern, and a rule that uses
 * anything else is refused rather than half-checked.
 */
function meetsEnvOnlyRule(rule: Record<string, unknown>, value: string): boolean {
  const unread = Object.keys(rule).filter((k) => !ENV_RULE_KEYWORDS.has(k));
  if (unread.length || rule.type !== 'string') throw new Error(`an x-env-value rule may use only ${[...ENV_RULE_KEYWORDS].join(', ')}`);
  const length = [...value].length;
  if (typeof rule.minLength === 'number' && length < rule.minLength) return false;
  if (typeof rule.maxLength === 'number' && length > rule.maxLength) return false;
  return typeof rule.pattern !== 'string' || new RegExp(rule.pattern, 'u').test(value);
}

function setAt(doc: Record<string, unknown>, pointer: string, value: string): void {
  const keys = pointer.split('/').slice(1);
  let node = doc;
  for (const k of keys.slice(0, -1)) node = node[k] as Record<string, unknown>;
  node[keys[keys.length - 1]] = value;
}

/**
 * Secrets given as {"env": NAME} whose variable is set to a value the field does not allow: the rule a value typed in
 * the file must meet, checked by the same schema (the value is put where the reference was and the fleet checked
 * again). Issues name the field and the variable, never the value.
 */
export function envSecretIssues(fleet: Fleet, env: NodeJS.ProcessEnv = process.env): FleetIssue[] {
  const issues: FleetIssue[] = [];
  const refused = (field: SecretField, name: string, allowed: string) =>
    issues.push({
      path: field.pointer,
      value: `{"env":"${name}"}`,
      allowed,
      message: `${field.pointer}: the value of environment variable ${name} is not allowed (not shown: it is a secret); expected ${allowed}`,
    });
  const typed = structuredClone(fleet) as unknown as Record<string, unknown>;
  const substituted = new Map<string, { field: SecretField; name: string }>();
  for (const field of SECRET_FIELDS) {
    const got = envValue(field.ref(fleet), env);
    if (!got) continue;
    if (field.envOnlyRule) {
      const rule = schemaNode(fleetSchema, field.envOnlyRule);
      if (!meetsEnvOnlyRule(rule, got.value)) refused(field, got.name, String(rule['x-allowed']));
      continue;
    }
    setAt(typed, field.pointer, got.value);
    substituted.set(field.pointer, { field, name: got.name });
  }
  if (substituted.size) {
    for (const issue of checkFleet(typed)) {
      const hit = substituted.get(issue.path);
      if (hit) refused(hit.field, hit.name, issue.allowed.replace(/, or \{"env": "VARIABLE_NAME"\}$/, ''));
    }
  }
  return issues;
}

function readSecret(field: SecretField, fleet: Fleet, env: NodeJS.ProcessEnv): string | undefined {
  const ref = field.ref(fleet);
  if (ref === undefined) return undefined;
  if (typeof ref === 'string') return ref;
  const got = envValue(ref, env);
  if (!got) {
    throw new FleetValidationError('environment', [
      {
        path: field.pointer,
        value: `{"env":"${ref.env}"}`,
        allowed: `the environment variable ${ref.env} set to the secret`,
        message: `${field.pointer}: environment variable ${ref.env} is not set; set it to the secret before generating installers`,
      },
    ]);
  }
  return got.value;
}

/**
 * Resolve secret references; `required` lists fields a target cannot build without (others may stay unset).
 * A variable set to a value the field does not allow is an error whether required or not.
 */
export function resolveSecrets(fleet: Fleet, env: NodeJS.ProcessEnv = process.env, required: Array<keyof FleetSecrets> = []): FleetSecrets {
  const bad = envSecretIssues(fleet, env);
  if (bad.length) throw new FleetValidationError('environment', bad);
  const secrets: FleetSecrets = { technicianId: undefined, proxyPassword: undefined, signingPassword: undefined, installerSigningPassword: undefined };
  for (const field of SECRET_FIELDS) {
    try {
      secrets[field.key] = readSecret(field, fleet, env);
    } catch (err) {
      if (required.includes(field.key)) throw err;
    }
  }
  return secrets;
}
