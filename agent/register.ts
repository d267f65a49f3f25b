// Registration: Technician ID -> device id, credential and the device's own backup-server pair,
// at the registration pair (primary, then alternate). Nothing is stored unless the server accepts.
import { hostname } from 'node:os';
import { MessageType, type RegisterRequest, type ServerPair } from '../protocol/messages.js';
import { connectFirst, ServerRefusedError } from './remote-store.js';
import { loadAgentConfig, type LoadedAgentConfig } from './config.js';
import { newIdentity, readIdentity, readRegistration, writeIdentity, writeRegistration, type Identity } from './state.js';
import { AGENT_VERSION } from './version.js';
import { escapeForTerminal } from '../common/terminal-text.js';

export interface RegisterOptions {
  /** A loaded config, or the --config path to load. */
  loaded?: LoadedAgentConfig;
  configPath?: string;
  /** Overrides the config's Technician ID (e.g. from an installer property). */
  technicianId?: string;
  /** Register again even when already registered (same identity -> same device, new credential). */
  force?: boolean;
  onProgress?: (line: string) => void;
}

export interface RegisterResult {
  deviceId: string;
  servers: ServerPair;
  /** The server already knew this machine's identity (reinstall): same device. */
  existingDevice: boolean;
  /** Nothing was done: the agent was registered already. */
  alreadyRegistered: boolean;
  registeredVia?: string;
}

export class RegistrationFailedError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** The server limits registrations (code rate-limited): try again after this long. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'RegistrationFailedError';
  }
}

/** The Technician ID to register with: --technician-id, the config's, or HOLDFAST_TECHNICIAN_ID. */
export function technicianIdOf(loaded: LoadedAgentConfig, override?: string): string {
  const technicianId = (override ?? loaded.config.technicianId ?? process.env.HOLDFAST_TECHNICIAN_ID ?? '').trim();
  if (!technicianId) {
    throw new RegistrationFailedError(
      'no-technician-id',
      `${loaded.path}: no Technician ID to register with: set "technicianId" in the config, HOLDFAST_TECHNICIAN_ID, or pass --technician-id`,
    );
  }
  return technicianId;
}

/** What REGISTER (and REPLACE) tell the server about this machine. */
export function registrationFields(technicianId: string, identity: Identity): Omit<RegisterRequest, 'hostname'> & { hostname?: string } {
  return {
    technicianId,
    identityId: identity.identityId,
    identitySecret: identity.identitySecret,
    // The server refuses control characters in it (an admin's terminal shows it): send them escaped.
    hostname: escapeForTerminal(hostname()).slice(0, 255) || undefined,
    platform: `${process.platform}-${process.arch}`,
    agentVersion: AGENT_VERSION,
  };
}

export async function registerDevice(options: RegisterOptions = {}): Promise<RegisterResult> {
  const loaded = options.loaded ?? (await loadAgentConfig(options.configPath));
  const { config, state } = loaded;
  const existing = await readRegistration(state);
  if (existing && !options.force) {
    return { deviceId: existing.deviceId, servers: existing.servers, existingDevice: true, alreadyRegistered: true, registeredVia: existing.registeredVia };
  }
  const technicianId = technicianIdOf(loaded, options.technicianId);
  // A kept identity (reinstall) maps back to the same device; a new one is written only on success.
  const storedIdentity = await readIdentity(state);
  const identity = storedIdentity ?? newIdentity();
  const endpoints = [config.registration.primary, config.registration.alternate];
  options.onProgress?.(`registering with ${endpoints.join(' / ')}`);
  let result;
  try {
    result = await connectFirst(
      endpoints,
      { tlsPin: config.tlsPin, proxy: config.proxy, addressMap: config.addressMap },
      async (conn) => (await conn.request(MessageType.REGISTER, registrationFields(technicianId, identity))).header,
      'registration',
      2,
    );
  } catch (err) {
    if (err instanceof ServerRefusedError) {
      const hint =
        err.code === 'unknown-technician'
          ? 'the registration server does not know this Technician ID; check the ID your provider sent (nothing was stored)'
          : err.message;
      const retryAfterMs = err.code === 'rate-limited' && Number.isFinite(err.detail.retryAfterMs) ? Number(err.detail.retryAfterMs) : undefined;
      throw new RegistrationFailedError(err.code, `registration refused: ${hint}`, retryAfterMs);
    }
    throw err;
  }
  result.conn.close();
  const reply = result.value as { deviceId?: unknown; credential?: unknown; servers?: ServerPair; existing?: unknown };
  if (typeof reply.deviceId !== 'string' || typeof reply.credential !== 'string' || !reply.servers?.primary || !reply.servers.alternate) {
    throw new RegistrationFailedError('bad-reply', `${result.endpoint}: registration reply is incomplete`);
  }
  if (!storedIdentity) await writeIdentity(state, identity);
  await writeRegistration(state, {
    deviceId: reply.deviceId,
    credential: reply.credential,
    servers: { primary: reply.servers.primary, alternate: reply.servers.alternate },
    registeredAt: new Date().toISOString(),
    registeredVia: result.endpoint,
  });
  return {
    deviceId: reply.deviceId,
    servers: reply.servers,
    existingDevice: reply.existing === true,
    alreadyRegistered: false,
    registeredVia: result.endpoint,
  };
}
