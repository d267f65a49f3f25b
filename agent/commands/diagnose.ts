import { Command, InvalidArgumentError } from 'commander';
import { loadAgentConfig } from '../config.js';
import { readRegistration } from '../state.js';
import { diagnose, formatReport } from '../diagnose.js';

function timeoutMs(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 100 || n > 600_000)
    throw new InvalidArgumentError(`${JSON.stringify(value)} is not allowed: use an integer from 100 to 600000 (milliseconds)`);
  return n;
}

export function diagnoseCommand(): Command {
  return new Command('diagnose')
    .description('preflight: check the registration servers (and, once registered, the assigned servers) directly and through the configured proxy')
    .option('--config <file>', 'agent config (default: HOLDFAST_CONFIG, agent.json beside the agent, or the platform default)')
    .option('--json', 'print the report as JSON ({ ok, registered, route, proxy, pairs, hops })')
    .option('--timeout-ms <n>', 'deadline per phase (TCP, proxy handshake, TLS, PING) in milliseconds', timeoutMs, 5000)
    .option('--no-direct', 'with a proxy configured, skip the informational direct checks')
    .addHelpText(
      'after',
      '\nExit code 0 when at least one server of the pair the agent needs (registration pair before registering,\nits assigned pair after) answers by ' +
        'the route the agent is configured to use (the proxy when one is set);\n1 otherwise or on a config error.',
    )
    .action(async (opts: { config?: string; json?: boolean; timeoutMs: number; direct: boolean }) => {
      const loaded = await loadAgentConfig(opts.config);
      const registration = await readRegistration(loaded.state);
      if (!opts.json) process.stderr.write(`diagnose: ${loaded.path}: probing servers (up to ${opts.timeoutMs} ms per phase)...\n`);
      const report = await diagnose(loaded.config, {
        ...(registration && { assigned: registration.servers }),
        timeoutMs: opts.timeoutMs,
        alsoDirect: opts.direct,
      });
      process.stdout.write(opts.json ? `${JSON.stringify({ config: loaded.path, ...report }, null, 2)}\n` : formatReport(report));
      process.exitCode = report.ok ? 0 : 1;
    });
}
