// How Holdfast checks a document against one of its JSON Schemas (agent.json: agent/agent-config.schema.json; fleet
// files: fleet/fleet.schema.json, which $refs the agent schema's definitions), and the one way a schema error reads:
// "<JSON path>: <value> is not allowed; expected <what is allowed>", the value masked where the schema marks the
// field "x-secret", the allowed text taken from the field's "x-allowed". The Ajv set-up is common/schema-validators.ts.
import type { ErrorObject, ValidateFunction } from 'ajv';

import { endpointFaultDetail } from './endpoint.js';
import { problemsMessage } from './problems.js';
import { validatorFor } from './schema-validators.js';

export interface SchemaIssue {
  /** JSON pointer of the offending value, e.g. /registration/primary ("/" for the document). */
  path: string;
  /** The offending value, masked where the field is a secret; undefined for a missing or unknown field. */
  value?: string;
  /** What the field accepts. */
  allowed: string;
  /** The whole line, path first: "/proxy/type: "ftp" is not allowed; expected none, socks4, ...". */
  message: string;
}

type Schema = Record<string, unknown>;

/** Extra words for a value a format refused, when the format can say more than its x-allowed. */
const FORMAT_DETAILS: Record<string, (value: string) => string | undefined> = {
  'ip-port': endpointFaultDetail,
};

const unescapePointer = (s: string) => s.replace(/~1/g, '/').replace(/~0/g, '~');

/** Resolves schemas by $id and follows $ref (local or to another registered schema) as validation does. */
class SchemaIndex {
  private readonly byId = new Map<string, Schema>();

  constructor(schemas: Schema[]) {
    for (const s of schemas) this.byId.set(String(s.$id), s);
  }

