// Server under load: many simulated agents at once against one test server process on 127.0.0.1.
// Each agent speaks the real wire protocol over a pinned TLS connection (agent/transport): it registers,
// then backs up ~1 MiB of sealed-size chunks with dedup (HAS first, PUT only what the server lacks,
// duplicates within its own data sent once), stores a snapshot, and runs a second, unchanged backup
// that must upload nothing. The server is the thing measured; the agents' crypto is not simulated.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { openConnection } from '../agent/transport/index.js';
import { MessageType, RpcConnection, type RegisterReply } from '../protocol/index.js';
import { formatTable } from './report.js';
import { sampleProcess } from './measure.js';
import { treeBytes } from './tree.js';
import { startServerProcess } from './server-process.js';
import { pinBundle, serverBin } from './paths.js';

export interface ServerLoadOptions {
  agents: number;
  bytesPerAgent: number;
  outDir: string;
  chunkBytes?: number;
  /** Share of each agent's chunks that repeat another of its chunks (deduplicated before upload). */
  duplicateShare?: number;
  keep?: boolean;
  progress?: (msg: string) => void;
}

export interface LatencyStats {
  count: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

export interface ServerLoadResult {
  agents: number;
  bytes_per_agent: number;
  errors: number;
  error_samples: string[];
  wall_s: number;
  register: LatencyStats;
  backup: LatencyStats;
  incremental: LatencyStats;
  chunks_uploaded: number;
  chunks_deduplicated: number;
  incremental_chunks_uploaded: number;
  devices_on_server: number;
  server_cpu_s: number;
  server_rss_mib: number;
  stored_mib: number;
}

const TECHNICIAN_ID = 'BENCH-LOAD-0001';

export function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return 0;
  const i = Math.min(sortedMs.length - 1, Math.max(0, Math.ceil((p / 100) * sortedMs.length) - 1));
  return sortedMs[i];
}

export function latencyStats(ms: number[]): LatencyStats {
  const s = [...ms].sort((a, b) => a - b);
  const r = (x: number): number => Math.round(x * 10) / 10;
  return { count: s.length, p50_ms: r(percentile(s, 50)), p99_ms: r(percentile(s, 99)), max_ms: r(s.at(-1) ?? 0) };
}

interface AgentData {
  ids: string[];
  /** Each chunk as its pieces: a random head and the filler shared by every chunk (2,000 agents hold ~64 KiB, not 2 GiB). */
  chunks: Buffer[][];
}

/** An agent's chunks: unique ones (random head + shared filler, so the client stays cheap) and repeats. */
function agentData(bytes: number, chunkBytes: number, duplicateShare: number, filler: Buffer): AgentData {
  const count = Math.max(1, Math.round(bytes / chunkBytes));
  const unique = Math.max(1, Math.round(count * (1 - duplicateShare)));
  const chunks: Buffer[][] = [];
  for (let i = 0; i < count; i++) chunks.push(i < unique ? [randomBytes(32), filler.subarray(32, chunkBytes)] : chunks[i % unique]);
  const id = (pieces: Buffer[]): string => {
    const h = createHash('sha256');
    for (const p of pieces) h.update(p);
    return h.digest('hex');
  };
  return { chunks, ids: chunks.map(id) };
}

