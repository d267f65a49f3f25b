// The fleet file as an admin writes it; fleet/fleet.schema.json is the source of truth. The values it shares with
// the agent config (proxy type, schedule) have the agent's types, as the schema uses the agent schema's definitions.
import type { AgentConfig, AgentProxyType, AgentSchedule } from '../agent/config-types.js';
import type { SchemaIssue } from '../common/json-schema.js';

export interface SecretRef {
  env: string;
}

export type ProxyType = AgentProxyType;

export interface FleetProxy {
  type: ProxyType;
  host?: string;
  port?: number;
  username?: string;
  password?: string | SecretRef;
}

export type FleetSchedule = AgentSchedule;

export interface FleetBackupPolicy {
  include: string[];
  exclude: string[];
  protectedPaths: string[];
  schedule: FleetSchedule;
  /** Upload bandwidth limit in KiB/s; absent or 0: none. */
  uploadLimitKiBps?: number;
  /** Snapshots agents keep after each backup (forget + prune); none: keep all. */
  retention?: AgentConfig['backup']['retention'];
}

export interface FleetBranding {
  vendor: string;
  product: string;
  upgradeCode: string;
  bundleId: string;
  supportUrl?: string;
}

/** Either certificate + key (PEM) or pkcs12; fleet/signing.ts checks the combination. */
export interface SigningIdentity {
  certificate?: string;
  key?: string;
  pkcs12?: string;
  /** Key password, PKCS#12 password or token PIN: from the environment only. */
  password?: SecretRef;
}

export interface FleetSigning {
  /** Authenticode: `key` may be a pkcs11: URI of a key on a token reached through pkcs11Module. */
  windows?: SigningIdentity & { pkcs11Module?: string; pkcs11Engine?: string; timestampUrl?: string };
  macos?: { codeRequirement?: string; installer?: SigningIdentity };
}

/** A fleet after validation, with every default filled in. */
export interface Fleet {
  fleet: string;
  customer: string;
  version: string;
  technicianId: string | SecretRef;
  registration: { primary: string; alternate: string };
  serverSubnets: string[];
  port: number;
  /** Mapped proxy firewall: server IP:port -> firewall IP:port (agents dial the firewall address). */
  addressMap?: Record<string, string>;
  /** The agents' service log rotation (copied into agent.json). */
  serviceLog?: { maxBytes?: number; files?: number };
  proxy: FleetProxy;
  tlsPin: string;
  escrowPublicKey?: string;
  backup: FleetBackupPolicy;
  branding: FleetBranding;
  identity: { keepOnUninstall: boolean };
  signing?: FleetSigning;
}

/** A validated fleet and where it came from (relative paths in it resolve against `dir`). */
export interface LoadedFleet {
  file: string;
  dir: string;
  fleet: Fleet;
  /** Things that are allowed but probably wrong (fleet/addresses.ts fleetWarnings); same shape as errors. */
  warnings?: SchemaIssue[];
}

/** Secret values resolved from the environment at build time. Never log these. */
export interface FleetSecrets {
  technicianId?: string;
  proxyPassword?: string;
  signingPassword?: string;
  /** Password of the macOS Developer ID Installer key or PKCS#12 file. */
  installerSigningPassword?: string;
}
