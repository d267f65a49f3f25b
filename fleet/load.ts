import { readFile, readdir } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, join, resolve } from 'node:path';

import AjvModule, { type ErrorObject, type ValidateFunction } from 'ajv';
import type { Fleet, FleetSecrets, LoadedFleet, SecretRef } from './types.js';
import { parseEndpoint } from '../common/endpoint.js';
import { problemsMessage } from '../common/problems.js';

/** Endpoint syntax (IPv4:port or [IPv6]:port) is shared with the server config; re-exported for every face. */
export { parseEndpoint };

// The schema ships inside the bundle, so every face (CLI, extension, tests) validates alike.
import schema from './fleet.schema.json' with { type: 'json' };

export const fleetSchema = schema;
export const FLEET_FILE_SUFFIX = '.fleet.json';

export interface FleetIssue {
  /** JSON pointer of the offending value, e.g. /registration/primary. */
  path: string;
  /** The offending value, masked where the field is a secret; undefined for a missing field. */
  value?: string;
  /** What the field accepts. */
  allowed: string;
  message: string;
}

export class FleetValidationError extends Error {
  constructor(
    readonly file: string,
    readonly issues: FleetIssue[],
  ) {
    super(
      problemsMessage(
        file,
        issues.map((i) => i.message),
      ),
    );
    this.name = 'FleetValidationError';
  }
}

type Ajv = import('ajv').default;
let ajvInstance: Ajv | undefined;
let compiled: ValidateFunction | undefined;

function ajv(): Ajv {
  if (ajvInstance) return ajvInstance;
  const AjvCtor = ((AjvModule as unknown as { default?: unknown }).default ?? AjvModule) as new (o: object) => Ajv;
  const a = new AjvCtor({ allErrors: true, strict: true, strictRequired: false, useDefaults: true, allowUnionTypes: true });
  a.addKeyword({ keyword: 'x-allowed', schemaType: 'string' });
  a.addKeyword({ keyword: 'x-secret', schemaType: 'boolean' });
  a.addKeyword({ keyword: 'x-env-value', schemaType: 'object' });
  a.addFormat('ip-port', (s: string) => parseEndpoint(s) !== undefined);
  a.addFormat('cidr', (s: string) => parseCidr(s) !== undefined);
  ajvInstance = a;
  return a;
}

function validator(): ValidateFunction {
  compiled ??= ajv().compile(schema);
  return compiled;
}

/** "10.0.0.0/8" or "2001:db8::/32" -> address, prefix length and family. */
export function parseCidr(s: string): { address: string; prefix: number; family: 4 | 6 } | undefined {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  const family = isIP(m[1]);
  const prefix = Number(m[2]);
  if (family === 4 && prefix <= 32) return { address: m[1], prefix, family: 4 };
  if (family === 6 && prefix <= 128) return { address: m[1], prefix, family: 6 };
  return undefined;
}

function schemaAt(pointer: string): Record<string, unknown> | undefined {
  let node: unknown = schema;
  for (const raw of pointer.replace(/^#\/?/, '').split('/').filter(Boolean)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node && typeof node === 'object') node = (node as Record<string, unknown>)[key];
    else return undefined;
  }
  return node as Record<string, unknown> | undefined;
}

function valueAt(doc: unknown, pointer: string): unknown {
  let node = doc;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node && typeof node === 'object') node = (node as Record<string, unknown>)[key];
    else return undefined;
  }
  return node;
}

interface SecretField {
  key: keyof FleetSecrets;
  pointer: string;
  ref(fleet: Fleet): string | SecretRef | undefined;
  /** Where the schema says what the value may be: `x-env-value`, else the plain-string branch of `oneOf`. */
  schemaAt: string;
}

/** The fields that hold secrets: their values are never shown, and may come from {"env": NAME}. */
const SECRET_FIELDS: SecretField[] = [
  { key: 'technicianId', pointer: '/technicianId', ref: (f) => f.technicianId, schemaAt: '#/properties/technicianId' },
  { key: 'proxyPassword', pointer: '/proxy/password', ref: (f) => f.proxy.password, schemaAt: '#/definitions/proxy/properties/password' },
  {
    key: 'signingPassword',
    pointer: '/signing/windows/password',
    ref: (f) => f.signing?.windows?.password,
    schemaAt: '#/definitions/signing/properties/windows/properties/password',
  },
];

