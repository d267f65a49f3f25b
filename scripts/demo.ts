// The Holdfast demo: start the test server on 127.0.0.1, register an agent for the example fleet, back up
// a generated sample folder, restore it elsewhere, verify it is byte-identical, print a short summary.
// Run it with `npm run demo` (scripts/setup.sh sets the machine up first). Options: --keep (leave the
// work folder), --dir <folder> (work there instead of a temp folder), --any-port (free ports, not 16384/16385).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadFleet, resolveSecrets } from '../fleet/load.js';
import { agentConfigFromFleet } from '../fleet/agent-config.js';
import { diffTrees } from './lib/tree-diff.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const serverBin = join(root, 'dist', 'holdfast-server.mjs');
const agentBin = join(root, 'dist', 'holdfast-agent.mjs');
const deployBin = join(root, 'dist', 'holdfast-deploy.mjs');
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const anyPort = args.includes('--any-port');
const dirArg = args.indexOf('--dir') >= 0 ? args[args.indexOf('--dir') + 1] : undefined;

const say = (s: string) => process.stdout.write(`demo: ${s}\n`);

async function portFree(port: number): Promise<boolean> {
  const s = createServer();
  return new Promise((res) => {
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

async function anyFreePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((res) => s.listen(0, '127.0.0.1', () => res()));
  const port = (s.address() as { port: number }).port;
  await new Promise((res) => s.close(res));
  return port;
}

/** 16384/16385 as in the example fleet when free; otherwise two free ports (and the agent config follows). */
async function choosePorts(): Promise<[number, number]> {
  if (!anyPort && (await portFree(16384)) && (await portFree(16385))) return [16384, 16385];
  const a = await anyFreePort();
  let b = await anyFreePort();
  while (b === a) b = await anyFreePort();
  say(anyPort ? `using free ports ${a}/${b}` : `ports 16384/16385 are taken on this machine; using ${a}/${b} instead`);
  return [a, b];
}

function run(bin: string, argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((res) => {
    const child = spawn(process.execPath, [bin, ...argv], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => res({ code, stdout, stderr, ms: Date.now() - t0 }));
  });
}

function startServer(dataDir: string, configPath: string): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [serverBin, '--data', dataDir, '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((res, rej) => {
    const onData = (d: Buffer) => {
      out += d;
      if (/listening on .*\n/.test(out)) res({ child, output: () => out });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => rej(new Error(`holdfast-server exited (${code}) before listening:\n${out}`)));
  });
}

/** A sample folder like a user's documents: text, incompressible data, duplicates, nesting, a symlink. */
async function makeSample(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  const put = async (rel: string, data: Buffer | string, mode = 0o644) => {
    const p = join(dir, rel);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, data);
    await chmod(p, mode);
    files++;
    bytes += Buffer.byteLength(data);
  };
  const para = 'Holdfast keeps a copy of this paragraph safe, encrypted before it leaves the machine. ';
  for (let i = 0; i < 120; i++) await put(`Documents/notes/note-${i}.txt`, `${para.repeat(20 + i)}\n#${i}\n`);
  for (let i = 0; i < 12; i++) await put(`Pictures/photo-${i}.jpg`, randomBytes(512 * 1024 + i * 1000));
  const shared = randomBytes(2 * 1024 * 1024);
  await put('Projects/big-a.dat', shared);
  await put('Projects/copy-of-big-a.dat', shared);
  await put('Projects/run.sh', '#!/bin/sh\necho holdfast\n', 0o755);
  await put('Projects/empty.txt', '');
  await symlink('big-a.dat', join(dir, 'Projects', 'link-to-big-a'));
  await utimes(join(dir, 'Documents', 'notes', 'note-0.txt'), new Date('2020-01-02T03:04:05Z'), new Date('2020-01-02T03:04:05Z'));
  return { files, bytes };
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

