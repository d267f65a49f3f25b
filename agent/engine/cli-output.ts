// Progress and size formatting for the engine's commands (stderr, so stdout stays parseable).
import type { BackupProgress } from './backup.js';
import type { RestoreProgress } from './restore.js';

import { formatBytes } from '../../common/format.js';
import { showName } from './names.js';
import type { XattrSkip } from './xattrs.js';

function writer(quiet: boolean): (line: string, final?: boolean) => void {
  const tty = process.stderr.isTTY;
  let last = 0;
  return (line, final = false) => {
    if (quiet) return;
    const now = Date.now();
    if (tty) process.stderr.write(`\r\x1b[K${line}${final ? '\n' : ''}`);
    else if (final || now - last >= 2000) {
      process.stderr.write(`${line}\n`);
      last = now;
    }
  };
}

export function backupProgressPrinter(quiet = false): (p: BackupProgress) => void {
  const write = writer(quiet);
  return (p) => {
    if (p.phase === 'scan') return write('Scanning...');
    const pct = p.bytesTotal > 0 ? Math.floor((p.bytesDone / p.bytesTotal) * 100) : 100;
    write(
      `Backing up: ${p.filesDone}/${p.filesTotal} files, ${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)} (${pct}%), ` +
        `${formatBytes(p.bytesUploaded)} uploaded`,
      p.phase === 'done',
    );
  };
}

export function restoreProgressPrinter(quiet = false): (p: RestoreProgress) => void {
  const write = writer(quiet);
  return (p) => {
    const pct = p.bytesTotal > 0 ? Math.floor((p.bytesDone / p.bytesTotal) * 100) : 100;
    write(`Restoring: ${p.filesDone}/${p.filesTotal} files, ${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)} (${pct}%)`, p.filesDone === p.filesTotal);
  };
}

/** Warning lines for extended attributes a restore did not set (names escaped like every name shown). */
export function xattrSkipLines(skipped: XattrSkip[]): string[] {
  return skipped.map((s) => `warning: ${showName(s.path)}: extended attributes ${s.names.map(showName).join(', ') || '(all)'} not restored: ${s.reason}`);
}
