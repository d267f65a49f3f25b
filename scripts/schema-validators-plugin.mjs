// esbuild plugin for scripts/build.mjs: in the bundles, common/schema-validators.ts (Ajv, compiling a schema on first
// use) is replaced by the same validators as code generated once here with Ajv's standalone mode, so a command does
// not compile its schema at every start (~70 ms of CPU for agent.json, more than a no-change backup's budget allows)
// and the bundles carry no Ajv. The generator is common/schema-standalone.ts, bundled and run here.
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

/** Every schema a bundled command validates with. */
const SCHEMAS = ['agent/agent-config.schema.json', 'fleet/fleet.schema.json'];

async function generate(root) {
  const result = await build({
    entryPoints: [join(root, 'common', 'schema-standalone.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    write: false,
    logLevel: 'warning',
  });
  const file = join(tmpdir(), `holdfast-schema-standalone-${process.pid}-${Date.now()}.mjs`);
  writeFileSync(file, result.outputFiles[0].contents);
  try {
    const { standaloneValidatorsModule } = await import(pathToFileURL(file).href);
    const { readFileSync } = await import('node:fs');
    return standaloneValidatorsModule(SCHEMAS.map((s) => JSON.parse(readFileSync(join(root, s), 'utf8'))));
  } finally {
    rmSync(file, { force: true });
  }
}

export function schemaValidatorsPlugin(root) {
  let generated;
  return {
    name: 'schema-validators',
    setup(b) {
      b.onLoad({ filter: /[\\/]common[\\/]schema-validators\.ts$/ }, async () => {
        generated ??= generate(root);
        return { contents: await generated, loader: 'js', resolveDir: join(root, 'common') };
      });
    },
  };
}
