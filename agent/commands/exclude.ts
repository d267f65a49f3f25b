import { Command } from 'commander';
import { resolveBackupSet } from '../backup-set.js';
import { loadAgentConfig } from '../config.js';
import { expandProfiles } from '../profiles.js';
import { addExclusion, describeViolation, readExclusions, removeExclusion } from '../engine/guard.js';

export function excludeCommand(): Command {
  const cmd = new Command('exclude').description(
    'deselect files from backup (glob patterns, e.g. "**/*.iso", "~/Downloads"); paths a restore needs are refused unless --force',
  );
  cmd
    .command('add <pattern>')
    .description('exclude a pattern from future backups')
    .option('--config <file>', 'agent config')
    .option('--force', 'exclude even files a restore (Heal) needs')
    .action(async (pattern: string, o: { config?: string; force?: boolean }) => {
      const loaded = await loadAgentConfig(o.config);
      const set = await resolveBackupSet(loaded);
      const expand = (p: string) => expandProfiles([p], set.profiles?.profiles ?? []);
      const added = addExclusion(loaded.stateDir, set.protectedPaths, pattern, o.force, expand);
      for (const v of added.violations) process.stderr.write(`warning (forced):\n${describeViolation(v)}\n`);
      process.stdout.write(`Excluded ${added.pattern}\n`);
    });
  cmd
    .command('remove <pattern>')
    .description('back up a previously excluded pattern again')
    .option('--config <file>', 'agent config')
    .action(async (pattern: string, o: { config?: string }) => {
      const loaded = await loadAgentConfig(o.config);
      if (!removeExclusion(loaded.stateDir, pattern)) throw new Error(`"${pattern}" is not among your exclusions (see "holdfast-agent exclude list")`);
      process.stdout.write(`No longer excluded: ${pattern}\n`);
    });
  cmd
    .command('list')
    .description('show exclusions: from the admin config and your own')
    .option('--config <file>', 'agent config')
    .option('--json', 'print JSON')
    .action(async (o: { config?: string; json?: boolean }) => {
      const loaded = await loadAgentConfig(o.config);
      const user = readExclusions(loaded.stateDir);
      const data = { config: loaded.config.backup.exclude, user: user.patterns, forced: user.forced, protectedPaths: loaded.config.backup.protectedPaths };
      if (o.json) return void process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
      process.stdout.write(`From the admin config:\n${data.config.map((p) => `  ${p}\n`).join('') || '  (none)\n'}`);
      process.stdout.write(`Yours:\n${data.user.map((p) => `  ${p}${user.forced.includes(p) ? '  (forced)' : ''}\n`).join('') || '  (none)\n'}`);
      process.stdout.write(
        `Protected (cannot be excluded):\n  ${loaded.stateDir} (agent identity and key)\n${data.protectedPaths.map((p) => `  ${p}\n`).join('')}`,
      );
    });
  return cmd;
}
