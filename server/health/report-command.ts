// holdfast-server report: fleet health from the reports agents send after each backup attempt.
import { Command, Option } from 'commander';
import { resolve } from 'node:path';
import { DEFAULT_STALE, fleetReport, formatReportCsv, formatReportText, parseDuration } from './fleet-report.js';

export function reportCommand(): Command {
  return new Command('report')
    .description('list devices with last success, storage and failures; devices without a success within --stale are flagged STALE')
    .requiredOption('--data <dir>', 'data folder of the server')
    .option('--fleet <fleet>', 'only this fleet: its fleet id (fleet-…, as the report shows it) or the fleet name the agents report')
    .option('--stale <duration>', 'flag devices without a successful backup for this long (s, m, h, d, w)', DEFAULT_STALE)
    .option('--now <iso>', 'judge staleness as of this time instead of now (ISO 8601)')
    .addOption(new Option('--json', 'print JSON').conflicts('csv'))
    .option('--csv', 'print CSV (one row per device, header first)')
    .action(async (o: { data: string; fleet?: string; stale: string; now?: string; json?: boolean; csv?: boolean }) => {
      const staleMs = parseDuration(o.stale);
      const now = o.now === undefined ? new Date() : new Date(o.now);
      if (Number.isNaN(now.getTime())) throw new Error(`--now ${JSON.stringify(o.now)} is not allowed: expected an ISO 8601 date`);
      const rows = await fleetReport(resolve(o.data), { now, staleMs, fleet: o.fleet });
      if (o.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      else if (o.csv) process.stdout.write(formatReportCsv(rows));
      else process.stdout.write(formatReportText(rows, now));
    });
}
