import { Command } from 'commander';
import { runService } from '../service.js';
import type { AgentConfig } from '../config-types.js';
import { LOG_DEFAULTS, LOG_LIMITS, openServiceLog } from '../service-log.js';

function whole(flag: string, min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${flag} ${JSON.stringify(v)}: expected a whole number from ${min} to ${max}`);
    return n;
  };
}

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
    .option('--log <file>', 'write the log to this file, rotated by size (default: standard output)')
    .option(
      '--log-max-bytes <n>',
      `with --log: largest size of one log file (default: serviceLog.maxBytes of agent.json or policy, else ${LOG_DEFAULTS.maxBytes}, 5 MiB)`,
      whole('--log-max-bytes', LOG_LIMITS.minBytes, 2 ** 40),
    )
    .option(
      '--log-files <n>',
      `with --log: log files kept, the current one included (default: serviceLog.files, else ${LOG_DEFAULTS.files})`,
      whole('--log-files', 1, LOG_LIMITS.maxFiles),
    )
    .action(async (o: ServiceFlags) => {
      const file = o.log ? openServiceLog({ path: o.log, maxBytes: o.logMaxBytes, files: o.logFiles }) : undefined;
      const log = file ?? ((line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`));
      // Flags win over the settings (agent.json, policy), which win over the defaults.
      const onSettings = (c: AgentConfig) => file?.setLimits({ maxBytes: o.logMaxBytes ?? c.serviceLog?.maxBytes, files: o.logFiles ?? c.serviceLog?.files });
      const controller = new AbortController();
      const stop = (sig: string) => {
        if (controller.signal.aborted) return;
        log(`${sig} received, stopping`);
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
        log,
        onSettings,
      });
      // Worker threads of an interrupted backup must not keep the process alive.
      process.exit(o.once && summary.failures > 0 ? 1 : 0);
    });
}

interface ServiceFlags {
  config?: string;
  backupNow?: boolean;
  once?: boolean;
  checkIn?: number;
  retry?: number;
  reload?: number;
  log?: string;
  logMaxBytes?: number;
  logFiles?: number;
}
