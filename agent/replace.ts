// A replacement machine takes over a lost device's backup history (`holdfast-agent register --replace <device>`):
// with the one-time token the admin issued (holdfast-server replace-token) it registers as that device (REPLACE),
// and opens the device key from the key-escrow record the server sends back with the company private key. The
// machine then backs up under the lost device's key: chunks the device stored already are not sent again, and its
// old snapshots restore here. Nothing is written locally unless the server accepted and the key opened.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync, renameSync, rmSync } from 'node:fs';
import { MessageType } from '../protocol/messages.js';
import { readReplaceToken } from './admin-files.js';
import { loadAgentConfig, type LoadedAgentConfig } from './config.js';
import { companyKeyFingerprint, parseEscrowRecord, unwrapDeviceKey } from './engine/escrow.js';
import { writeDeviceKey } from './engine/keys.js';
import { RegistrationFailedError, registrationFields, technicianIdOf, type RegisterResult } from './register.js';
import { connectFirst, ServerRefusedError } from './remote-store.js';
import { newIdentity, readIdentity, writeIdentity, writeRegistration } from './state.js';

export interface ReplaceOptions {
  loaded?: LoadedAgentConfig;
  configPath?: string;
  technicianId?: string;
  /** The device to take over; must be the one the token was issued for. */
  deviceId: string;
  tokenFile: string;
  /** Company private key (PEM file) the device key was escrowed for. */
  companyKeyFile: string;
  passphrase?: string;
  onProgress?: (line: string) => void;
}

export async function replaceDevice(o: ReplaceOptions): Promise<RegisterResult & { replaced: true }> {
  const loaded = o.loaded ?? (await loadAgentConfig(o.configPath));
  const { config, state } = loaded;
  const token = await readReplaceToken(o.tokenFile);
  if (token.deviceId !== o.deviceId) throw new Error(`${o.tokenFile} is a replace token for ${token.deviceId}, not for --replace ${o.deviceId}`);
  const technicianId = technicianIdOf(loaded, o.technicianId);
  const pem = readFileSync(o.companyKeyFile, 'utf8');
  let companyKey: string;
  try {
    const priv = createPrivateKey(o.passphrase === undefined ? pem : { key: pem, passphrase: o.passphrase });
    companyKey = companyKeyFingerprint(createPublicKey(priv));
  } catch (err) {
    throw new Error(`--company-key ${o.companyKeyFile} cannot be read (PEM private key; --passphrase-env if it is encrypted): ${(err as Error).message}`);
  }
  const storedIdentity = await readIdentity(state);
  const identity = storedIdentity ?? newIdentity();
  const endpoints = [config.registration.primary, config.registration.alternate];
  o.onProgress?.(`taking over ${o.deviceId} at ${endpoints.join(' / ')}`);
  let result;
  try {
    result = await connectFirst(
      endpoints,
      { tlsPin: config.tlsPin, proxy: config.proxy, addressMap: config.addressMap },
      (conn) =>
        conn.request(MessageType.REPLACE, {
          ...registrationFields(technicianId, identity),
          deviceId: o.deviceId,
          token: token.token,
          companyKey,
        }),
      'registration',
      2,
    );
  } catch (err) {
    if (err instanceof ServerRefusedError) throw new RegistrationFailedError(err.code, `replace refused: ${err.message}`);
    throw err;
  }
  result.conn.close();
  const reply = result.value.header as { deviceId?: unknown; credential?: unknown; servers?: { primary?: string; alternate?: string } };
  if (reply.deviceId !== o.deviceId || typeof reply.credential !== 'string' || !reply.servers?.primary || !reply.servers.alternate)
    throw new RegistrationFailedError('bad-reply', `${result.endpoint}: replace reply is incomplete`);
  // The server has handed the device over (the token is spent): the key must open before anything is kept here.
  const deviceKey = unwrapDeviceKey(parseEscrowRecord(result.value.body), pem, o.passphrase);
  if (!storedIdentity) await writeIdentity(state, identity);
  // This machine's own earlier key (if it backed up before) is kept aside, never overwritten; its change cache
  // described another device's snapshots.
  try {
    renameSync(state.deviceKey, `${state.deviceKey}.before-replace-${Date.now()}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  rmSync(state.changeCache, { force: true });
  writeDeviceKey(state.deviceKey, deviceKey);
  const servers = { primary: reply.servers.primary, alternate: reply.servers.alternate };
  await writeRegistration(state, {
    deviceId: o.deviceId,
    credential: reply.credential,
    servers,
    registeredAt: new Date().toISOString(),
    registeredVia: result.endpoint,
  });
  return { deviceId: o.deviceId, servers, existingDevice: true, alreadyRegistered: false, registeredVia: result.endpoint, replaced: true };
}
