// The README's demo: server, register for the example fleet, backup, restore, byte-identical check, retention, report.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { repoRoot } from './helpers/paths.js';
import { runProcess } from './helpers/process.js';

describe('demo', () => {
  it('does the round trip for the example fleet and says the restore is byte-identical', async () => {
    const tsx = join(repoRoot, 'node_modules', 'tsx', 'dist', 'cli.mjs');
    const r = await runProcess(process.execPath, [tsx, join(repoRoot, 'scripts', 'demo.ts'), '--any-port'], { cwd: repoRoot, timeoutMs: 240_000 });
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toMatch(/device +dev-[0-9a-f]{24} \(fleet demo\)/);
    expect(r.stdout).toMatch(/installers +holdfast-demo\.msi, holdfast-demo\.pkg, holdfast-demo\.intunewin and \d+ more/);
    expect(r.stdout).toMatch(/second backup +[\d.]+ s, 0 files read, 0\.0 MB uploaded/);
    expect(r.stdout).toContain('verification     byte-identical (content, modes, mtimes, symlinks)');
    // The deleted photo (0.5 MB, incompressible) is what the prune frees; the kept snapshot reads back whole.
    const retention = /retention +kept 1 snapshot, forgot 2; prune deleted (\d+) chunks, ([\d.]+) MB reclaimed; check --read-data: (\d+) chunks authentic/.exec(
      r.stdout,
    );
    expect(retention, r.stdout).not.toBeNull();
    expect(Number(retention![1])).toBeGreaterThan(0);
    expect(Number(retention![2])).toBeGreaterThanOrEqual(0.5);
    expect(Number(retention![3])).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/fleet report +1 device, 0 stale: dev-[0-9a-f]{24} last success \d{4}-\d\d-\d\dT\S+, [\d.]+ MB stored, 0 failures/);
    expect(r.output).not.toContain('DEMO-TECH-0001');
  }, 300_000);
});
