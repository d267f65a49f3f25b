// `npm test` after scripts/setup.sh (bash: it installs node_modules, so it runs before zx exists): lint,
// type-check, the vitest suite, and the last line "tests: N passed, N failed" from scripts/summary.mjs.
// A failed lint or type-check ends the run there, counted as one failure. Extra arguments go to vitest
// (`npm test -- test/spine-register.test.ts`).
import { fileURLToPath } from 'node:url';
import { $, fs } from 'zx';

const run = $({ cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: 'inherit', nothrow: true });

for (const check of [
  ['node', 'scripts/lint.mjs'],
  ['npx', 'tsc', '-p', 'tsconfig.json', '--noEmit'],
]) {
  if ((await run`${check}`).exitCode !== 0) {
    console.log('tests: 0 passed, 1 failed');
    process.exit(1);
  }
}
await fs.mkdirp(fileURLToPath(new URL('../test-results', import.meta.url)));
// vitest's own exit code is not the verdict: the summary of its report is (it also fails skipped tests and empty runs).
await run`npx vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json ${process.argv.slice(2)}`;
process.exit((await run`node scripts/summary.mjs test-results/vitest.json`).exitCode ?? 1);
