// Bundles one engine worker thread (agent/engine/<name>-thread.ts) with everything it imports into CommonJS
// source text, which agent/engine/bundled-worker.ts runs with `new Worker(text, { eval: true })`. Used by
// scripts/build.mjs (the text is compiled into the agent bundle) and, when the engine runs from TypeScript
// source (vitest, tsx), by bundled-worker.ts itself on first use. CommonJS so both can load it synchronously.
const { buildSync } = require('esbuild');
const { readdirSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const engineDir = join(root, 'agent', 'engine');

/** The worker's bundled source text. */
function bundleWorker(name) {
  const result = buildSync({
    entryPoints: [join(engineDir, `${name}-thread.ts`)],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    write: false,
    // Paths in the output are relative to the repository, whatever the current folder.
    absWorkingDir: root,
    logLevel: 'warning',
  });
  return result.outputFiles[0].text;
}

/** Every worker thread of the engine: the names of agent/engine/*-thread.ts. */
function workerNames() {
  return readdirSync(engineDir)
    .filter((f) => f.endsWith('-thread.ts'))
    .map((f) => f.slice(0, -'-thread.ts'.length));
}

module.exports = { bundleWorker, workerNames };
