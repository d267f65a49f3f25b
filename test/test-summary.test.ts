// scripts/summary.mjs, the last line of `npm test`: counts from vitest's JSON report, and a non-zero exit unless
// at least one test ran and every test passed (skipped and todo tests count as failed).
import { describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from './helpers/paths.js';
import { runProcess } from './helpers/process.js';
import { tempDir } from './helpers/server.js';

async function summary(report: object | undefined) {
  const file = join(await tempDir('holdfast-summary-'), 'vitest.json');
  if (report) await writeFile(file, JSON.stringify(report));
  const r = await runProcess(process.execPath, [join(repoRoot, 'scripts', 'summary.mjs'), file]);
  return { code: r.code, last: r.stdout.trim().split('\n').at(-1), stderr: r.stderr };
}

const counts = (passed: number, failed = 0, pending = 0, todo = 0) => ({
  numPassedTests: passed,
  numFailedTests: failed,
  numPendingTests: pending,
  numTodoTests: todo,
  testResults: [],
});

describe('npm test summary line', () => {
  it('all passed: exit 0', async () => {
    expect(await summary(counts(5))).toMatchObject({ code: 0, last: 'tests: 5 passed, 0 failed' });
  });

  it('a failed test fails the run', async () => {
    expect(await summary(counts(5, 2))).toMatchObject({ code: 1, last: 'tests: 5 passed, 2 failed' });
  });

  it('todo and skipped tests count as failed and are named on stderr', async () => {
    const r = await summary(counts(3, 0, 1, 2));
    expect(r).toMatchObject({ code: 1, last: 'tests: 3 passed, 3 failed' });
    expect(r.stderr).toContain('1 skipped and 2 todo tests did not run');
  });

  it('no test executed fails the run', async () => {
    const r = await summary(counts(0));
    expect(r).toMatchObject({ code: 1, last: 'tests: 0 passed, 1 failed' });
    expect(r.stderr).toContain('no test ran');
  });

  it('a test file that failed before any test ran counts as a failure, with its message', async () => {
    const r = await summary({
      ...counts(4),
      testResults: [{ name: '/x/broken.test.ts', status: 'failed', message: 'Cannot find module ./gone.js', assertionResults: [] }],
    });
    expect(r).toMatchObject({ code: 1, last: 'tests: 4 passed, 1 failed' });
    expect(r.stderr).toContain('/x/broken.test.ts failed before any test ran: Cannot find module ./gone.js');
  });

  it('no report (vitest crashed) fails the run', async () => {
    const r = await summary(undefined);
    expect(r).toMatchObject({ code: 1, last: 'tests: 0 passed, 1 failed' });
    expect(r.stderr).toContain('no readable vitest report');
  });
});