export async function runServerLoad(opts: ServerLoadOptions): Promise<ServerLoadResult> {
  const say = opts.progress ?? (() => {});
  const chunkBytes = opts.chunkBytes ?? 64 * 1024;
  const duplicateShare = opts.duplicateShare ?? 0.25;
  const runDir = join(resolve(opts.outDir), 'runs', `server-load-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  await mkdir(runDir, { recursive: true });
  const dataDir = join(runDir, 'server-data');
  // All agents register at once from 127.0.0.1: registration limits sized for that (the limits stay on, so
  // what checking them costs is measured; the defaults would spread 500 new devices over ~40 minutes).
  const atOnce = { burst: Math.max(1000, opts.agents), perHour: 3600 };
  const server = await startServerProcess({
    bin: await pinBundle(serverBin, join(runDir, 'bin')),
    dataDir,
    technicianId: TECHNICIAN_ID,
    // Each simulated agent holds one connection at a time, all from 127.0.0.1: the caps must admit them all.
    // 2,000 agents at once, the clients' TLS on the same two cores: 6,000 handshakes queue for longer than the 30 s
    // default; a real agent would reconnect, these do not, so the handshake deadline is the frame deadline (120 s).
    limits: {
      handshakeTimeoutMs: 120_000,
      maxConnections: Math.max(4096, opts.agents + 100),
      maxConnectionsPerAddress: Math.max(1024, opts.agents + 100),
      registration: { attemptsPerAddress: atOnce, attemptsPerTechnicianId: atOnce, newDevicesPerAddress: atOnce, newDevicesPerTechnicianId: atOnce },
    },
    logFile: join(runDir, 'server.log'),
    nodeArgs: process.env.HOLDFAST_BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean),
  });
  say(`server pid ${server.pid} on ${server.addresses.join(' ')}; starting ${opts.agents} agents at once`);
  const filler = randomBytes(chunkBytes);
  const errors: string[] = [];
  const reg: number[] = [];
  const full: number[] = [];
  const incr: number[] = [];
  let uploaded = 0;
  let deduplicated = 0;
  let incrUploaded = 0;
  let done = 0;
  const before = await sampleProcess(server.pid);
  const started = performance.now();
  const ticker = setInterval(() => say(`server-load: ${done}/${opts.agents} agents done, ${errors.length} errors`), 2000);

  const session = async (endpoint: string): Promise<RpcConnection> =>
    new RpcConnection(await openConnection(endpoint, { tlsPin: server.pin, timeoutMs: 120_000 }), endpoint);

  const backup = async (rpc: RpcConnection, data: AgentData): Promise<number> => {
    const { header } = await rpc.request(MessageType.HAS, { ids: data.ids });
    const present = new Set((header.present as number[]).map((i) => data.ids[i]));
    const ids: string[] = [];
    const bodies: Buffer[][] = [];
    data.ids.forEach((id, i) => {
      if (present.has(id)) return;
      present.add(id); // a repeat within this backup goes once
      ids.push(id);
      bodies.push(data.chunks[i]);
    });
    const sizes = bodies.map((pieces) => pieces.reduce((n, p) => n + p.length, 0));
    if (ids.length) await rpc.request(MessageType.PUT, { ids, sizes }, bodies.flat());
    const snap = randomBytes(512);
    await rpc.request(MessageType.PUT_SNAPSHOT, { id: randomBytes(16).toString('hex'), time: new Date().toISOString() }, snap);
    return ids.length;
  };

  const agent = async (n: number): Promise<void> => {
    let rpc: RpcConnection | undefined;
    try {
      let t = performance.now();
      rpc = await session(server.addresses[n % server.addresses.length]);
      const r = (
        await rpc.request(MessageType.REGISTER, {
          technicianId: TECHNICIAN_ID,
          identityId: randomBytes(16).toString('hex'),
          identitySecret: randomBytes(32).toString('hex'),
          hostname: `${hostname()}-sim-${n}`,
          platform: 'bench',
        })
      ).header as unknown as RegisterReply;
      rpc.close();
      reg.push(performance.now() - t);

      const data = agentData(opts.bytesPerAgent, chunkBytes, duplicateShare, filler);
      t = performance.now();
      rpc = await session(r.servers.primary);
      await rpc.request(MessageType.AUTH, { deviceId: r.deviceId, credential: r.credential });
      const sent = await backup(rpc, data);
      rpc.close();
      full.push(performance.now() - t);
      uploaded += sent;
      deduplicated += data.ids.length - sent;

      t = performance.now();
      rpc = await session(r.servers.alternate);
      await rpc.request(MessageType.AUTH, { deviceId: r.deviceId, credential: r.credential });
      const again = await backup(rpc, data);
      rpc.close();
      incr.push(performance.now() - t);
      incrUploaded += again;
      if (again !== 0) throw new Error(`unchanged backup uploaded ${again} chunks (dedup failed)`);
    } catch (err) {
      errors.push(`agent ${n}: ${(err as Error).message}`);
      rpc?.close();
    } finally {
      done++;
    }
  };

  let result: ServerLoadResult;
  try {
    await Promise.all(Array.from({ length: opts.agents }, (_, n) => agent(n)));
    const wall = (performance.now() - started) / 1000;
    clearInterval(ticker);
    const after = await sampleProcess(server.pid);
    const devices = (await readdir(join(dataDir, 'devices')).catch(() => [] as string[])).filter((d) => d.startsWith('dev-')).length;
    if (devices !== opts.agents) errors.push(`server holds ${devices} devices, expected ${opts.agents}`);
    result = {
      agents: opts.agents,
      bytes_per_agent: opts.bytesPerAgent,
      errors: errors.length,
      error_samples: errors.slice(0, 5),
      wall_s: Math.round(wall * 100) / 100,
      register: latencyStats(reg),
      backup: latencyStats(full),
      incremental: latencyStats(incr),
      chunks_uploaded: uploaded,
      chunks_deduplicated: deduplicated,
      incremental_chunks_uploaded: incrUploaded,
      devices_on_server: devices,
      server_cpu_s: Math.round((after.cpuS - before.cpuS) * 100) / 100,
      server_rss_mib: Math.round(after.peakRssMiB * 10) / 10,
      stored_mib: Math.round((await treeBytes(join(dataDir, 'devices'))) / 1024 ** 2),
    };
  } finally {
    clearInterval(ticker);
    await server.stop();
    if (!opts.keep) {
      await rm(dataDir, { recursive: true, force: true });
      await rm(join(runDir, 'bin'), { recursive: true, force: true });
    }
  }
  return result;
}

export function formatServerLoad(r: ServerLoadResult): string {
  const row = (name: string, s: LatencyStats): Array<string | number> => [name, s.count, s.p50_ms.toFixed(0), s.p99_ms.toFixed(0), s.max_ms.toFixed(0)];
  return [
    '',
    `Server under load: ${r.agents} simulated agents at once, ${(r.bytes_per_agent / 1024).toFixed(0)} KiB each, one test server on 127.0.0.1`,
    '',
    formatTable(
      ['step', 'count', 'p50 ms', 'p99 ms', 'max ms'],
      [row('register', r.register), row('first backup', r.backup), row('unchanged backup', r.incremental)],
    ),
    '',
    `errors: ${r.errors}${r.errors ? ` (e.g. ${r.error_samples.join('; ')})` : ''}`,
    `wall: ${r.wall_s.toFixed(1)} s; devices on server: ${r.devices_on_server}; stored: ${r.stored_mib} MiB`,
    `chunks: ${r.chunks_uploaded} uploaded, ${r.chunks_deduplicated} deduplicated; unchanged backups uploaded ${r.incremental_chunks_uploaded}`,
    `server: ${r.server_cpu_s.toFixed(1)} s CPU, peak RSS ${r.server_rss_mib.toFixed(0)} MiB`,
    '',
  ].join('\n');
}

/** Several server-load runs (e.g. 500 and 2,000 agents) side by side. */
export function formatServerLoadSummary(runs: ServerLoadResult[]): string {
  return formatTable(
    ['agents', 'KiB each', 'errors', 'wall s', 'backup p50 ms', 'backup p99 ms', 'server CPU s', 'server peak RSS MiB'],
    runs.map((r) => [
      r.agents,
      (r.bytes_per_agent / 1024).toFixed(0),
      r.errors,
      r.wall_s.toFixed(1),
      r.backup.p50_ms.toFixed(0),
      r.backup.p99_ms.toFixed(0),
      r.server_cpu_s.toFixed(1),
      r.server_rss_mib.toFixed(0),
    ]),
  );
}
