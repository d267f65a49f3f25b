// holdfast-deploy: the admin's toolkit. Each subcommand lives in deployer/commands/.
import { Command } from 'commander';
import { AGENT_VERSION } from '../agent/version.js';
import { deployerCommands } from './commands/index.js';

const program = new Command('holdfast-deploy')
  .description('Holdfast deployer: validate fleet files and generate installers and MDM hand-offs from them')
  .version(AGENT_VERSION)
  .showHelpAfterError();
for (const make of deployerCommands) program.addCommand(make());

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`holdfast-deploy: ${(err as Error).message ?? String(err)}\n`);
  process.exitCode = process.exitCode || 1;
});
