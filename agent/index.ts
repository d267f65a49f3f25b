// The agent's programmatic API (docs/design.md): the CLI, the service, the bench and the VS Code
// extension all call these. CLIs are thin wrappers.
export { loadAgentConfig, validateAgentConfig, resolveConfigPath, AgentConfigError, type LoadedAgentConfig, type ConfigIssue } from './config.js';
export { registerDevice, RegistrationFailedError, type RegisterOptions, type RegisterResult } from './register.js';
export { readStatus, formatStatus, type AgentStatus } from './status.js';
export { runService, type ServiceOptions } from './service.js';
export { openRemoteStore, RemoteStore, ServersUnreachableError, ServerRefusedError, NotRegisteredError, type RemoteStoreStats } from './remote-store.js';
export {
  statePaths,
  readRegistration,
  readLastResult,
  recordBackupResult,
  type StatePaths,
  type Registration,
  type LastResult,
  type LastBackup,
} from './state.js';
export { AGENT_VERSION } from './version.js';
export type { AgentConfig } from './config-types.js';
export type { ChunkStore, StoredChunk, SnapshotInfo, MovedChunks } from './store.js';
export { ChunkLease, LeaseSpentError } from './store.js';
// Engine (backup, restore, snapshots, escrow).
export {
  runBackup,
  runRestore,
  runListSnapshots,
  runEscrowRestore,
  openLocalStore,
  type RunBackupOptions,
  type RunRestoreOptions,
} from './engine/agent-api.js';
export { backupFolders, type BackupOptions, type BackupProgress, type BackupResult } from './engine/backup.js';
// Retention, prune, check (docs/design.md "Retention, prune and check").
export { runForget, runPrune, runCheck, type RunForgetOptions } from './engine/prune-api.js';
export { applyRetention, type RetentionPolicy } from './engine/retention.js';
export type { CheckResult } from './engine/check.js';
export type { PruneResult } from './engine/prune.js';
export {
  restoreSnapshot,
  RestoreError,
  PathEscapeError,
  type RestoreOptions,
  type RestoreProgress,
  type RestoreResult,
  type FileFailure,
} from './engine/restore.js';
export { ChunkAuthError } from './engine/codec.js';
export { LocalStore } from './engine/local-store.js';
export {
  addExclusion,
  removeExclusion,
  readExclusions,
  findViolations,
  protectedPaths,
  describeViolation,
  DeselectionRefusedError,
  type Violation,
} from './engine/guard.js';
export { wrapDeviceKey, unwrapDeviceKey, recoverDeviceKey, EscrowError, type EscrowRecord } from './engine/escrow.js';
