// Generates the bundled form of common/schema-validators.ts: the validators of the given schemas as Ajv standalone
// code, behind the same validatorFor(). Used by scripts/schema-validators-plugin.mjs at build time and by a test.
import standaloneModule from 'ajv/dist/standalone/index.js';
import { _ } from 'ajv/dist/compile/codegen/index.js';

import { newAjv } from './schema-validators.js';

/** ESM source exporting validatorFor(schema) for each of `schemas` (each with an $id); formats come from schema-formats. */
export function standaloneValidatorsModule(schemas: Array<{ $id: string }>, formatsModule = './schema-formats.js'): string {
  const standaloneCode = ((standaloneModule as unknown as { default?: unknown }).default ?? standaloneModule) as typeof standaloneModule.default;
  const ajv = newAjv({ source: true, esm: true, formats: _`formats` });
  for (const s of schemas) ajv.addSchema(s);
  const names = Object.fromEntries(schemas.map((s, i) => [`validate_${i}`, s.$id]));
  return [
    `import { SCHEMA_FORMATS as formats } from ${JSON.stringify(formatsModule)};`,
    standaloneCode(ajv, names),
    `const byId = { ${schemas.map((s, i) => `${JSON.stringify(s.$id)}: validate_${i}`).join(', ')} };`,
    'export function validatorFor(schema) {',
    '  const validate = byId[schema.$id];',
    "  if (!validate) throw new Error('schema ' + schema.$id + ' has no validator in this bundle: add it to scripts/schema-validators-plugin.mjs');",
    '  return validate;',
    '}',
    '',
  ].join('\n');
}
