// Modification times. Snapshots store exact whole microseconds (a bigint stat's nanoseconds, rounded down). The walk
// itself uses Node's plain stat, whose double mtimeMs is what the change cache compares (bigint stats made the walk of
// 20,000 entries 15-30 ms slower); only entries that go into a snapshot as new need their exact time: from the cache,
// the chunk worker's fstat of a file it reads, or a stat of their own.
import { lstatSync } from 'node:fs';

const NS_PER_S = 1_000_000_000n;

/** Whole microseconds of a nanosecond time (rounded down, also before 1970). */
export function microseconds(ns: bigint): number {
  const us = ns / 1000n;
  return Number(us * 1000n > ns ? us - 1n : us);
}

/** The double Node's plain stat gives for a time (mtimeMs, ctimeMs): seconds × 1e3 + nanoseconds / 1e6. */
export function statMs(ns: bigint): number {
  let sec = ns / NS_PER_S;
  let nsec = ns - sec * NS_PER_S;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += NS_PER_S;
  }
  return Number(sec) * 1e3 + Number(nsec) / 1e6;
}

/** The exact mtime (µs) of what is at `path` now; `fallbackMs` (a plain stat's mtimeMs) when it is gone. */
export function exactMtime(path: string | Buffer, fallbackMs: number): number {
  const st = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  return st ? microseconds(st.mtimeNs) : Math.floor(fallbackMs * 1000);
}

/**
 * What to hand utimes for a snapshot mtime (whole µs). Node takes seconds as a double and libuv keeps whole
 * microseconds of it (it drops the rest), so the double aims at the middle of the microsecond: its rounding error
 * (~0.12 µs today) can then never cross into a neighbour. Node turns a negative number into "now": times before
 * 1970 go as a Date (milliseconds).
 */
export function utimeTime(us: number): number | Date {
  const sec = Math.floor(us / 1e6);
  if (sec < 0) return new Date(Math.floor(us / 1000));
  return sec + (us - sec * 1e6 + 0.5) / 1e6;
}
