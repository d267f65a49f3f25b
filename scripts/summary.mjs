// Prints one plain line from vitest's JSON report; fails when nothing ran or anything failed.
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'test-results/vitest.json';
let report;
try {
  report = JSON.parse(readFileSync(file, 'utf8'));
} catch (err) {
  console.log('tests: 0 passed, 0 failed');
  console.error(`no readable vitest report at ${file}: ${err.message}`);
  process.exit(1);
}
const passed = report.numPassedTests ?? 0;
const failed = (report.numFailedTests ?? 0) + (report.numTodoTests ?? 0) * 0;
const skipped = report.numPendingTests ?? 0;
const suiteFailures = (report.testResults ?? []).filter((r) => r.status === 'failed' && (r.assertionResults ?? []).length === 0).length;
console.log(`tests: ${passed} passed, ${failed + suiteFailures} failed${skipped ? `, ${skipped} skipped` : ''}`);
if (passed === 0 || failed > 0 || suiteFailures > 0 || skipped > 0) process.exit(1);
