// An admin's read-only view of one device's data on the backup servers: the admin credential file
// (holdfast-server admin-credential) instead of anything from the device. Same pinned TLS as the agent's own store.
import { parseEndpoint } from '../common/endpoint.js';
import { DEVICE_ID_RE } from '../protocol/messages.js';
import { readAdminCredential } from './admin-files.js';
import { RemoteStore } from './remote-store.js';
import type { AgentProxy } from './config-types.js';

export interface AdminStoreOptions {
  /** The admin credential file. */
  credentialFile: string;
  deviceId: string;
  /** Servers to try (primary, alternate); default: the ones in the credential file. */
  servers?: string[];
  /** Certificate pin; default: the one in the credential file. */
  tlsPin?: string;
  proxy?: AgentProxy;
  log?: (line: string) => void;
}

export async function openAdminStore(o: AdminStoreOptions): Promise<RemoteStore> {
  if (!DEVICE_ID_RE.test(o.deviceId))
    throw new Error(`--device ${JSON.stringify(o.deviceId)} is not allowed: a device id like dev-<24 hex digits> (holdfast-server devices)`);
  const cred = await readAdminCredential(o.credentialFile);
  const servers = o.servers?.length ? o.servers : (cred.servers ?? []);
  if (servers.length === 0) throw new Error(`${o.credentialFile} names no server: pass --server <ip:port>`);
  for (const s of servers) if (!parseEndpoint(s)) throw new Error(`--server ${JSON.stringify(s)} is not allowed: expected IPv4:port or [IPv6]:port`);
  const tlsPin = o.tlsPin ?? cred.tlsPin;
  if (!tlsPin) throw new Error(`${o.credentialFile} holds no certificate pin: pass --tls-pin AA:BB:...`);
  return new RemoteStore({
    servers: { primary: servers[0], alternate: servers[1] ?? servers[0] },
    deviceId: o.deviceId,
    admin: cred.admin,
    credential: cred.credential,
    tlsPin,
    proxy: o.proxy,
    log: o.log,
  });
}
