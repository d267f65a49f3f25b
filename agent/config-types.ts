// The agent's config file (agent.json) as the installers write it and the agent reads it; agent-config.schema.json
// is the source of truth (validation, defaults, the value lists in agent/config-schema.ts). The unions below are the
// schema's enums as types; test/agent-config-schema.test.ts fails when the two differ.
// Shared by the agent (which validates it) and the deployer (which writes it from a fleet).
export type AgentProxyType = 'none' | 'socks4' | 'socks4a' | 'socks5' | 'http';

export interface AgentProxy {
  type: AgentProxyType;
  host?: string;
  port?: number;
  username?: string;
  password?: string;
}

export interface AgentSchedule {
  frequency: 'manual' | 'hourly' | 'daily' | 'weekly';
  at: string;
  day?: 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
}

export interface AgentConfig {
  /** Fleet id, for status output and admin tooling. */
  fleet?: string;
  /** Needed only until the agent has registered; may come from an MSI property or a GPO policy instead. */
  technicianId?: string;
  /** Registration servers, IPv4:port or [IPv6]:port (never host names). */
  registration: { primary: string; alternate: string };
  /** SHA-256 fingerprint of the server certificate, AA:BB:... (64 hex digits). */
  tlsPin: string;
  proxy: AgentProxy;
  /** Mapped proxy firewall: server IP:port -> the firewall IP:port the agent dials instead. */
  addressMap?: Record<string, string>;
  /** The service log's rotation (agent/service-log.ts); absent fields take LOG_DEFAULTS. */
  serviceLog?: { maxBytes?: number; files?: number };
  backup: {
    include: string[];
    exclude: string[];
    protectedPaths: string[];
    schedule: AgentSchedule;
    /** Upload bandwidth limit in KiB/s (agent/upload-limit.ts); absent or 0: none. */
    uploadLimitKiBps?: number;
    /** Snapshots the agent keeps after each backup (forget + prune); none: keep all. */
    retention?: { keepLast?: number; keepDaily?: number; keepWeekly?: number; keepMonthly?: number };
  };
  /** Company public key (PEM) for key escrow. */
  escrowPublicKeyPem?: string;
  /** Where identity, keys and caches live; default: a "state" folder beside the config file. */
  stateDir?: string;
  /** Where admin policies live: registry key HKLM\Software\Policies\<vendor>\<product> (Windows), managed preferences domain (macOS). */
  policy?: { vendor: string; product: string; domain?: string };
}
