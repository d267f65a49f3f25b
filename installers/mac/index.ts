// Public face of the macOS installer library: the deployer targets, the CLI and the VS Code extension call these.
export { buildMacPkg, defaultAgentBundle, pkgFileName, uninstallFileName, DEFAULT_GZIP_LEVEL, MIN_MACOS } from './pkg.js';
export type { MacPkgOptions, MacPkgResult } from './pkg.js';
export {
  extensionAttributeScripts,
  pppcProfile,
  pppcProfileName,
  readSignature,
  settingsProfile,
  settingsProfileName,
  EA_THRESHOLDS,
} from './profiles.js';
export { nameUuid } from '../name-uuid.js';
export type { EaScript, PppcResult } from './profiles.js';
export { CONFIG_FILE, LAUNCHER, PRODUCT_DIR, daemonPlist, runtimeBinary } from './layout.js';
