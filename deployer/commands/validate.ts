// holdfast-deploy validate <fleet...>: checks fleet files against the schema; exit 1 when any is bad.
import { Command } from 'commander';
import { validateFleets } from '../generate.js';

export function validateCommand(): Command {
  return new Command('validate')
    .description('check fleet files (or folders of *.fleet.json) against the fleet schema')
    .argument('<fleet...>', 'fleet files or folders holding *.fleet.json')
    .option('--json', 'print the result as JSON (issues name JSON path, masked value and what is allowed)')
    .action(async (args: string[], opts: { json?: boolean }) => {
      const results = await validateFleets(args);
      if (opts.json) {
        const out = results.map((r) => ({
          file: r.file,
          ok: !r.error,
          fleet: r.loaded?.fleet.fleet,
          issues: r.error?.issues ?? [],
          warnings: r.loaded?.warnings ?? [],
        }));
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      } else {
        for (const r of results) {
          if (r.error) process.stdout.write(`${r.error.message}\n`);
          else {
            process.stdout.write(`${r.file}: ok (fleet ${r.loaded!.fleet.fleet}, version ${r.loaded!.fleet.version})\n`);
            for (const w of r.loaded!.warnings ?? []) process.stdout.write(`${r.file}: warning: ${w.message}\n`);
          }
        }
      }
      const bad = results.filter((r) => r.error).length;
      const warned = results.reduce((n, r) => n + (r.loaded?.warnings?.length ?? 0), 0);
      if (!opts.json) process.stdout.write(`${results.length - bad} valid, ${bad} invalid${warned ? `, ${warned} warning${warned === 1 ? '' : 's'}` : ''}\n`);
      if (bad) process.exitCode = 1;
    });
}
