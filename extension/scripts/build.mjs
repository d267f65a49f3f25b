// Builds the extension: bundles src/ into dist/extension.cjs (CommonJS, `vscode` external, runtime deps
// inside, the deployer's generate included) and lays the agent and server CLIs with what the installers read at
// run time under dist/holdfast/, mirroring the repository layout (dist/*.mjs, templates/,
// installers/win/wrapper/), so every bundle finds its files by walking up exactly as in the repository.
// The .vsix is then self-contained.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ext = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = join(ext, '..');
const out = join(ext, 'dist');
const runtime = join(out, 'holdfast');
const started = Date.now();

// The CLI bundles the extension runs as child processes (agent, test server; the installers embed the agent):
// build them from the current sources.
execFileSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });

rmSync(out, { recursive: true, force: true });
mkdirSync(join(runtime, 'dist'), { recursive: true });

await build({
  entryPoints: [join(ext, 'src', 'extension.ts')],
  outfile: join(out, 'extension.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['vscode'],
  sourcemap: 'linked',
  logLevel: 'warning',
  // load.ts imports the schema with an import attribute; esbuild inlines it.
  loader: { '.json': 'json' },
  // Prefer ESM entry points: jsonc-parser's "main" is a UMD build whose dynamic requires esbuild cannot follow.
  mainFields: ['module', 'main'],
  // Library modules locate their files (templates, the service wrapper's source, the agent bundle) by walking up
  // from import.meta.url. In this bundle that URL names a file beside the CLI bundles in dist/holdfast/dist/, so
  // the walk finds dist/holdfast/templates/ and the rest as it does for the CLIs.
  define: { 'import.meta.url': '__hfImportMetaUrl' },
  banner: {
    js: "const __hfImportMetaUrl = require('node:url').pathToFileURL(require('node:path').join(__dirname, 'holdfast', 'dist', 'extension.cjs')).href;",
  },
});

const required = ['holdfast-agent.mjs', 'holdfast-server.mjs'];
for (const name of required) {
  const src = join(root, 'dist', name);
  if (!existsSync(src)) {
    console.warn(`extension build: ${name} is missing from dist/ (its sources do not exist yet); the matching sidebar actions will report it`);
    continue;
  }
  cpSync(src, join(runtime, 'dist', name));
}
const copies = [
  ['templates', 'templates'],
  ['installers/win/wrapper', 'installers/win/wrapper'],
];
for (const [from, to] of copies) if (existsSync(join(root, from))) cpSync(join(root, from), join(runtime, to), { recursive: true });
// jsonValidation points here: the one fleet schema, copied rather than duplicated in the source tree. It $refs
// "../agent/agent-config.schema.json" for the values it shares with agent.json, so that schema is copied to the same
// place relative to it (dist/agent/) and editors resolve the reference as they do in the repository.
mkdirSync(join(out, 'schema'), { recursive: true });
cpSync(join(root, 'fleet', 'fleet.schema.json'), join(out, 'schema', 'fleet.schema.json'));
mkdirSync(join(out, 'agent'), { recursive: true });
cpSync(join(root, 'agent', 'agent-config.schema.json'), join(out, 'agent', 'agent-config.schema.json'));

console.log(`extension build: dist/extension.cjs and dist/holdfast/ ready in ${Date.now() - started} ms`);
