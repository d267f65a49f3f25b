import { Command } from 'commander';
import { loadAgentConfig } from '../config.js';
import { openLocalStore, runBackup } from '../engine/agent-api.js';
import { backupProgressPrinter } from '../engine/cli-output.js';
import { EXIT_SKIPPED, outcomeOf, skippedLines } from '../engine/skipped.js';
import { formatBytes } from '../../common/format.js';
import { parseUploadLimit } from '../upload-limit.js';

export function backupCommand(): Command {
  return new Command('backup')
    .description('back up now ("Backup Now"): only changed files are read, only new chunks are sent')
    .option('--config <file>', 'agent config (default: HOLDFAST_CONFIG, agent.json beside the agent, platform default)')
    .option('--force', 'let exclusions drop paths a restore needs (without it, protected paths are backed up with a warning)')
    .option('--store <dir>', 'use a local store folder instead of the backup servers (testing, offline copies)')
    .option('--threads <n>', 'chunking threads (default: one per core)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 16) throw new Error(`--threads ${v}: a whole number from 1 to 16`);
      return n;
    })
    .option('--limit-upload <KiB/s>', 'upload at most this many KiB per second (0: no limit; default: backup.uploadLimitKiBps of the config)', (v) =>
      parseUploadLimit(v),
    )
    .option('--json', 'print the result as JSON')
    .option('--quiet', 'no progress output')
    .action(async (o: { config?: string; force?: boolean; store?: string; threads?: number; json?: boolean; quiet?: boolean; limitUpload?: number }) => {
      const loaded = await loadAgentConfig(o.config);
      const result = await runBackup(loaded, {
        force: o.force,
        threads: o.threads,
        uploadLimitKiBps: o.limitUpload,
        store: o.store ? openLocalStore(o.store) : undefined,
        log: o.quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
        onProgress: backupProgressPrinter(o.quiet || o.json),
        onWarning: (w) => process.stderr.write(`warning: ${w}\n`),
      });
      const outcome = outcomeOf(result);
      if (result.skipped.length > 0) process.exitCode = EXIT_SKIPPED;
      if (o.json) {
        process.stdout.write(`${JSON.stringify({ outcome, ...result }, null, 2)}\n`);
        return;
      }
      process.stdout.write(
        `${outcome === 'completed' ? 'Backup complete' : 'Backup completed with warnings'}: snapshot ${result.snapshotId}\n` +
          `  ${result.files} files, ${result.dirs} folders, ${formatBytes(result.bytes)}\n` +
          `  ${result.filesRead} files read, ${result.filesCached} unchanged (not read)\n` +
          `  ${result.chunksUploaded} new chunks, ${formatBytes(result.bytesUploaded)} uploaded in ${(result.durationMs / 1000).toFixed(1)} s\n` +
          (result.changedDuringBackup.length
            ? `  ${result.changedDuringBackup.length} file(s) changed during backup, stored as last read (see warnings above)\n`
            : '') +
          skippedLines(result.skipped, '    ')
            .map((l) => `  ${l}\n`)
            .join(''),
      );
    });
}
