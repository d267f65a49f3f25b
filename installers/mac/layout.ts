// Where the pkg puts things on the Mac. The shared part (runtimes, agent, launcher) is the same for every
// fleet so its compressed payload is built once; per-fleet files are the LaunchDaemon plist and the config.
export const PRODUCT_DIR = '/Library/Application Support/Holdfast';
export const LAUNCHER = `${PRODUCT_DIR}/bin/holdfast-agent`;
export const AGENT_BUNDLE = `${PRODUCT_DIR}/lib/holdfast-agent.mjs`;
export const CONFIG_FILE = `${PRODUCT_DIR}/agent.json`;
export const LOG_FILE = '/Library/Logs/holdfast-agent.log';
/** launchd's stdout/stderr of the service: only what the runtime prints outside the agent's own log (a crash). */
export const STDERR_LOG_FILE = '/Library/Logs/holdfast-agent.stderr.log';
export const MAC_ARCHES = ['arm64', 'x86_64'] as const;
export type MacArch = (typeof MAC_ARCHES)[number];

export const runtimeBinary = (arch: MacArch) => `${PRODUCT_DIR}/runtime/${arch}/node`;
export const daemonPlist = (label: string) => `/Library/LaunchDaemons/${label}.plist`;

/** The component package's name inside the product archive (Distribution refers to it as #agent.pkg). */
export const COMPONENT = 'agent.pkg';

/** Absolute install path -> cpio/BOM path relative to install-location "/". */
export const archivePath = (abs: string) => (abs === '/' ? '.' : `.${abs}`);

/** Apple's owner for /Library/Application Support is root:admin (gid 80); the installer would otherwise re-own it. */
export const ADMIN_GID = 80;
export const GID_OVERRIDES: Record<string, number> = { './Library/Application Support': ADMIN_GID };
