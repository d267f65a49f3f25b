import { Command } from 'commander';
import { runService } from '../service.js';

function ms(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 1) throw new Error(`${flag} ${JSON.stringify(v)}: expected a number of seconds >= 1`);
    return n * 1000;
  };
}

export function serviceCommand(): Command {
  return new Command('service')
    .description(
      'run as the background service in the foreground: register if needed, back up on schedule, apply server address updates; stops on SIGTERM/SIGINT',
    )
    .option('--config <file>', 'agent config (default: HOLDFAST_CONFIG, agent.json beside the agent, or the platform default)')
    .option('--backup-now', 'back up once right after start, whatever the schedule says')
    .option('--once', 'do one cycle (register, check in, back up if due) and exit')
    .option('--check-in <seconds>', 'how often to check in with the servers for address updates (default 3600)', ms('--check-in'))
    .option('--retry <seconds>', 'wait after a failed registration or backup (default 600)', ms('--retry'))
    .option(
      '--reload <seconds>',
      're-read agent.json and the admin policies (group policy, managed preferences) at least this often (default 300)',
      ms('--reload'),
    )
    .action(async (o: { config?: string; backupNow?: boolean; once?: boolean; checkIn?: number; retry?: number; reload?: number }) => {
      const controller = new AbortController();
      const stop = (sig: string) => {
        if (controller.signal.aborted) return;
        process.stdout.write(`${new Date().toISOString()} ${sig} received, stopping\n`);
        controller.abort();
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      const summary = await runService({
        configPath: o.config,
        signal: controller.signal,
        backupNow: o.backupNow,
        once: o.once,
        checkInMs: o.checkIn,
        retryMs: o.retry,
        reloadMs: o.reload,
      });
      // Worker threads of an interrupted backup must not keep the process alive.
      process.exit(o.once && summary.failures > 0 ? 1 : 0);
    });
}
