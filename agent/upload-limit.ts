// The upload bandwidth limit (`backup.uploadLimitKiBps` in agent.json / fleet / policy, `backup --limit-upload`):
// a token bucket over the bytes the agent uploads. Tokens refill at the limit and hold at most one second's worth;
// an upload takes its bytes up front and, when that leaves the bucket in debt, waits until the debt is paid, so
// over any stretch the average stays at the limit while single uploads go out whole.
import { abortableDelay } from '../common/cancel.js';

export class UploadLimit {
  private tokens: number;
  private last = performance.now();
  readonly bytesPerSecond: number;

  constructor(kibPerSecond: number) {
    if (!Number.isFinite(kibPerSecond) || kibPerSecond <= 0) throw new Error(`upload limit ${kibPerSecond} KiB/s: expected a positive number`);
    this.bytesPerSecond = kibPerSecond * 1024;
    this.tokens = this.burst;
  }

  /** Most bytes the bucket holds: one second's worth. */
  get burst(): number {
    return this.bytesPerSecond;
  }

  /** Largest upload batch worth sending at once under this limit (smaller batches keep the pace even). */
  get batchBytes(): number {
    return Math.max(64 * 1024, this.burst);
  }

  /** Resolves when `bytes` may go out. */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
    this.last = now;
    this.tokens -= bytes;
    if (this.tokens >= 0) return;
    const waitMs = (-this.tokens / this.bytesPerSecond) * 1000;
    await abortableDelay(waitMs, signal);
  }
}

/** The --limit-upload value: a whole number of KiB/s from 1; 0 or "off" is no limit (0), also over the config's. */
export function parseUploadLimit(value: string, field = '--limit-upload'): number {
  const v = value.trim().toLowerCase();
  if (v === '0' || v === 'off') return 0;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n > UPLOAD_LIMIT_MAX_KIBPS)
    throw new Error(
      `${field} ${JSON.stringify(value)} is not allowed: expected a whole number of KiB/s from 1 to ${UPLOAD_LIMIT_MAX_KIBPS}, or 0 for no limit`,
    );
  return n;
}

/** 10 GiB/s: beyond any link; the schema's maximum. */
export const UPLOAD_LIMIT_MAX_KIBPS = 10_485_760;
