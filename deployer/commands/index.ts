import type { Command } from 'commander';

/** Every holdfast-deploy subcommand, in the order --help lists them. Add one line per command module. */
export const deployerCommands: Array<() => Command> = [];
