// The Windows installer of one fleet: shared payload (built once) + per-fleet tables + optional signature.
import { randomUUID } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { agentConfigFromFleet } from '../../fleet/agent-config.js';
import { isPkcs11Uri } from '../../fleet/signing.js';
import type { FleetSecrets, LoadedFleet } from '../../fleet/types.js';
import { ensurePayload } from './payload.js';
import { patchFleetMsi, type FleetMsiValues } from './patch.js';
import { signFile, type SignOptions } from './sign.js';
import { nameUuid } from '../name-uuid.js';

export { PUBLIC_PROPERTIES, HIDDEN_PROPERTIES } from './properties.js';

export interface FleetMsiOptions {
  loaded: LoadedFleet;
  secrets: FleetSecrets;
  outDir: string;
  cacheDir: string;
  agentBundle?: string;
  progress?: (message: string) => void;
}

export interface FleetMsiResult {
  path: string;
  productCode: string;
  signed: boolean;
  /** Whether a Technician ID is embedded; if not, TECHNICIANID must be given at install. */
  technicianIdEmbedded: boolean;
  payloadKey: string;
}

export const msiFileName = (fleet: string): string => `holdfast-${fleet}.msi`;

/** Service name: the product name without spaces and punctuation (ACME Backup -> ACMEBackup). */
export const serviceNameFor = (product: string): string => product.replace(/[^A-Za-z0-9]/g, '') || 'HoldfastAgent';

/** The fleet's Authenticode identity (signing.windows) with paths resolved and the password from the environment. */
function signOptions(loaded: LoadedFleet, secrets: FleetSecrets): SignOptions | undefined {
  const w = loaded.fleet.signing?.windows;
  if (!w) return undefined;
  const at = (rel?: string) => (rel === undefined ? undefined : resolve(loaded.dir, rel));
  return {
    certificate: at(w.certificate),
    key: w.key !== undefined && isPkcs11Uri(w.key) ? w.key : at(w.key),
    pkcs12: at(w.pkcs12),
    pkcs11Module: w.pkcs11Module,
    pkcs11Engine: w.pkcs11Engine,
    password: secrets.signingPassword,
    timestampUrl: w.timestampUrl,
    description: loaded.fleet.branding.product,
    url: loaded.fleet.branding.supportUrl,
  };
}

export async function buildFleetMsi(opts: FleetMsiOptions): Promise<FleetMsiResult> {
  const progress = opts.progress ?? (() => {});
  const { fleet } = opts.loaded;
  const signing = signOptions(opts.loaded, opts.secrets);
  // The executables inside carry the vendor, not the fleet's product name: fleets of one vendor and certificate then
  // share the signed executables and the payload built from them.
  const innerSigning = signing && { ...signing, description: fleet.branding.vendor };
  const payload = await ensurePayload({ cacheDir: opts.cacheDir, agentBundle: opts.agentBundle, progress, sign: innerSigning });
  const config = await agentConfigFromFleet(opts.loaded, opts.secrets);
  const productCode = randomUUID().toUpperCase();
  const values: FleetMsiValues = {
    fleet: fleet.fleet,
    customer: fleet.customer,
    vendor: fleet.branding.vendor,
    product: fleet.branding.product,
    version: fleet.version,
    upgradeCode: fleet.branding.upgradeCode,
    productCode,
    packageCode: randomUUID(),
    serviceName: serviceNameFor(fleet.branding.product),
    keepIdentity: fleet.identity.keepOnUninstall,
    supportUrl: fleet.branding.supportUrl,
    componentGuids: {
      RuntimeComponent: nameUuid(fleet.branding.upgradeCode, 'runtime'),
      AgentComponent: nameUuid(fleet.branding.upgradeCode, 'agent'),
      ServiceComponent: nameUuid(fleet.branding.upgradeCode, 'service'),
      FleetComponent: nameUuid(fleet.branding.upgradeCode, 'fleet'),
      RegistryComponent: nameUuid(fleet.branding.upgradeCode, 'registry'),
      DataComponent: nameUuid(fleet.branding.upgradeCode, 'data'),
    },
    fleetDefaults: `${JSON.stringify(config, null, 2)}\n`,
  };
  const out = join(opts.outDir, msiFileName(fleet.fleet));
  progress('patching fleet values into the MSI tables');
  const unsigned = signing ? `${out}.unsigned` : out;
  await patchFleetMsi(payload, values, unsigned, opts.outDir);
  if (signing) {
    progress(`signing with osslsigncode${signing.timestampUrl ? ' (timestamped)' : ''}`);
    try {
      await signFile(unsigned, `${out}.signed`, signing, opts.outDir);
      await rename(`${out}.signed`, out);
    } finally {
      await rm(unsigned, { force: true });
      await rm(`${out}.signed`, { force: true });
    }
  }
  return { path: out, productCode, signed: !!signing, technicianIdEmbedded: config.technicianId !== undefined, payloadKey: payload.key };
}
