import type { Command } from 'commander';

/** Every holdfast-agent subcommand, in the order --help lists them. Add one line per command module. */
export const agentCommands: Array<() => Command> = [];
