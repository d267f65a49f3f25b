import { readFile, readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

import type { Fleet, FleetSecrets, LoadedFleet, SecretRef } from './types.js';
import { agentConfigSchema } from '../agent/config-schema.js';
import { parseCidr, parseEndpoint } from '../common/endpoint.js';
import { JsonFileError, parseJson, readJsonFile } from '../common/json-file.js';
import { schemaCheck, SchemaIssuesError, type SchemaIssue } from '../common/json-schema.js';

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
  let doc: unknown;
  try {
    doc = await readJsonFile(abs, 'fleet file');
  } catch (err) {
    throw asFleetError(err);
  }
  const fleet = validateFleet(doc, abs);
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

function readSecret(ref: string | SecretRef | undefined, field: string, env: NodeJS.ProcessEnv): string | undefined {
  if (ref === undefined) return undefined;
  if (typeof ref === 'string') return ref;
  const value = env[ref.env];
  if (value === undefined || value === '') {
    throw new FleetValidationError('environment', [
      {
        path: field,
        value: `{"env":"${ref.env}"}`,
        allowed: `the environment variable ${ref.env} set to the secret`,
        message: `${field}: environment variable ${ref.env} is not set; set it to the secret before generating installers`,
      },
    ]);
  }
  return value;
}

/** Resolve secret references; `required` lists fields a target cannot build without. */
export function resolveSecrets(fleet: Fleet, env: NodeJS.ProcessEnv = process.env, required: Array<keyof FleetSecrets> = []): FleetSecrets {
  const optional = <T>(fn: () => T, key: keyof FleetSecrets): T | undefined => {
    try {
      return fn();
    } catch (err) {
      if (required.includes(key)) throw err;
      return undefined;
    }
  };
  return {
    technicianId: optional(() => readSecret(fleet.technicianId, '/technicianId', env), 'technicianId'),
    proxyPassword: optional(() => readSecret(fleet.proxy.password, '/proxy/password', env), 'proxyPassword'),
    signingPassword: optional(() => readSecret(fleet.signing?.windows?.password, '/signing/windows/password', env), 'signingPassword'),
  };
}
