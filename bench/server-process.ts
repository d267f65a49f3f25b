// Starting the Holdfast test server (dist/holdfast-server.mjs) as a child process on 127.0.0.1 free ports,
// and stopping exactly that process again.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { serverBin } from './paths.js';

export interface ServerProcess {
  pid: number;
  /** Bound addresses, IP:port (two: primary and alternate). */
  addresses: string[];
  pin: string;
  dataDir: string;
  stop(): Promise<void>;
}

export interface StartServerProcessOptions {
  dataDir: string;
  technicianId: string;
  logFile: string;
  /** The server bundle to run (default dist/holdfast-server.mjs; the bench passes a pinned copy). */
  bin?: string;
  /** The config's `limits` (docs/design.md, "Limits and abuse"); default: the server's defaults. */
  limits?: Record<string, unknown>;
  /** Extra node flags for the server process (e.g. --max-old-space-size). */
  nodeArgs?: string[];
  timeoutMs?: number;
}

export async function startServerProcess(opts: StartServerProcessOptions): Promise<ServerProcess> {
  const bin = opts.bin ?? serverBin;
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` (the server bundle is built from server/cli.ts)`);
  await mkdir(opts.dataDir, { recursive: true });
  const configFile = join(opts.dataDir, '..', 'server.json');
  await writeFile(
    configFile,
    JSON.stringify({ listen: ['127.0.0.1:0', '127.0.0.1:0'], technicianIds: [opts.technicianId], ...(opts.limits && { limits: opts.limits }) }, null, 2),
    { mode: 0o600 },
  );
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), bin, 'serve', '--data', opts.dataDir, '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(opts.logFile, { flags: 'a' });
  child.stderr!.pipe(log, { end: false });
  let out = '';
  const ready = await new Promise<{ addresses: string[]; pin: string }>((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`holdfast-server did not report "listening on" within ${(opts.timeoutMs ?? 30_000) / 1000} s; log: ${opts.logFile}`)),
      opts.timeoutMs ?? 30_000,
    );
    const fail = (err: Error): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`holdfast-server exited with ${code} before listening; log: ${opts.logFile}\n${out}`)));
    child.stdout!.on('data', (d: Buffer) => {
      log.write(d);
      if (out.length > 10_000) return;
      out += d.toString();
      const listen = /listening on (.+)$/m.exec(out);
      const pin = /certificate pin ([0-9A-F:]{95})/m.exec(out);
      if (listen && pin) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        child.removeListener('error', fail);
        resolve({ addresses: listen[1].trim().split(/\s+/), pin: pin[1] });
      }
    });
  });
  child.stdout!.removeAllListeners('data');
  child.stdout!.pipe(log, { end: false });
  return {
    pid: child.pid!,
    addresses: ready.addresses,
    pin: ready.pin,
    dataDir: opts.dataDir,
    stop: () => stopChild(child, log),
  };
}

async function stopChild(child: ChildProcess, log: NodeJS.WritableStream): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  await new Promise<void>((r) => log.end(r));
}
