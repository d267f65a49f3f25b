// PUT bodies streamed to disk as they arrive (issue 19): the server never holds a whole PUT in memory.
//
// The frame decoder offers every large frame to a sink once its header is in (protocol/frame.ts bodySink). A PUT
// from an authenticated device gets a PutBodyStream: a region at the end of one of the device's pack files
// (DeviceStore.reserve) that the body is written into, piece by piece, at its place. When the frame is complete
// the session commits the chunks like any PUT (pack fsynced, then the index lines); until then nothing points at
// the region, so a torn PUT leaves nothing indexed.
//
// Memory: bytes copied out of the socket and not yet on disk are counted in one process-wide counter. A stream
// asks the connection to stop reading while it holds a window's worth (WINDOW) or while all streams together hold
// the budget (putBodyMemory.budget); a piece waiting for more bytes is written at once when the stream is told to
// stop, so every counted byte is on its way to disk and the waiting connections are woken as they drain. Bytes that
// still arrive after a pause (one socket read) are copied into a piece of their own size: all streams together
// hold at most the budget plus one socket read (64 KiB and a TLS record begun before it) per connection.
import type { BodySink, FrameHead } from '../protocol/frame.js';
import { CHUNK_ID_RE } from '../protocol/messages.js';
import type { DeviceStore, PackRegion } from './storage/device-store.js';

/** Bytes written to disk in one call (a piece filled from several socket reads). */
const PIECE = 256 * 1024;
/** Bytes one stream may hold before its connection stops reading. */
const WINDOW = 2 * PIECE;

/**
 * Process-wide: bytes of PUT bodies held in memory now, the most held at once (a deterministic bound to test), and
 * the budget: what all streams together may hold before every streaming connection stops reading.
 */
export const putBodyMemory = { held: 0, peak: 0, budget: 16 * 1024 * 1024 };

const spare: Buffer[] = [];
const stopped = new Set<PutBodyStream>();
/** Streams whose body is still arriving. */
const receiving = new Set<PutBodyStream>();

function hold(bytes: number): void {
  const before = putBodyMemory.held;
  putBodyMemory.held += bytes;
  if (putBodyMemory.held > putBodyMemory.peak) putBodyMemory.peak = putBodyMemory.held;
  // The budget just filled: every connection still receiving a body is stopped now, not after its next read (2,000
  // connections each delivering one more read held ~80 MiB past a 16 MiB budget).
  if (before < putBodyMemory.budget && putBodyMemory.held >= putBodyMemory.budget) for (const s of receiving) if (!stopped.has(s)) s.onDrain?.();
}

function letGo(piece: Buffer): void {
  putBodyMemory.held -= piece.length;
  // Every whole piece is kept for reuse, up to the budget's worth: dropped ones waited for a GC as external memory
  // (2,000 agents: ~120 MiB of written pieces not yet collected).
  if (piece.length === PIECE && (spare.length + 1) * PIECE <= putBodyMemory.budget) spare.push(piece);
  // Woken in the order they stopped, only as many as the room left can take a piece each: waking all 2,000 stopped
  // connections at once let each deliver a socket read past the budget (measured: server RSS +100 MiB).
  let room = putBodyMemory.budget - putBodyMemory.held;
  for (const s of stopped) {
    if (room < PIECE) break;
    if (s.wake()) room -= PIECE;
  }
}

export class PutBodyStream implements BodySink {
  /** Called when the connection should look again whether to read: the stream wants bytes again, or must stop. */
  onDrain: (() => void) | undefined;
  private piece: Buffer | undefined;
  private fill = 0;
  /** Where the next piece goes in the region. */
  private at = 0;
  /** Bytes this stream holds: pieces filling or being written. */
  private held = 0;
  private writing = 0;
  private idle: (() => void) | undefined;
  private failure: Error | undefined;
  private aborted = false;
  private region: PackRegion | undefined;
  private readonly regionReady: Promise<void>;

  constructor(
    store: DeviceStore,
    readonly ids: string[],
    readonly sizes: number[],
    readonly bodyBytes: number,
  ) {
    this.regionReady = store.reserve(bodyBytes).then(
      (r) => {
        if (this.aborted) r.release();
        else this.region = r;
      },
      (err: Error) => {
        this.failure ??= err;
      },
    );
  }

  private get full(): boolean {
    return this.held >= WINDOW || putBodyMemory.held >= putBodyMemory.budget;
  }

  /**
   * Asked by the connection before it reads on. When full, what waits in the piece goes to disk at once (so every
   * held byte drains) and the stream is woken (onDrain) once there is room again.
   */
  get blocked(): boolean {
    if (!this.full || this.aborted) return false;
    this.flushPiece();
    stopped.add(this);
    return true;
  }

