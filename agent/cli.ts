// holdfast-agent: the backup agent's command line. Each subcommand lives in agent/commands/.
import { Command } from 'commander';
import { escapeForTerminal } from '../common/terminal-text.js';
import { AGENT_VERSION } from './version.js';
import { agentCommands } from './commands/index.js';

const program = new Command('holdfast-agent')
  .description('Holdfast backup agent: register with a Technician ID, back up, restore (Heal), status, diagnose')
  .version(AGENT_VERSION)
  .showHelpAfterError()
  .configureHelp({ sortSubcommands: false });

async function main(): Promise<void> {
  // Running one command loads only its module (start-up counts in every scheduled backup); help, --version
  // and unknown commands load them all so help and suggestions are complete.
  const only = agentCommands.find((c) => c.name === process.argv[2]);
  for (const c of only ? [only] : agentCommands) program.addCommand((await c.load())());
  await program.parseAsync(process.argv);
}

main().catch((err: unknown) => {
  // Messages can carry file names: nothing in them may act on the terminal (line breaks between lines stay).
  const message = ((err as Error).message ?? String(err)).split('\n').map((line) => escapeForTerminal(line, false));
  process.stderr.write(`holdfast-agent: ${message.join('\n')}\n`);
  process.exitCode = process.exitCode || 1;
});
