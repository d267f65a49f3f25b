import type { Command } from 'commander';
import { validateCommand } from './validate.js';
import { generateCommand } from './generate.js';
import { pushCommand } from './push.js';

/** Every holdfast-deploy subcommand, in the order --help lists them. Add one line per command module. */
export const deployerCommands: Array<() => Command> = [validateCommand, generateCommand, pushCommand];
