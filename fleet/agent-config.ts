import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { validateAgentConfig } from '../agent/config.js';
import type { AgentConfig } from '../agent/config-types.js';
import type { FleetSecrets, LoadedFleet } from './types.js';

/** The agent.json an installer lays down for a fleet, checked by the agent's schema. Secrets come only from `secrets`. */
export async function agentConfigFromFleet(loaded: LoadedFleet, secrets: FleetSecrets): Promise<AgentConfig> {
  const { fleet } = loaded;
  const config: AgentConfig = {
    fleet: fleet.fleet,
    registration: { ...fleet.registration },
    tlsPin: fleet.tlsPin,
    proxy: {
      type: fleet.proxy.type,
      ...(fleet.proxy.host !== undefined && { host: fleet.proxy.host }),
      ...(fleet.proxy.port !== undefined && { port: fleet.proxy.port }),
      ...(fleet.proxy.username !== undefined && { username: fleet.proxy.username }),
      ...(secrets.proxyPassword !== undefined && { password: secrets.proxyPassword }),
    },
    ...(fleet.addressMap && Object.keys(fleet.addressMap).length > 0 && { addressMap: { ...fleet.addressMap } }),
    ...(fleet.serviceLog && Object.keys(fleet.serviceLog).length > 0 && { serviceLog: { ...fleet.serviceLog } }),
    backup: {
      include: [...fleet.backup.include],
      exclude: [...fleet.backup.exclude],
      protectedPaths: [...fleet.backup.protectedPaths],
      schedule: { ...fleet.backup.schedule },
      ...(fleet.backup.uploadLimitKiBps !== undefined && { uploadLimitKiBps: fleet.backup.uploadLimitKiBps }),
      ...(fleet.backup.retention && { retention: { ...fleet.backup.retention } }),
    },
    policy: { vendor: fleet.branding.vendor, product: fleet.branding.product, domain: fleet.branding.bundleId },
  };
  if (secrets.technicianId !== undefined) config.technicianId = secrets.technicianId;
  if (fleet.escrowPublicKey) config.escrowPublicKeyPem = await readFile(resolve(loaded.dir, fleet.escrowPublicKey), 'utf8');
  // The agent's own check: an installer never ships an agent.json the agent would refuse (e.g. a Technician ID
  // or proxy password from the environment that the fleet schema could not see).
  return validateAgentConfig(config, `agent.json for ${loaded.file}`);
}
