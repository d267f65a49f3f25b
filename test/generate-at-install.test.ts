// Generate without the fleet's secret variables: refused naming the variable (never a value), unless the admin
// chooses to give the values at install time; then every install line carries the placeholder and the manifest,
// the artifacts and the guide say so. CLI and extension call the same generateFleets.
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGenerate } from '../extension/src/core/generate.js';
import { deployBin, repoRoot } from './helpers/paths.js';
import { runProcess } from './helpers/process.js';
import { tempDir } from './helpers/server.js';

let dir: string;
const acme = join(repoRoot, 'examples/fleets/acme.fleet.json');
const generate = (args: string[], env: NodeJS.ProcessEnv) =>
  runProcess(process.execPath, [deployBin, 'generate', ...args], { cwd: dir, env, timeoutMs: 120_000 });
const noSecrets = (): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  delete env.ACME_TECHNICIAN_ID;
  delete env.ACME_PROXY_PASSWORD;
  return env;
};

beforeAll(async () => {
  dir = await tempDir('holdfast-at-install-');
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('generate without the fleet secret variables', () => {
  it('is refused, naming each variable and the flag, and writes nothing', async () => {
    const r = await generate([acme, '--target', 'gpo,guide'], noSecrets());
    expect(r.code, r.output).not.toBe(0);
    expect(r.stderr).toMatch(/\[acme\] environment variable ACME_TECHNICIAN_ID is not set: .*1603.*--technician-id-at-install/);
    expect(r.stderr).toMatch(/\[acme\] environment variable ACME_PROXY_PASSWORD is not set: .*--proxy-password-at-install/);
    await expect(stat(join(dir, 'holdfast-out'))).rejects.toThrow();
  });

  it('with the flags: every install line has the placeholders, the manifest and artifacts mark them, the default folder is holdfast-out', async () => {
    const r = await generate([acme, '--target', 'gpo,guide', '--technician-id-at-install', '--proxy-password-at-install'], noSecrets());
    expect(r.code, r.output).toBe(0);
    const out = join(dir, 'holdfast-out', 'acme');
    expect(r.stdout.trim()).toBe(join(out, 'manifest.json'));
    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8'));
    expect(manifest.technicianId).toBe('required at install');
    expect(manifest.requiredAtInstall).toEqual([
      { property: 'TECHNICIANID', placeholder: '<Technician ID>', variable: 'ACME_TECHNICIAN_ID' },
      { property: 'PROXYPASSWORD', placeholder: '<proxy password>', variable: 'ACME_PROXY_PASSWORD' },
    ]);
    expect(manifest.installCommands.gpo).toMatch(/ TECHNICIANID=<Technician ID> PROXYPASSWORD=<proxy password>$/);
    const script = manifest.artifacts.find((a: { path: string }) => a.path.endsWith('.cmd'));
    expect(script.needsAtInstall).toEqual(['TECHNICIANID', 'PROXYPASSWORD']);
    const guide = await readFile(join(out, 'deployment-guide.md'), 'utf8');
    expect(guide).toContain('**Every install line must give these values**');
    expect(guide).toContain('`TECHNICIANID=<Technician ID>` (the value of `ACME_TECHNICIAN_ID`');
    // Every Windows install line of the guide (msiexec, Intune, GPO) carries both placeholders.
    const lines = guide.split('\n').filter((l) => /^msiexec \/i/.test(l));
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const l of lines) expect(l).toContain('TECHNICIANID=<Technician ID> PROXYPASSWORD=<proxy password>');
  });

  it('with the variables set: embedded, no placeholder, and no value in the output or the manifest', async () => {
    const env = { ...noSecrets(), ACME_TECHNICIAN_ID: 'ACME-TECH-SECRET-4711', ACME_PROXY_PASSWORD: 'pw-SECRET-0815' };
    const out = join(dir, 'set');
    const r = await generate([acme, '--target', 'gpo', '--out', out], env);
    expect(r.code, r.output).toBe(0);
    const text = await readFile(join(out, 'acme', 'manifest.json'), 'utf8');
    const manifest = JSON.parse(text);
    expect(manifest.technicianId).toBe('embedded');
    expect(manifest.requiredAtInstall).toEqual([]);
    expect(manifest.installCommands.gpo).not.toContain('TECHNICIANID');
    for (const s of [r.output, text]) expect(s).not.toMatch(/SECRET/);
  });

  it('the extension gets the same refusal (with the unset secrets, to offer the choice) and the same at-install build', async () => {
    const outDir = join(dir, 'ext');
    await mkdir(outDir);
    const err = (await runGenerate({ fleetFiles: [acme], outDir, targets: ['gpo'], env: noSecrets() }).catch((e: unknown) => e)) as {
      message: string;
      unsetSecrets: Array<{ key: string; variable: string }>;
    };
    expect(err.message).toMatch(/ACME_TECHNICIAN_ID is not set/);
    expect(err.unsetSecrets.map((u) => [u.key, u.variable])).toEqual([
      ['technicianId', 'ACME_TECHNICIAN_ID'],
      ['proxyPassword', 'ACME_PROXY_PASSWORD'],
    ]);
    const ok = await runGenerate({ fleetFiles: [acme], outDir, targets: ['gpo'], env: noSecrets(), atInstall: ['technicianId', 'proxyPassword'] });
    expect(ok.fleets[0].manifest.installCommands.gpo).toContain('TECHNICIANID=<Technician ID>');
  });
});