const isSecretPointer = (pointer: string): boolean => SECRET_FIELDS.some((f) => pointer === f.pointer || pointer.startsWith(`${f.pointer}/`));

const valueValidators = new Map<string, { check: ValidateFunction; allowed: string }>();

/** What a secret's value must be, from the schema: the same rule whether typed in the file or taken from the environment. */
function valueRule(field: SecretField): { check: ValidateFunction; allowed: string } {
  let rule = valueValidators.get(field.pointer);
  if (!rule) {
    const node = schemaAt(field.schemaAt)!;
    const value = (node['x-env-value'] ?? (node.oneOf as Array<Record<string, unknown>>).find((b) => b.type === 'string')) as Record<string, unknown>;
    rule = { check: ajv().compile(value), allowed: String(value['x-allowed']) };
    valueValidators.set(field.pointer, rule);
  }
  return rule;
}

function describeValue(pointer: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (isSecretPointer(pointer) && typeof value === 'string') return '(hidden secret)';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** The schema node that owns the failing value: the property itself for keyword errors inside oneOf branches. */
function allowedFor(err: ErrorObject, instancePath: string): string {
  const fromSchemaPath = (sp: string): string | undefined => {
    const parts = sp.replace(/^#\//, '').split('/');
    for (let i = parts.length; i > 0; i--) {
      const node = schemaAt(parts.slice(0, i).join('/'));
      if (node && typeof node['x-allowed'] === 'string') return node['x-allowed'] as string;
      if (node && typeof node.$ref === 'string') {
        const target = schemaAt(node.$ref as string);
        if (target && typeof target['x-allowed'] === 'string') return target['x-allowed'] as string;
      }
    }
    return undefined;
  };
  // A oneOf branch error is reported at the branch; the property's own x-allowed says it best.
  return fromSchemaPath(err.schemaPath.replace(/\/oneOf\/.*$/, '')) ?? fromSchemaPath(err.schemaPath) ?? describeKeyword(err, instancePath);
}

function describeKeyword(err: ErrorObject, _instancePath: string): string {
  switch (err.keyword) {
    case 'enum':
      return `one of ${(err.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'type':
      return `a value of type ${(err.params as { type: string }).type}`;
    default:
      return err.message ?? 'a valid value';
  }
}

function toIssues(doc: unknown, errors: ErrorObject[]): FleetIssue[] {
  const issues: FleetIssue[] = [];
  for (const err of errors) {
    if (err.keyword === 'if') continue;
    let path = err.instancePath || '/';
    let value = valueAt(doc, err.instancePath);
    let allowed: string;
    let message: string;
    if (err.keyword === 'required') {
      const missing = (err.params as { missingProperty: string }).missingProperty;
      path = `${err.instancePath}/${missing}`;
      const node = schemaAt(`${err.schemaPath.replace(/(\/(then|else))?\/required$/, '')}/properties/${missing}`);
      allowed = (node?.['x-allowed'] as string) ?? (node?.description as string) ?? 'a value';
      message = `${path}: required field is missing; expected ${allowed}`;
      value = undefined;
    } else if (err.keyword === 'additionalProperties') {
      const extra = (err.params as { additionalProperty: string }).additionalProperty;
      path = `${err.instancePath}/${extra}`;
      const parent = schemaAt(err.schemaPath.replace(/\/additionalProperties$/, ''));
      const known = Object.keys((parent?.properties as object) ?? {}).filter((k) => k !== '$schema');
      allowed = `one of the known fields: ${known.join(', ')}`;
      message = `${path}: unknown field; allowed here: ${known.join(', ')}`;
      value = undefined;
    } else {
      allowed = allowedFor(err, err.instancePath);
      const shown = describeValue(path, value);
      message = `${path}: ${shown ?? 'value'} is not allowed; expected ${allowed}`;
    }
    // A oneOf failure repeats what its branches said; keep only the first message per field.
    if (issues.some((i) => i.path === path)) continue;
    issues.push({ path, value: describeValue(path, value), allowed, message });
  }
  return issues;
}

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

/** Parse and validate fleet JSON text. Throws FleetValidationError naming every bad field. */
export function parseFleet(text: string, file = 'fleet'): Fleet {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new FleetValidationError(file, [{ path: '/', allowed: 'a JSON object', message: `not valid JSON: ${(err as Error).message}` }]);
  }
  const validate = validator();
  if (!validate(doc)) throw new FleetValidationError(file, toIssues(doc, validate.errors ?? []));
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
  const extra = semanticIssues(fleet);
  if (extra.length) throw new FleetValidationError(file, extra);
  return fleet;
}

/** Files a fleet names (escrow key, signing certificate and key), checked so generate never fails half-way on them. */
async function referencedFileIssues(fleet: Fleet, dir: string): Promise<FleetIssue[]> {
  const checks: Array<{ path: string; rel: string | undefined; marker: RegExp; allowed: string }> = [
    {
      path: '/escrowPublicKey',
      rel: fleet.escrowPublicKey,
      marker: /-----BEGIN PUBLIC KEY-----/,
      allowed: 'a readable PEM public key file (-----BEGIN PUBLIC KEY-----), relative to the fleet file',
    },
    {
      path: '/signing/windows/certificate',
      rel: fleet.signing?.windows?.certificate,
      marker: /-----BEGIN CERTIFICATE-----/,
      allowed: 'a readable PEM certificate file, relative to the fleet file',
    },
    {
      path: '/signing/windows/key',
      rel: fleet.signing?.windows?.key,
      marker: /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
      allowed: 'a readable PEM private key file, relative to the fleet file',
    },
  ];
  const issues: FleetIssue[] = [];
  for (const c of checks) {
    if (c.rel === undefined) continue;
    let problem: string | undefined;
    try {
      if (!c.marker.test(await readFile(resolve(dir, c.rel), 'utf8'))) problem = 'is not in the expected PEM format';
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
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (err) {
    throw new FleetValidationError(abs, [
      { path: '/', allowed: 'a readable fleet file', message: `cannot read fleet file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` },
    ]);
  }
  const fleet = parseFleet(text, abs);
  const fileIssues = await referencedFileIssues(fleet, dirname(abs));
  if (fileIssues.length) throw new FleetValidationError(abs, fileIssues);
  return { file: abs, dir: dirname(abs), fleet };
}

/** Every *.fleet.json directly in a folder (an MSP keeps one per customer), sorted by name. */
export async function listFleetFiles(dir: string): Promise<string[]> {
  const names = await readdir(dir);
  return names
    .filter((n) => n.endsWith(FLEET_FILE_SUFFIX))
    .sort()
    .map((n) => join(resolve(dir), n));
}

/** The value of the variable a secret reference names, when it is set; unset or empty: undefined. */
function envValue(ref: string | SecretRef | undefined, env: NodeJS.ProcessEnv): { name: string; value: string } | undefined {
  if (ref === undefined || typeof ref === 'string') return undefined;
  const value = env[ref.env];
  return value === undefined || value === '' ? undefined : { name: ref.env, value };
}

/**
 * Secrets given as {"env": NAME} whose variable is set to a value the field does not allow (the rule a value
 * typed in the file must meet). Issues name the field and the variable, never the value.
 */
export function envSecretIssues(fleet: Fleet, env: NodeJS.ProcessEnv = process.env): FleetIssue[] {
  const issues: FleetIssue[] = [];
  for (const field of SECRET_FIELDS) {
    const got = envValue(field.ref(fleet), env);
    if (!got) continue;
    const { check, allowed } = valueRule(field);
    if (check(got.value)) continue;
    issues.push({
      path: field.pointer,
      value: `{"env":"${got.name}"}`,
      allowed,
      message: `${field.pointer}: the value of environment variable ${got.name} is not allowed (not shown: it is a secret); expected ${allowed}`,
    });
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
  const secrets: FleetSecrets = { technicianId: undefined, proxyPassword: undefined, signingPassword: undefined };
  for (const field of SECRET_FIELDS) {
    try {
      secrets[field.key] = readSecret(field, fleet, env);
    } catch (err) {
      if (required.includes(field.key)) throw err;
    }
  }
  return secrets;
}
