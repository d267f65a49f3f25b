// `holdfast-deploy generate`: targets in dependency order, clear errors for unknown targets and missing tools,
// progress per fleet/target/step, and dist/<fleet>/manifest.json listing every artifact with size and SHA-256.
import { createHash } from 'node:crypto';
import { watch } from 'node:fs';
import { mkdir, readFile, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFleets, resolveTargets } from '../deployer/generate.js';
import { needsNoTools, type Target } from '../deployer/targets/target.js';
import { runTool } from '../installers/win/tools.js';
import { deployBin, repoRoot } from './helpers/paths.js';
import { runProcess } from './helpers/process.js';
import { tempDir } from './helpers/server.js';

let dir: string;
const generate = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
  runProcess(process.execPath, [deployBin, 'generate', ...args], { cwd: repoRoot, env, timeoutMs: 300_000 });

beforeAll(async () => {
  dir = await tempDir('holdfast-generate-');
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('holdfast-deploy generate', () => {
  it('builds the MSI for the demo fleet with progress lines and a manifest of every artifact', async () => {
    const out = join(dir, 'dist');
    const r = await generate(['examples/fleets/demo.fleet.json', '--out', out, '--target', 'msi']);
    expect(r.code, r.output).toBe(0);
    expect(r.stderr).toMatch(/\[demo\] msi: start/);
    expect(r.stderr).toMatch(/\[demo\] msi: patching fleet values into the MSI tables/);
    expect(r.stderr).toMatch(/\[demo\] msi: done in [\d.]+ s/);
    expect(r.stdout.trim()).toBe(join(out, 'demo', 'manifest.json'));
    const manifest = JSON.parse(await readFile(join(out, 'demo', 'manifest.json'), 'utf8'));
    expect(manifest).toMatchObject({ fleet: 'demo', customer: 'Holdfast Demo', version: '1.0.0', technicianId: 'embedded', generator: 'holdfast-deploy' });
    expect(new Date(manifest.generatedAt).getTime()).toBeGreaterThan(Date.now() - 600_000);
    expect(manifest.artifacts).toHaveLength(1);
    const [a] = manifest.artifacts;
    const bytes = await readFile(join(out, 'demo', a.path));
    expect(a).toMatchObject({ target: 'msi', path: 'holdfast-demo.msi', size: bytes.length });
    expect(a.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(manifest.installCommands).toEqual({
      msiexec: 'msiexec /i holdfast-demo.msi /qn /norestart /l*v holdfast-demo-install.log',
      uninstall: 'msiexec /x holdfast-demo.msi /qn /norestart',
    });
    // The demo fleet's plain Technician ID is in the MSI, but never in the manifest or the progress output.
    expect(JSON.stringify(manifest)).not.toContain('DEMO-TECH-0001');
    expect(r.output).not.toContain('DEMO-TECH-0001');
  }, 300_000);

  it('rejects an unknown target, listing the known ones, before building anything', async () => {
    const out = join(dir, 'unknown');
    const r = await generate(['examples/fleets/demo.fleet.json', '--out', out, '--target', 'msi,dmg']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown target "dmg"; known targets: msi, pkg/);
    await expect(readFile(join(out, 'demo', 'manifest.json'))).rejects.toThrow();
  });

  it('names a missing tool and its install line when a target is unsupported', async () => {
    // A PATH holding only node: wixl, msitools, gcab and mingw are all "missing".
    const bin = join(dir, 'bin-node-only');
    await mkdir(bin, { recursive: true });
    await symlink(process.execPath, join(bin, 'node'));
    const r = await generate(['examples/fleets/demo.fleet.json', '--out', join(dir, 'notools'), '--target', 'msi'], { ...process.env, PATH: bin });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      /target msi needs wixl, msibuild, msiinfo, gcab, x86_64-w64-mingw32-gcc; install it with: sudo apt-get install -y wixl msitools gcab gcc-mingw-w64-x86-64/,
    );
  });

  it('refuses invalid fleets before building anything, naming every problem', async () => {
    const r = await generate(['examples/fleets/demo.fleet.json', join(dir, 'missing.fleet.json'), '--out', join(dir, 'invalid'), '--target', 'msi']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/missing\.fleet\.json.*\n.*cannot read fleet file: ENOENT/);
    expect(r.stderr).not.toMatch(/\[demo\] msi: start/);
  });

  it('orders targets by their dependencies and adds the ones a chosen target needs', () => {
    const names = resolveTargets(['intune']).map((t) => t.name);
    expect(names).toEqual(['msi', 'intune']);
    const all = resolveTargets(undefined).map((t) => t.name);
    expect(all.indexOf('msi')).toBeLessThan(all.indexOf('intune'));
    expect(() => resolveTargets(['nope'])).toThrow(/unknown target "nope"; known targets: msi/);
  });

  it('a cancelled run stops the tool that is running, starts no further target and writes no manifest', async () => {
    const work = join(dir, 'cancel');
    await mkdir(work, { recursive: true });
    // The tool says when it runs and when it gets SIGTERM (each file written whole, by rename).
    const script = `trap 'kill $c; echo > ${work}/t && mv ${work}/t ${work}/stopped; exit 143' TERM; sleep 600 & c=$!; echo > ${work}/t && mv ${work}/t ${work}/running; wait $c`;
    const appeared = (name: string) =>
      new Promise<void>((resolve) => {
        const w = watch(work, (_event, file) => {
          if (file === name) {
            w.close();
            resolve();
          }
        });
      });
    const running = appeared('running');
    const stopped = appeared('stopped');
    let afterRan = false;
    const slow: Target = {
      name: 'slow',
      description: 'runs a tool until it is stopped',
      isSupported: needsNoTools,
      async make() {
        await runTool('sh', ['-c', script]);
        return [];
      },
    };
    const after: Target = {
      name: 'after',
      description: 'runs after slow',
      dependsOn: ['slow'],
      isSupported: needsNoTools,
      async make() {
        afterRan = true;
        return [];
      },
    };
    const cancel = new AbortController();
    const run = generateFleets([join(repoRoot, 'examples/fleets/demo.fleet.json')], {
      outDir: join(work, 'out'),
      available: [slow, after],
      signal: cancel.signal,
    });
    run.catch(() => {}); // awaited below
    await running;
    cancel.abort();
    await expect(run).rejects.toThrow('[demo] generate cancelled during target slow');
    await stopped;
    expect(afterRan).toBe(false);
    await expect(readFile(join(work, 'out', 'demo', 'manifest.json'))).rejects.toThrow(/ENOENT/);
  });

  it('has --help for validate and generate', async () => {
    for (const cmd of ['validate', 'generate']) {
      const r = await runProcess(process.execPath, [deployBin, cmd, '--help'], { cwd: repoRoot });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`Usage: holdfast-deploy ${cmd}`));
    }
  });
});
