// Bundles each command into one ESM file under dist/ (the installers ship the agent bundle as is).
import { build } from 'esbuild';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

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

mkdirSync(join(root, 'dist'), { recursive: true });
await Promise.all(
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
      }),
    ),
);
