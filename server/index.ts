// The Holdfast test server: registration and backup service over the wire protocol (docs/design.md).
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { formatEndpoint, parseEndpoint } from '../common/endpoint.js';
import type { ServerConfig } from './config.js';
import { loadTlsIdentity } from './tls.js';
import { DeviceRegistry } from './storage/registry.js';
import { DeviceStore } from './storage/device-store.js';
import { Session } from './session.js';
import { ConnectionGate } from './connection-gate.js';
import { defaultLimits } from './limits.js';
import { RegistrationThrottle } from './registration-throttle.js';
import { DEFAULT_REGISTRATION_LIMITS } from './registration-limits.js';
import { readIntoReusedBuffer } from '../protocol/reused-reads.js';
import { QuotaGuard } from './quota.js';
import type { ServerPair } from '../protocol/messages.js';

export { loadServerConfig, validateServerConfig, ServerConfigError, type ServerConfig } from './config.js';
export { DeviceRegistry, RegistrationError, type DeviceRecord } from './storage/registry.js';
export { certificatePin } from './tls.js';
export { CONNECTION_LIMITS, type ConnectionLimits } from './limits.js';

export interface StartServerOptions {
  dataDir: string;
  config: ServerConfig;
  /** Log sink (one line per call, no secrets); default: stdout. */
  log?: (line: string) => void;
}

export interface ServerStats {
  devices: number;
  storedBytes: number;
  sessions: number;
}

export interface RunningServer {
  /** Bound addresses, IP:port, in config order. */
  addresses: string[];
  /** SHA-256 fingerprint of the server certificate. */
  pin: string;
  /** The pair assigned to newly registered devices. */
  assign: ServerPair;
  generatedCertificate: boolean;
  stats(): ServerStats;
  close(): Promise<void>;
}

export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const dataDir = resolve(options.dataDir);
  const log = options.log ?? ((line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`));
  await mkdir(dataDir, { recursive: true });
  const tls = await loadTlsIdentity(dataDir, options.config.tls);

  let assign: ServerPair | undefined = options.config.assign;
  const registry = new DeviceRegistry(dataDir, options.config.technicianIds, () => assign!);
  await registry.init();

  const stores = new Map<string, Promise<DeviceStore>>();
  const loaded = new Set<DeviceStore>();
  const openStore = (deviceId: string): Promise<DeviceStore> => {
    let s = stores.get(deviceId);
    if (!s) {
      s = DeviceStore.open(registry.deviceDir(deviceId));
      stores.set(deviceId, s);
      s.then((store) => loaded.add(store)).catch(() => stores.delete(deviceId));
    }
    return s;
  };
  // Load every device's index up front so stats() is exact and the first backup does not pay for it.
  for (const id of await registry.listDeviceIds()) await openStore(id);
  let deviceCount = (await registry.listDeviceIds()).length;

  const quota = new QuotaGuard(options.config.quotas ?? {}, registry, openStore);
  await quota.load();

  const limits = { ...defaultLimits(), ...options.config.limits };
  const gate = new ConnectionGate(limits, log);
  const sockets = new Set<TLSSocket>();
  const ctx = {
    registry,
    throttle: new RegistrationThrottle(options.config.limits?.registration ?? DEFAULT_REGISTRATION_LIMITS),
    openStore,
    quota,
    log,
    onNewDevice: () => {
      deviceCount++;
    },
  };
  const servers: Server[] = [];
  const addresses: string[] = [];
  try {
    for (const listen of options.config.listen) {
      const { host, port } = parseEndpoint(listen, true)!;
      const server = createServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, (socket) => {
        const ticket = gate.ticketOf(socket);
        if (!ticket) {
          socket.destroy();
          return;
        }
        sockets.add(socket);
        socket.setNoDelay(true);
        socket.on('close', () => sockets.delete(socket));
        // Decrypted data into one reused buffer instead of a new Buffer per read (protocol/reused-reads.ts).
        readIntoReusedBuffer(socket);
        new Session(socket, ctx, `${socket.remoteAddress}:${socket.remotePort}`, limits, ticket);
      });
      // Counts and caps connections, and starts the handshake deadline, before any TLS work (connection-gate.ts).
      gate.guard(server);
      server.on('tlsClientError', () => undefined);
      await new Promise<void>((res, rej) => {
        server.once('error', rej);
        server.listen({ host, port, backlog: 1024 }, () => {
          server.off('error', rej);
          res();
        });
      });
      servers.push(server);
      const a = server.address() as AddressInfo;
      addresses.push(formatEndpoint(a.address, a.port));
    }
  } catch (err) {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    throw new Error(`cannot listen on ${options.config.listen.join(', ')}: ${(err as Error).message}`);
  }
  assign ??= { primary: addresses[0], alternate: addresses[1] ?? addresses[0] };

  return {
    addresses,
    pin: tls.pin,
    assign,
    generatedCertificate: tls.generated,
    stats() {
      let storedBytes = 0;
      for (const s of loaded) storedBytes += s.storedBytes;
      return { devices: deviceCount, storedBytes, sessions: sockets.size };
    },
    async close() {
      // Stop accepting, cut live sessions (agents resume elsewhere) and connections still in their handshake,
      // then wait for the listeners.
      const closed = servers.map((srv) => new Promise<void>((r) => srv.close(() => r())));
      for (const sock of sockets) sock.destroy();
      gate.closeAll();
      await Promise.all(closed);
      await Promise.all([...stores.values()].map(async (p) => (await p.catch(() => undefined))?.close()));
    },
  };
}
