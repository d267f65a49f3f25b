// Prints the last line of `npm test`, "tests: N passed, N failed", from vitest's JSON report, and exits non-zero
// unless at least one test ran and every test passed. A test that did not run (skipped or todo) counts as failed:
// the project allows none. A test file that failed before any of its tests ran counts as one failure, and so does
// a run that left no readable report or ran no test at all (as scripts/test.mjs counts a failed lint or tsc).
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'test-results/vitest.json';

/** { passed, failed, problems }: the counts for the line and, for stderr, why the run fails. */
function summarize(report) {
  const passed = report.numPassedTests ?? 0;
  const failed = report.numFailedTests ?? 0;
  const skipped = report.numPendingTests ?? 0;
  const todo = report.numTodoTests ?? 0;
  const brokenFiles = (report.testResults ?? []).filter((r) => r.status === 'failed' && (r.assertionResults ?? []).length === 0);
  const problems = [];
  if (skipped + todo > 0) problems.push(`${skipped} skipped and ${todo} todo tests did not run (counted as failed)`);
  for (const r of brokenFiles) problems.push(`${r.name} failed before any test ran: ${r.message}`);
  const nothingRan = passed + failed === 0 && brokenFiles.length === 0;
  if (nothingRan) problems.push('no test ran');
  return { passed, failed: failed + skipped + todo + brokenFiles.length + (nothingRan ? 1 : 0), problems };
}

let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch (err) {
  console.error(`no readable vitest report at ${file}: ${err.message}`);
  console.log('tests: 0 passed, 1 failed');
  process.exit(1);
}
const { passed, failed, problems } = summarize(report);
for (const p of problems) console.error(`summary: ${p}`);
console.log(`tests: ${passed} passed, ${failed} failed`);
if (failed > 0) process.exit(1);