  /** The schema node a "$ref" in the schema `baseId` points at, and that node's schema id. */
  resolve(ref: string, baseId: string): { node: Schema; id: string } | undefined {
    const url = new URL(ref, baseId);
    const id = `${url.origin}${url.pathname}`;
    let node: unknown = this.byId.get(id);
    for (const raw of decodeURIComponent(url.hash.replace(/^#\/?/, '')).split('/').filter(Boolean)) {
      node = node && typeof node === 'object' ? (node as Schema)[unescapePointer(raw)] : undefined;
    }
    return node && typeof node === 'object' ? { node: node as Schema, id } : undefined;
  }

  /**
   * The schema node describing the value at an instance path (following properties, items and $ref), and whether
   * it or a node above it is a secret. `node` is undefined where the walk cannot follow (inside oneOf branches).
   */
  at(root: Schema, pointer: string): { node?: Schema; secret: boolean } {
    let id = String(root.$id);
    let node: Schema | undefined = root;
    let secret = false;
    const settle = () => {
      for (let hops = 0; node && hops < 8; hops++) {
        if (node['x-secret'] === true) secret = true;
        if (typeof node.$ref !== 'string') return;
        const target = this.resolve(node.$ref, id);
        node = target?.node;
        if (target) id = target.id;
      }
    };
    settle();
    for (const raw of pointer.split('/').slice(1)) {
      if (!node) break;
      const key = unescapePointer(raw);
      const props = node.properties as Record<string, Schema> | undefined;
      node = props?.[key] ?? (/^\d+$/.test(key) && node.items && typeof node.items === 'object' ? (node.items as Schema) : undefined);
      settle();
    }
    return { node, secret };
  }
}

function valueAt(doc: unknown, pointer: string): unknown {
  let node = doc;
  for (const raw of pointer.split('/').slice(1)) {
    if (node && typeof node === 'object') node = (node as Record<string, unknown>)[unescapePointer(raw)];
    else return undefined;
  }
  return node;
}

function showValue(value: unknown, secret: boolean): string | undefined {
  if (value === undefined) return undefined;
  if (secret && typeof value === 'string') return '(hidden secret)';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function describeKeyword(err: ErrorObject): string {
  switch (err.keyword) {
    case 'enum':
      return `one of ${(err.params as { allowedValues: unknown[] }).allowedValues.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ')}`;
    case 'type':
      return `a value of type ${(err.params as { type: string }).type}`;
    default:
      return err.message ?? 'a valid value';
  }
}

function allowedText(node: Schema | undefined): string | undefined {
  return typeof node?.['x-allowed'] === 'string' ? (node['x-allowed'] as string) : undefined;
}

function toIssues(index: SchemaIndex, root: Schema, doc: unknown, errors: ErrorObject[]): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  for (const err of errors) {
    // The `propertyNames` summary repeats the key's own error (kept below, naming the key).
    if (err.keyword === 'if' || err.keyword === 'propertyNames') continue;
    let issue: SchemaIssue;
    if (err.keyword === 'required') {
      const path = `${err.instancePath}/${(err.params as { missingProperty: string }).missingProperty}`;
      const { node } = index.at(root, path);
      const allowed = allowedText(node) ?? (node?.description as string | undefined) ?? 'a value';
      issue = { path, allowed, message: `${path}: required field is missing; expected ${allowed}` };
    } else if (err.keyword === 'additionalProperties') {
      const path = `${err.instancePath}/${(err.params as { additionalProperty: string }).additionalProperty}`;
      const known = Object.keys((err.parentSchema?.properties as object) ?? {}).filter((k) => k !== '$schema');
      issue = { path, allowed: `one of the known fields: ${known.join(', ')}`, message: `${path}: unknown field; allowed here: ${known.join(', ')}` };
    } else if (err.propertyName !== undefined) {
      // A key that breaks `propertyNames` (e.g. an address map's server address): name the key itself.
      const key = err.propertyName;
      const path = `${err.instancePath}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      const allowed = allowedText(err.parentSchema as Schema | undefined) ?? describeKeyword(err);
      const format = err.parentSchema?.format as string | undefined;
      const detail = format ? FORMAT_DETAILS[format]?.(key) : undefined;
      const shown = showValue(key, false);
      issue = { path, value: shown, allowed, message: `${path}: the key ${shown} is not allowed${detail ? `: ${detail}` : ''}; expected ${allowed}` };
    } else {
      const path = err.instancePath || '/';
      const { node, secret } = index.at(root, err.instancePath);
      const value = valueAt(doc, err.instancePath);
      // The field's own x-allowed says it best (a oneOf branch's error is about the branch); then the failing node's.
      const allowed = allowedText(node) ?? allowedText(err.parentSchema as Schema | undefined) ?? describeKeyword(err);
      const shown = showValue(value, secret);
      const format = (node?.format ?? err.parentSchema?.format) as string | undefined;
      const detail = !secret && typeof value === 'string' && format ? FORMAT_DETAILS[format]?.(value) : undefined;
      issue = { path, value: shown, allowed, message: `${path}: ${shown ?? 'value'} is not allowed${detail ? `: ${detail}` : ''}; expected ${allowed}` };
    }
    // A oneOf failure repeats what its branches said; keep only the first message per field.
    if (!issues.some((i) => i.path === issue.path)) issues.push(issue);
  }
  return issues;
}

/** A file that failed its schema: "file: N problems" and one line per issue (common/problems.ts). */
export class SchemaIssuesError extends Error {
  constructor(
    readonly file: string,
    readonly issues: SchemaIssue[],
  ) {
    super(
      problemsMessage(
        file,
        issues.map((i) => i.message),
      ),
    );
  }
}

export type SchemaCheck = (doc: unknown) => SchemaIssue[];

/**
 * A checker for documents of `schema` (which may $ref the `refs` schemas by their $id). It fills in the schema's
 * defaults in place and returns what is wrong, [] when nothing is. Compiled on first use.
 */
export function schemaCheck(schema: object, refs: object[] = []): SchemaCheck {
  let validate: ValidateFunction | undefined;
  const index = new SchemaIndex([schema as Schema, ...(refs as Schema[])]);
  return (doc) => {
    validate ??= validatorFor(schema, refs);
    return validate(doc) ? [] : toIssues(index, schema as Schema, doc, validate.errors ?? []);
  };
}

/** The node at a JSON pointer inside a schema document ("#/definitions/proxyType"), for reading enums and labels. */
export function schemaNode(schema: object, pointer: string): Schema {
  const found = new SchemaIndex([schema as Schema]).resolve(pointer, String((schema as Schema).$id));
  if (!found) throw new Error(`${String((schema as Schema).$id)} has no ${pointer}`);
  return found.node;
}
