// Ajv validators for Holdfast's JSON Schemas: the one Ajv set-up. Run from source (tests, the extension), this compiles
// a schema on first use. The bundled commands get this module replaced at build time by the same validators as
// generated code (scripts/schema-validators-plugin.mjs, via common/schema-standalone.ts), so they neither compile a
// schema at every start (~70 ms of CPU for agent.json) nor ship Ajv.
import AjvModule, { type ValidateFunction } from 'ajv';

import { SCHEMA_FORMATS } from './schema-formats.js';

type Ajv = import('ajv').default;

/** Our own annotation keywords: "x-allowed" (what a field accepts, in words), "x-secret", "x-labels" (enum display names),
 * "x-env-value" (the rule for a secret that only the environment may hold). */
const KEYWORDS = [
  { keyword: 'x-allowed', schemaType: 'string' },
  { keyword: 'x-secret', schemaType: 'boolean' },
  { keyword: 'x-labels', schemaType: 'object' },
  { keyword: 'x-env-value', schemaType: 'object' },
] as const;

/** `code`: Ajv's code options, for generating standalone validators. */
export function newAjv(code?: object): Ajv {
  const AjvCtor = ((AjvModule as unknown as { default?: unknown }).default ?? AjvModule) as new (o: object) => Ajv;
  const ajv = new AjvCtor({ allErrors: true, strict: true, strictRequired: false, useDefaults: true, allowUnionTypes: true, verbose: true, code });
  for (const k of KEYWORDS) ajv.addKeyword({ ...k });
  for (const [name, check] of Object.entries(SCHEMA_FORMATS)) ajv.addFormat(name, check);
  return ajv;
}

/** The validator of `schema`, which may $ref the `refs` schemas by their $id. */
export function validatorFor(schema: object, refs: object[]): ValidateFunction {
  const ajv = newAjv();
  for (const r of refs) ajv.addSchema(r);
  return ajv.compile(schema);
}
