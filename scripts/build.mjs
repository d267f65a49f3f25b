// Bundles each command into one ESM file under dist/ (the installers ship the agent bundle as is).
import { build } from 'esbuild';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { schemaValidatorsPlugin } from './schema-validators-plugin.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entries = [
  ['agent/cli.ts', 'holdfast-agent.mjs'],
  ['server/cli.ts', 'holdfast-server.mjs'],
  ['deployer/cli.ts', 'holdfast-deploy.mjs'],
  ['bench/cli.ts', 'holdfast-bench.mjs'],
];
const banner = [
  '#!/usr/bin/env node',
  "import { createRequire as __hfCreateRequire } from 'node:module';",
  'const require = __hfCreateRequire(import.meta.url);',
].join('\n');

/**
 * Tests, the extension and the installers run these files while another build may be under way, so each
 * output is written to a temporary name and renamed into place: a reader sees the old file or the new one,
 * never a half-written one. Unchanged outputs are left alone. Not common/fs-atomic.ts: this plain .mjs script runs
 * before anything is compiled, and build outputs are regenerated rather than recovered, so no fsync is needed.
 */
function writeAtomically(path, contents) {
  if (existsSync(path) && Buffer.compare(readFileSync(path), contents) === 0) return;
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, contents, { mode: path.endsWith('.mjs') ? 0o755 : 0o644 });
  renameSync(tmp, path);
}

// Worker threads run from source text (agent/engine/bundled-worker.ts): each is bundled on its own first, and the
// text goes into the bundles as a constant.
const { bundleWorker, workerNames } = createRequire(import.meta.url)('./worker-bundle.cjs');
const workerSources = Object.fromEntries(workerNames().map((name) => [name, bundleWorker(name)]));

mkdirSync(join(root, 'dist'), { recursive: true });
const results = await Promise.all(
  entries
    .filter(([src]) => existsSync(join(root, src)))
    .map(([src, out]) =>
      build({
        entryPoints: [join(root, src)],
        outfile: join(root, 'dist', out),
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        banner: { js: banner },
        sourcemap: 'linked',
        logLevel: 'warning',
        // Optional native accelerators of dependencies; never needed at run time.
        external: ['bufferutil', 'utf-8-validate'],
        // jsonc-parser's "main" is a UMD build whose requires esbuild cannot follow; its ESM build bundles.
        alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' },
        plugins: [schemaValidatorsPlugin(root)],
        define: { __HOLDFAST_WORKER_SOURCES__: JSON.stringify(workerSources) },
        write: false,
      }),
    ),
);
for (const result of results) for (const file of result.outputFiles) writeAtomically(file.path, file.contents);
