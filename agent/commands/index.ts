import type { Command } from 'commander';
import { registerCommand } from './register.js';
import { statusCommand } from './status.js';
import { serviceCommand } from './service.js';
import { configureCommand } from './configure.js';
import { backupCommand } from './backup.js';
import { restoreCommand } from './restore.js';
import { snapshotsCommand } from './snapshots.js';
import { excludeCommand } from './exclude.js';
import { escrowRestoreCommand } from './escrow-restore.js';
import { diagnoseCommand } from './diagnose.js';

/** Every holdfast-agent subcommand, in the order --help lists them. Add one line per command module. */
export const agentCommands: Array<() => Command> = [
  registerCommand,
  statusCommand,
  serviceCommand,
  configureCommand,
  backupCommand,
  restoreCommand,
  snapshotsCommand,
  excludeCommand,
  escrowRestoreCommand,
  diagnoseCommand,
];
