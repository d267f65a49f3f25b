// holdfast-agent: the backup agent's command line. Each subcommand lives in agent/commands/.
import { Command } from 'commander';
import { AGENT_VERSION } from './version.js';
import { agentCommands } from './commands/index.js';

const program = new Command('holdfast-agent')
  .description('Holdfast backup agent: register with a Technician ID, back up, restore (Heal), status, diagnose')
  .version(AGENT_VERSION)
  .showHelpAfterError()
  .configureHelp({ sortSubcommands: false });
for (const make of agentCommands) program.addCommand(make());

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`holdfast-agent: ${(err as Error).message ?? String(err)}\n`);
  process.exitCode = process.exitCode || 1;
});
