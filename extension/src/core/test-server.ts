import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';

import { folderBytes } from '../../../common/folder-size.js';
import { join } from 'node:path';

import { killTree, runNode, spawnNode, parseJsonOutput } from './process.js';
import type { TestServerState } from './tree-model.js';

export interface TestServerOptions {
  /** dist/holdfast-server.mjs (bundled with the extension). */
  serverBin: string;
  /** Folder for the server's config and data; kept across restarts so devices stay registered. */
  workDir: string;
  onLine?: (line: string) => void;
  startTimeoutMs?: number;
}

/** The certificate pin a server prints at start ("certificate pin AA:BB:…"). */
export function parsePin(line: string): string | undefined {
  return /certificate pin ((?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2})/.exec(line)?.[1].toUpperCase();
}

/** Addresses a server says it listens on, from a log line such as "listening on 127.0.0.1:41234, 127.0.0.1:41235". */
export function parseListening(line: string): string[] | undefined {
  const json = line.trim().startsWith('{') ? parseJsonOutput<Record<string, unknown>>(line) : undefined;
  if (json) {
    const list = json.listening ?? json.addresses ?? json.listen;
    if (Array.isArray(list) && list.every((a) => typeof a === 'string')) return list as string[];
    return undefined;
  }
  if (!/listening/i.test(line)) return undefined;
  const found = line.match(/(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):\d{1,5}/g);
  return found && found.length ? found : undefined;
}

/** The test server the sidebar starts and stops: a real holdfast-server process on 127.0.0.1. */
export interface StartOptions {
  /** Ports to listen on, on 127.0.0.1; 0 = any free port. Two ports: the registration pair. */
  ports: [number, number];
  /** Technician IDs the server accepts (from the workspace's fleets). Written only to workDir/server.json (mode 0600). */
  technicianIds: string[];
}

export class TestServer extends EventEmitter<{ change: [TestServerState] }> {
  private child?: ChildProcess;
  private current: TestServerState = { status: 'stopped' };
  pin?: string;

  constructor(private readonly opts: TestServerOptions) {
    super();
  }

  get state(): TestServerState {
    return this.current;
  }

  get dataDir(): string {
    return join(this.opts.workDir, 'data');
  }

  private set(next: Partial<TestServerState>): void {
    this.current = { ...this.current, ...next, dataDir: this.dataDir };
    this.emit('change', this.current);
  }

  async start({ ports, technicianIds }: StartOptions): Promise<TestServerState> {
    if (this.child) return this.current;
    const { workDir, serverBin } = this.opts;
    await mkdir(this.dataDir, { recursive: true });
    const configFile = join(workDir, 'server.json');
    // No TLS files: the server makes its own certificate in its data folder (kept across restarts) and
    // prints its pin, which the test agent's config then carries. No private key ships in the extension.
    const config = { listen: ports.map((p) => `127.0.0.1:${p}`), technicianIds };
    await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    this.pin = undefined;
    this.set({ status: 'starting', error: undefined, addresses: undefined, pid: undefined });

    let onAddresses: ((addresses: string[]) => void) | undefined;
    let lastLine = '';
    const child = spawnNode(serverBin, ['serve', '--config', configFile, '--data', this.dataDir], {
      group: false,
      onLine: (line) => {
        this.opts.onLine?.(line);
        if (line.trim()) lastLine = line.trim();
        this.pin ??= parsePin(line);
        const addresses = onAddresses && parseListening(line);
        if (addresses) onAddresses?.(addresses);
      },
    });
    this.child = child;
    try {
      const addresses = await new Promise<string[]>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`the test server did not report its address within ${(this.opts.startTimeoutMs ?? 20000) / 1000} s`)),
          this.opts.startTimeoutMs ?? 20000,
        );
        onAddresses = (a) => {
          onAddresses = undefined;
          clearTimeout(timer);
          resolve(a);
        };
        child.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`the test server exited (${signal ?? `code ${code}`}) before listening: ${lastLine || 'no output'}`));
        });
      });
      child.once('exit', (code, signal) => {
        this.child = undefined;
        if (this.current.status === 'stopping') this.set({ status: 'stopped', pid: undefined });
        else this.set({ status: 'failed', pid: undefined, error: `exited unexpectedly (${signal ?? `code ${code}`})` });
      });
      this.set({ status: 'running', pid: child.pid, addresses, startedAt: new Date() });
      await this.refreshStats();
      return this.current;
    } catch (err) {
      await killTree(child);
      this.child = undefined;
      this.set({ status: 'failed', pid: undefined, error: (err as Error).message });
      throw err;
    }
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.set({ status: 'stopping' });
    await killTree(child);
    this.child = undefined;
    this.set({ status: 'stopped', pid: undefined, addresses: undefined });
  }

  /** Registered devices (the server's own `devices --json`) and the bytes its data folder holds. */
  async refreshStats(): Promise<void> {
    const [list, storedBytes] = await Promise.all([
      runNode(this.opts.serverBin, ['devices', '--data', this.dataDir, '--json']).catch(() => undefined),
      folderBytes(this.dataDir),
    ]);
    const json = list && list.code === 0 ? parseJsonOutput<unknown>(list.stdout) : undefined;
    const devices = Array.isArray(json) ? json.length : (this.current.devices ?? 0);
    this.set({ devices, storedBytes });
  }
}