async function main(): Promise<number> {
  const work = dirArg ? resolve(dirArg) : await mkdtemp(join(tmpdir(), 'holdfast-demo-'));
  await mkdir(work, { recursive: true });
  say(`work folder ${work}`);
  const [p1, p2] = await choosePorts();
  const primary = `127.0.0.1:${p1}`;
  const alternate = `127.0.0.1:${p2}`;

  // Server: examples/server.json with the chosen ports.
  const example = JSON.parse(await readFile(join(root, 'examples', 'server.json'), 'utf8'));
  const serverConfig = {
    ...example,
    listen: [primary, alternate],
    tls: { cert: resolve(root, 'examples', example.tls.cert), key: resolve(root, 'examples', example.tls.key) },
    assign: { primary, alternate },
  };
  const serverConfigPath = join(work, 'server.json');
  await writeFile(serverConfigPath, JSON.stringify(serverConfig, null, 2));
  const server = await startServer(join(work, 'server-data'), serverConfigPath);
  say(`holdfast-server running (pid ${server.child.pid}) on ${primary} and ${alternate}`);
  const stopServer = () =>
    new Promise<void>((res) => {
      if (server.child.exitCode !== null) return res();
      server.child.once('exit', () => res());
      server.child.kill('SIGTERM');
    });

  try {
    // Agent: the config an installer for the example fleet would lay down.
    const fleet = await loadFleet(join(root, 'examples', 'fleets', 'demo.fleet.json'));
    const agentConfig = await agentConfigFromFleet(fleet, resolveSecrets(fleet.fleet));
    const sample = join(work, 'sample');
    const made = await makeSample(sample);
    agentConfig.registration = { primary, alternate };
    agentConfig.backup.include = [sample];
    const agentDir = join(work, 'agent');
    await mkdir(agentDir, { recursive: true });
    const agentConfigPath = join(agentDir, 'agent.json');
    await writeFile(agentConfigPath, JSON.stringify(agentConfig, null, 2), { mode: 0o600 });
    say(`agent config for fleet "${fleet.fleet.fleet}" at ${agentConfigPath}; sample folder: ${made.files} files, ${mb(made.bytes)}`);

    // What the admin does first: every installer and hand-off for the example fleet, kept under demo-out/.
    const installersDir = join(root, 'demo-out', 'installers');
    say(`building installers for fleet "${fleet.fleet.fleet}" (holdfast-deploy generate; the first run fetches the Node runtimes)`);
    const gen = await run(deployBin, ['generate', fleet.file, '--out', installersDir, '--quiet'], process.env);
    if (gen.code !== 0) throw new Error(`holdfast-deploy generate failed (exit ${gen.code}):\n${gen.stderr}${gen.stdout}`);
    const manifest = JSON.parse(await readFile(join(installersDir, fleet.fleet.fleet, 'manifest.json'), 'utf8')) as {
      artifacts: Array<{ path: string; size: number }>;
    };
    say(`installers built in ${(gen.ms / 1000).toFixed(1)} s: ${manifest.artifacts.length} artifacts in ${join(installersDir, fleet.fleet.fleet)}`);

    const env = { ...process.env, HOLDFAST_CONFIG: agentConfigPath };
    const step = async (name: string, argv: string[]) => {
      const r = await run(agentBin, argv, env);
      if (r.code !== 0) throw new Error(`holdfast-agent ${argv.join(' ')} failed (exit ${r.code}):\n${r.stderr}${r.stdout}`);
      const first = r.stdout.trim().split('\n')[0];
      say(`${name} done in ${(r.ms / 1000).toFixed(2)} s${first.startsWith('{') ? '' : `: ${first}`}`);
      return r;
    };
    await step('register', ['register']);
    const b1 = await step('backup', ['backup', '--json']);
    const first = JSON.parse(b1.stdout);
    const b2 = await step('backup again', ['backup', '--json']);
    const second = JSON.parse(b2.stdout);
    const restored = join(work, 'restored');
    const r3 = await step('restore', ['restore', '--snapshot', 'latest', '--to', restored, '--quiet']);
    const diffs = await diffTrees(sample, join(restored, 'sample'));
    const status = JSON.parse((await step('status', ['status', '--json'])).stdout);
    // Retention: a user deletes a photo, the next backup no longer has it; keeping the newest snapshot only and
    // pruning frees the photo's chunks, and check proves the kept snapshot is whole.
    await rm(join(sample, 'Pictures', 'photo-11.jpg'));
    await step('backup after a deletion', ['backup', '--json']);
    const fp = JSON.parse((await step('forget --prune', ['forget', '--keep-last', '1', '--prune', '--json'])).stdout) as {
      keep: unknown[];
      forget: unknown[];
      prune?: { chunksDeleted: number; packBytesBefore: number; packBytesAfter: number };
    };
    const chk = JSON.parse((await step('check', ['check', '--read-data', '--json'])).stdout) as { ok: boolean; chunksRead: number };
    // Fleet health: what the agent reported after each backup, as the admin lists it on the server.
    const rep = await run(serverBin, ['report', '--data', join(work, 'server-data'), '--json'], process.env);
    if (rep.code !== 0) throw new Error(`holdfast-server report failed (exit ${rep.code}):\n${rep.stderr}${rep.stdout}`);
    const devices = JSON.parse(rep.stdout) as Array<{ deviceId: string; lastSuccess: string | null; storedBytes: number; failures: number; stale: boolean }>;
    const me = devices.find((d) => d.deviceId === status.deviceId);
    say(`report done in ${(rep.ms / 1000).toFixed(2)} s: ${devices.length} device(s), ${devices.filter((d) => d.stale).length} stale`);

    process.stdout.write(
      [
        '',
        'Holdfast demo summary',
        `  server           ${primary} (alternate ${alternate}), pin ${agentConfig.tlsPin.slice(0, 11)}...`,
        `  device           ${status.deviceId} (fleet ${status.fleet})`,
        `  installers       ${manifest.artifacts
          .map((a) => basename(a.path))
          .filter((n) => /\.(msi|pkg|intunewin)$/.test(n))
          .join(', ')} and ${manifest.artifacts.length - 3} more (MDM profiles, GPO, firewall sheets, guide) in demo-out/installers/${fleet.fleet.fleet}`,
        `  sample           ${made.files} files, ${mb(made.bytes)}`,
        `  first backup     ${(b1.ms / 1000).toFixed(2)} s, ${first.chunksUploaded} chunks, ${mb(first.bytesUploaded)} uploaded (encrypted, deduplicated)`,
        `  second backup    ${(b2.ms / 1000).toFixed(2)} s, ${second.filesRead} files read, ${mb(second.bytesUploaded)} uploaded`,
        `  restore          ${(r3.ms / 1000).toFixed(2)} s to ${restored}${keep || dirArg ? '' : ' (work folder removed; --keep keeps it)'}`,
        `  verification     ${diffs.length === 0 ? 'byte-identical (content, modes, mtimes, symlinks)' : `DIFFERENT: ${diffs.slice(0, 5).join(', ')}`}`,
        `  retention        kept ${fp.keep.length} snapshot, forgot ${fp.forget.length}; prune deleted ${fp.prune?.chunksDeleted ?? 0} chunks, ` +
          `${mb((fp.prune?.packBytesBefore ?? 0) - (fp.prune?.packBytesAfter ?? 0))} reclaimed; ` +
          `check --read-data: ${chk.chunksRead} chunks ${chk.ok ? 'authentic' : 'DAMAGED'}`,
        `  fleet report     ${devices.length} device${devices.length === 1 ? '' : 's'}, ${devices.filter((d) => d.stale).length} stale: ${status.deviceId} ` +
          `last success ${me?.lastSuccess ?? 'never'}, ${mb(me?.storedBytes ?? 0)} stored, ${me?.failures ?? 0} failures (holdfast-server report)`,
        '',
      ].join('\n'),
    );
    return diffs.length === 0 && chk.ok ? 0 : 1;
  } finally {
    await stopServer();
    if (!keep && !dirArg) await rm(work, { recursive: true, force: true });
    else say(`kept ${work}`);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo: FAILED: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
