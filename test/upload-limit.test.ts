// The upload bandwidth limit holds: a throttled backup takes at least as long as its bytes need at the limit (minus
// the one-second burst), from agent.json's backup.uploadLimitKiBps and from `backup --limit-upload` alike, and
// `--limit-upload 0` lifts the config's limit. A behavioural check with a generous tolerance, not a speed benchmark.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeAgent, manualBackup, type TestAgent } from './helpers/agent.js';
import { tempDir, useTestServer } from './helpers/server.js';

const server = useTestServer();
const LIMIT_KIBPS = 384;
const LIMIT = LIMIT_KIBPS * 1024;
const DATA_BYTES = 2 * 1024 * 1024;

async function agentWithData(uploadLimitKiBps?: number): Promise<TestAgent> {
  const root = join(await tempDir('holdfast-limit-'), 'data');
  await mkdir(root, { recursive: true });
  for (let i = 0; i < DATA_BYTES / (512 * 1024); i++) await writeFile(join(root, `f${i}.bin`), randomBytes(512 * 1024));
  const backup = { ...manualBackup([root]), ...(uploadLimitKiBps !== undefined && { uploadLimitKiBps }) };
  const agent = await makeAgent({ server, config: { backup } });
  await agent.register();
  return agent;
}

async function timedBackup(agent: TestAgent, args: string[] = []): Promise<{ bytesUploaded: number; durationMs: number }> {
  const r = await agent.run(['backup', '--json', ...args], { timeoutMs: 120_000 });
  expect(r.code, r.output).toBe(0);
  const result = JSON.parse(r.stdout) as { bytesUploaded: number; durationMs: number };
  expect(result.bytesUploaded).toBeGreaterThanOrEqual(DATA_BYTES);
  return result;
}

/** The shortest time `bytes` can take at the limit: all but the first second's burst go at the limit. */
const leastMs = (bytes: number) => ((bytes - LIMIT) / LIMIT) * 1000;

describe('upload bandwidth limit', () => {
  it('holds from agent.json and from --limit-upload; --limit-upload 0 lifts it', async () => {
    const fromConfig = await timedBackup(await agentWithData(LIMIT_KIBPS));
    const fromFlag = await timedBackup(await agentWithData(), ['--limit-upload', String(LIMIT_KIBPS)]);
    const lifted = await timedBackup(await agentWithData(LIMIT_KIBPS), ['--limit-upload', '0']);
    for (const [what, r] of Object.entries({ fromConfig, fromFlag })) {
      const least = leastMs(r.bytesUploaded);
      expect(r.durationMs, `${what}: ${r.bytesUploaded} bytes in ${r.durationMs} ms`).toBeGreaterThanOrEqual(least * 0.9);
      // Not throttled far below the limit either (2 cores shared with other tests: generous).
      expect(r.durationMs, what).toBeLessThan(least * 3 + 15_000);
    }
    // The same upload without the limit is faster than the limit allows: the assertion above can fail.
    expect(lifted.durationMs, `${lifted.bytesUploaded} bytes in ${lifted.durationMs} ms`).toBeLessThan(leastMs(lifted.bytesUploaded) * 0.9);
  });

  it('a bad --limit-upload names the flag, the value and what is allowed', async () => {
    const agent = await agentWithData();
    const r = await agent.run(['backup', '--limit-upload', 'fast']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--limit-upload "fast" is not allowed: expected a whole number of KiB/s from 1 to 10485760, or 0 for no limit');
  });
});