  write(data: Buffer): void {
    if (this.aborted || this.failure) return;
    if (this.at + this.fill + data.length < this.bodyBytes) receiving.add(this);
    else receiving.delete(this);
    let off = 0;
    while (off < data.length) {
      if (!this.piece) {
        // No room for a whole piece (bytes that came after the connection was stopped): a piece of just their size.
        const size = putBodyMemory.held + PIECE > putBodyMemory.budget ? data.length - off : PIECE;
        this.piece = (size === PIECE && spare.pop()) || Buffer.allocUnsafeSlow(size);
        hold(this.piece.length);
        this.held += this.piece.length;
        this.fill = 0;
      }
      const n = Math.min(this.piece.length - this.fill, data.length - off);
      data.copy(this.piece, this.fill, off, off + n);
      this.fill += n;
      off += n;
      if (this.fill === this.piece.length) this.flushPiece();
    }
    void this.blocked;
  }

  /** Called as memory drains: a stopped stream with room again restarts its connection (true). */
  wake(): boolean {
    if (this.full) return false;
    stopped.delete(this);
    this.onDrain?.();
    return true;
  }

  /** Writes the piece being filled (its bytes so far) at its place in the region. */
  private flushPiece(): void {
    const piece = this.piece;
    if (!piece || this.fill === 0) return;
    const bytes = piece.subarray(0, this.fill);
    const at = this.at;
    this.at += this.fill;
    this.piece = undefined;
    this.fill = 0;
    this.writing++;
    void this.regionReady
      .then(() => (this.region && !this.aborted ? this.region.write(bytes, at) : undefined))
      .catch((err: Error) => {
        this.failure ??= err;
      })
      .finally(() => {
        this.held -= piece.length;
        letGo(piece);
        if (--this.writing === 0) this.idle?.();
        if (!this.full && stopped.delete(this)) this.onDrain?.();
      });
  }

  /** The whole body arrived: waits until it is on disk and returns the region to commit (the caller releases it). */
  async finish(): Promise<PackRegion> {
    this.flushPiece();
    await this.regionReady;
    if (this.writing > 0) await new Promise<void>((r) => (this.idle = r));
    if (this.failure || this.aborted) {
      this.abort();
      throw this.failure ?? new Error('the connection ended before the body was stored');
    }
    if (this.at !== this.bodyBytes || !this.region) throw new Error(`streamed body has ${this.at} of ${this.bodyBytes} bytes`);
    return this.region;
  }

  /** The connection ended before the body was committed: nothing more is written, the region is given up. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    stopped.delete(this);
    receiving.delete(this);
    if (this.piece) {
      this.held -= this.piece.length;
      letGo(this.piece);
      this.piece = undefined;
    }
    this.region?.release();
  }
}

/**
 * A connection's streams: offers one for a large PUT whose header is valid (anything else is assembled and
 * answered as before), and gives up those not committed when the connection ends.
 */
export class PutStreams {
  private readonly open = new Set<PutBodyStream>();

  constructor(private readonly onDrain: () => void) {}

  offer(store: DeviceStore | undefined, head: FrameHead, putType: number): PutBodyStream | undefined {
    if (!store || head.type !== putType) return undefined;
    const { ids, sizes } = head.header;
    if (!Array.isArray(ids) || !Array.isArray(sizes) || ids.length !== sizes.length) return undefined;
    let sum = 0;
    for (let i = 0; i < ids.length; i++) {
      const size = sizes[i];
      if (typeof ids[i] !== 'string' || !CHUNK_ID_RE.test(ids[i]) || !Number.isInteger(size) || size < 0) return undefined;
      sum += size;
    }
    if (sum !== head.bodyBytes) return undefined;
    const stream = new PutBodyStream(store, ids as string[], sizes as number[], head.bodyBytes);
    stream.onDrain = this.onDrain;
    this.open.add(stream);
    return stream;
  }

  /** Writes the rest of a complete streamed body and commits its chunks; the region is released either way. */
  async commit(store: DeviceStore, stream: PutBodyStream): Promise<{ stored: number; duplicates: number }> {
    // Whole and on its way to disk: finished and committed even if the connection ends meanwhile.
    this.open.delete(stream);
    const region = await stream.finish();
    try {
      return await store.put(stream.ids, { region, sizes: stream.sizes });
    } finally {
      region.release();
    }
  }

  abortAll(): void {
    for (const s of this.open) s.abort();
    this.open.clear();
  }
}
