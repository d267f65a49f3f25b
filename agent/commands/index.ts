import type { Command } from 'commander';

export interface AgentCommandEntry {
  /** The subcommand name, as its module's Command is named. */
  name: string;
  /** Loads the module only when needed: start-up evaluates just the command being run (proxy, TLS... stay unloaded otherwise). */
  load: () => Promise<() => Command>;
}

/** Every holdfast-agent subcommand, in the order --help lists them. Add one line per command module. */
export const agentCommands: AgentCommandEntry[] = [
  { name: 'register', load: async () => (await import('./register.js')).registerCommand },
  { name: 'status', load: async () => (await import('./status.js')).statusCommand },
  { name: 'service', load: async () => (await import('./service.js')).serviceCommand },
  { name: 'configure', load: async () => (await import('./configure.js')).configureCommand },
  { name: 'backup', load: async () => (await import('./backup.js')).backupCommand },
  { name: 'restore', load: async () => (await import('./restore.js')).restoreCommand },
  { name: 'snapshots', load: async () => (await import('./snapshots.js')).snapshotsCommand },
  { name: 'ls', load: async () => (await import('./ls.js')).lsCommand },
  { name: 'versions', load: async () => (await import('./versions.js')).versionsCommand },
  { name: 'exclude', load: async () => (await import('./exclude.js')).excludeCommand },
  { name: 'forget', load: async () => (await import('./prune.js')).forgetCommand },
  { name: 'prune', load: async () => (await import('./prune.js')).pruneCommand },
  { name: 'check', load: async () => (await import('./prune.js')).checkCommand },
  { name: 'escrow-restore', load: async () => (await import('./escrow-restore.js')).escrowRestoreCommand },
  { name: 'diagnose', load: async () => (await import('./diagnose.js')).diagnoseCommand },
];
