// One large file on every core (issue 19): one worker finds its chunk boundaries in a single pass (a scan job) and
// reports them as it goes; the chunks are read again and sealed by all workers (range jobs) meanwhile. The
// boundaries are those of the one-pass chunker (chunk-thread.ts scanCut), so the file's chunk ids are the same as
// when one worker reads it whole, and deduplication against earlier backups holds.
import { CHUNK_MAX } from './keys.js';
import type { RangeJob, ReadStat, ScanBounds, Version } from './chunk-worker.js';
import { fsPath } from './names.js';
import type { WalkEntry } from './walker.js';

/** Files from this size on are split across the workers when there are several. */
export const LARGE_FILE_BYTES = 32 * 1024 * 1024;
/** A range job's chunks add up to at most this (a worker's read buffer holds CHUNK_MAX and a block more). */
const RANGE_BYTES = CHUNK_MAX;

/** How a large file ended: its chunk ids in order, or an error, or `again` (changed: chunk it as a whole). */
export type LargeFileOutcome = { ids: string[]; bytesRead: number; stat: ReadStat } | { error: string } | { again: true };

export class LargeFile {
  private readonly version: Version;
  /** Chunk ids of each range, by range index. */
  private readonly parts: string[][] = [];
  private rangesSent = 0;
  private rangesDone = 0;
  /** Lengths found and not yet in a range. */
  private lengths: number[] = [];
  private lengthsBytes = 0;
  private offset = 0;
  private scanned: ScanBounds['done'] | undefined;
  private changed = false;
  private settled = false;

  /** `known`: the key of the KnownIds the workers hold for this file's last stored version. */
  constructor(
    readonly entry: WalkEntry,
    readonly known?: number,
  ) {
    this.version = [entry.size, entry.mtimeMs, entry.ctimeMs, entry.ino];
  }

  /** Takes a scan message; returns the range jobs it completes (job numbers are filled in by the caller). */
  onBounds(m: ScanBounds): Array<Omit<RangeJob, 'job'> & { index: number }> {
    const out: Array<Omit<RangeJob, 'job'> & { index: number }> = [];
    const cut = (): void => {
      if (this.lengths.length === 0) return;
      out.push({
        type: 'range',
        path: fsPath(this.entry.source),
        offset: this.offset,
        lengths: this.lengths,
        version: this.version,
        index: this.rangesSent++,
        ...(this.known !== undefined && { known: this.known }),
      });
      this.offset += this.lengthsBytes;
      this.lengths = [];
      this.lengthsBytes = 0;
    };
    for (const n of m.lengths) {
      if (this.lengthsBytes + n > RANGE_BYTES) cut();
      this.lengths.push(n);
      this.lengthsBytes += n;
    }
    if (m.done) {
      cut();
      this.scanned = m.done;
      if (m.done[3]) this.changed = true;
    }
    return out;
  }

  /** A range job's results: its chunk ids, and whether it read the version the scan did. */
  onRange(index: number, ids: string[], ok: boolean): void {
    this.parts[index] = ids;
    this.rangesDone++;
    if (!ok) this.changed = true;
  }

  /** Once the scan and every range are done: how the file ended (once; undefined before and after). */
  outcome(): LargeFileOutcome | undefined {
    const s = this.scanned;
    if (!s || this.rangesDone < this.rangesSent || this.settled) return undefined;
    this.settled = true;
    if (s[1] !== null) return { error: s[1] };
    if (this.changed || !s[2]) return { again: true };
    return { ids: this.parts.flat(), bytesRead: s[0], stat: s[2] };
  }
}
