// Frame layout (all integers big-endian), see docs/design.md:
//   u32 length of the rest | u8 version | u8 type | u32 request id | u32 header length | header JSON | body
import { PROTOCOL_VERSION } from './messages.js';

export const FRAME_PREFIX = 4;
const FIXED = 1 + 1 + 4 + 4;
/** Largest frame either side accepts; chunk batches are split below this. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

export interface Frame {
  version: number;
  type: number;
  requestId: number;
  header: Record<string, unknown>;
  body: Buffer;
  /** Bytes the frame took on the wire, length field included. */
  size: number;
  /** The buffer the decoder assembled this frame in, when it spread over several socket reads (see release()). */
  owned?: Buffer;
  /** The body went to this sink as it arrived (FrameDecoder.bodySink); `body` is then empty. */
  streamed?: BodySink;
}

/** A frame whose header has arrived and whose body is still on its way (see FrameDecoder.bodySink). */
export interface FrameHead {
  version: number;
  type: number;
  requestId: number;
  header: Record<string, unknown>;
  bodyBytes: number;
}

/** Takes a frame's body piece by piece as it arrives, instead of the decoder assembling it in memory. */
export interface BodySink {
  /** `piece` is valid only during the call (the caller may reuse its memory). */
  write(piece: Buffer): void;
  /** True while the sink wants no more bytes for now (the caller stops reading). */
  readonly blocked: boolean;
}

const NO_BODY = Buffer.alloc(0);

/** Frames from this size on are offered to bodySink; smaller ones are assembled as before. */
export const STREAM_MIN_BYTES = 256 * 1024;

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** One frame as a list of buffers (the body is not copied), ready for socket.write / cork. */
export function encodeFrame(type: number, requestId: number, header: object, body?: Uint8Array | Uint8Array[]): Buffer[] {
  const json = Buffer.from(JSON.stringify(header));
  const parts = body === undefined ? [] : Array.isArray(body) ? body : [body];
  let bodyLen = 0;
  for (const p of parts) bodyLen += p.byteLength;
  const rest = FIXED + json.length + bodyLen;
  if (rest + FRAME_PREFIX > MAX_FRAME_BYTES) throw new ProtocolError(`frame of ${rest} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit`);
  const head = Buffer.allocUnsafe(FRAME_PREFIX + FIXED);
  head.writeUInt32BE(rest, 0);
  head.writeUInt8(PROTOCOL_VERSION, 4);
  head.writeUInt8(type, 5);
  head.writeUInt32BE(requestId >>> 0, 6);
  head.writeUInt32BE(json.length, 10);
  return [head, json, ...parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength)))];
}

/** A frame's declared length is over the decoder's limit (maxFrameBytes). */
export class FrameTooLargeError extends ProtocolError {
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`bad frame length ${bytes - FRAME_PREFIX} (allowed ${FIXED}..${limit - FRAME_PREFIX})`);
    this.name = 'FrameTooLargeError';
  }
}

/** Where a frame that grows as its bytes arrive starts (see FrameDecoder.upfrontBytes). */
const GROW_FROM = 64 * 1024;

/**
 * Incremental decoder: push socket data, get whole frames. A frame that arrives whole inside one piece of
 * socket data is parsed in place; a frame spread over several pieces is copied, piece by piece as it
 * arrives, into one buffer, so the socket's pieces are never kept (holding them until a 2 MiB frame
 * completed let them survive into V8's old generation, and the test server spent more time in GC than in
 * TLS). That buffer has the frame's size when the frame is at most `upfrontBytes`; a larger frame's buffer
 * starts at 64 KiB and doubles as its bytes arrive, so a declared length alone allocates nothing big.
 * push() can be told to return at most `max` frames: the bytes of the rest are kept (copied) until a
 * later push (e.g. push(EMPTY, false, n) once the caller has room again).
 */
export class FrameDecoder {
  /** Largest frame accepted, length field included; a larger declared length is a FrameTooLargeError. */
  maxFrameBytes = MAX_FRAME_BYTES;
  /** Frames up to this size get their whole buffer when their length arrives; larger ones grow. */
  upfrontBytes = Number.POSITIVE_INFINITY;
  /**
   * Asked once for each frame of at least STREAM_MIN_BYTES spread over several pushes, as soon as its header is in:
   * a sink returned takes the body as it arrives, and the frame comes out of push() with `streamed` set and an
   * empty body, so the decoder never holds more of it than one push.
   */
  bodySink?: (head: FrameHead) => BodySink | undefined;
  /** The frame being streamed to a sink (need/have count its bytes). */
  private stream: Frame | undefined;
  /** The frame being assembled is larger than STREAM_MIN_BYTES and has not been offered to bodySink yet. */
  private undecided = false;
  /** The frame being assembled grows as its bytes arrive (instead of having its whole buffer at once). */
  private growing = false;
  /** Bytes not yet decoded: fewer than a length field, or frames held back by `max`. */
  private input: Buffer | undefined;
  /** The frame being assembled: `have` of its `need` bytes are in `partial`. */
  private partial: Buffer | undefined;
  private need = 0;
  private have = 0;

  /** Memory this decoder holds for frames not yet returned. */
  get heldBytes(): number {
    return (this.input?.length ?? 0) + (this.partial?.length ?? 0);
  }

  /** The sink of the frame being streamed wants no more bytes for now. */
  get blocked(): boolean {
    return this.stream?.streamed?.blocked === true && this.have < this.need;
  }

  /** Part of a frame is held, waiting for more bytes from the peer. */
  get midFrame(): boolean {
    if (this.partial || this.stream) return this.have < this.need;
    return this.input !== undefined && !this.wholeFrameAt(this.input, 0);
  }

  /** A whole frame is held back (by `max`), waiting for a push that may return it. */
  get holding(): boolean {
    if (this.partial || this.stream) return this.have === this.need;
    return this.input !== undefined && this.wholeFrameAt(this.input, 0);
  }

  /**
   * `reused`: the caller will overwrite `data` after this call (a socket reading into one reused buffer),
   * so frames that lie whole inside it are copied out instead of parsed in place.
   */
  push(data: Buffer, reused = false, max = Number.POSITIVE_INFINITY): Frame[] {
    const frames: Frame[] = [];
    let off = 0;
    if (this.partial || this.stream) {
      if (this.have < this.need) {
        const n = Math.min(this.need - this.have, data.length);
        if (this.stream) this.stream.streamed!.write(data.subarray(0, n));
        else {
          this.fit(this.have + n);
          data.copy(this.partial!, this.have, 0, n);
        }
        this.have += n;
        off = n;
        if (this.partial) this.offerBody(this.partial);
      }
      if (this.have < this.need || max < 1) {
        this.keep(data.subarray(off));
        return frames;
      }
      if (this.stream) {
        frames.push(this.stream);
        this.stream = undefined;
      } else {
        const whole = this.partial!.subarray(0, this.need);
        this.partial = undefined;
        const frame = parseFrame(whole);
        frame.owned = whole;
        frames.push(frame);
      }
      this.need = 0;
      this.have = 0;
    }
    let buf = data;
    // Frames may be parsed in place in memory nobody overwrites: the caller's (not reused) or this decoder's own.
    let own = false;
    if (this.input) {
      buf = off < data.length ? Buffer.concat([this.input, data.subarray(off)]) : this.input;
      this.input = undefined;
      off = 0;
      own = true;
    }
    const inPlace = own || !reused;
    while (off < buf.length) {
      const avail = buf.length - off;
      if (avail < FRAME_PREFIX) break;
      const total = this.frameLength(buf, off);
      if (avail >= total) {
        if (frames.length >= max) break;
        const raw = buf.subarray(off, off + total);
        frames.push(parseFrame(inPlace ? raw : Buffer.from(raw)));
        off += total;
        continue;
      }
      this.need = total;
      this.have = avail;
      this.undecided = this.bodySink !== undefined && total >= STREAM_MIN_BYTES;
      // The header usually arrives with the frame's first bytes: a sink then takes them without a buffer in between.
      if (this.undecided && this.offerBody(buf.subarray(off))) {
        off = buf.length;
        break;
      }
      this.growing = this.undecided || total > this.upfrontBytes;
      this.partial = takeBuffer(this.growing ? Math.min(total, Math.max(GROW_FROM, avail)) : total);
      buf.copy(this.partial, 0, off);
      off = buf.length;
      this.offerBody(this.partial);
    }
    if (own && off < buf.length) this.input = buf.subarray(off);
    else this.keep(buf.subarray(off));
    return frames;
  }

  /**
   * The caller is done with this frame's body (and every view of it): its assembly buffer may be reused.
   * Optional; a frame never released is simply garbage-collected.
   */
  release(frame: Frame): void {
    const buf = frame.owned;
    frame.owned = undefined;
    if (buf) recycle(buf);
  }

  /**
   * Once the header of a frame offered to bodySink is in `bytes` (the frame's first `have` bytes): a sink taken gets
   * the body so far, and the rest as it comes (true).
   */
  private offerBody(bytes: Buffer): boolean {
    if (!this.undecided || this.have < FRAME_PREFIX + FIXED) return false;
    const headEnd = FRAME_PREFIX + FIXED + bytes.readUInt32BE(10);
    if (this.have < headEnd && headEnd <= this.need) return false;
    this.undecided = false;
    if (headEnd > this.need) return false; // malformed: parseFrame says so once the frame is whole
    let head: Frame;
    try {
      head = parseFrame(bytes.subarray(0, headEnd));
    } catch {
      return false; // the same error comes from parseFrame once the frame is whole
    }
    const sink = this.bodySink!({ version: head.version, type: head.type, requestId: head.requestId, header: head.header, bodyBytes: this.need - headEnd });
    if (!sink) return false;
    sink.write(bytes.subarray(headEnd, this.have));
    if (this.partial) recycle(this.partial);
    this.partial = undefined;
    this.stream = { ...head, body: NO_BODY, size: this.need, streamed: sink };
    return true;
  }

  private frameLength(buf: Buffer, off: number): number {
    const len = buf.readUInt32BE(off);
    if (len < FIXED) throw new ProtocolError(`bad frame length ${len} (allowed ${FIXED}..${this.maxFrameBytes - FRAME_PREFIX})`);
    if (len + FRAME_PREFIX > this.maxFrameBytes) throw new FrameTooLargeError(len + FRAME_PREFIX, this.maxFrameBytes);
    return FRAME_PREFIX + len;
  }

  private wholeFrameAt(buf: Buffer, off: number): boolean {
    return buf.length - off >= FRAME_PREFIX && buf.length - off >= FRAME_PREFIX + buf.readUInt32BE(off);
  }

  /** Keeps undecoded bytes (a copy: the caller may reuse its buffer); appended to what is already kept. */
  private keep(rest: Buffer): void {
    if (rest.length === 0) return;
    this.input = this.input ? Buffer.concat([this.input, rest]) : Buffer.from(rest);
  }

  /** Grows the frame being assembled so that `bytes` fit: doubling, capped at the frame's size. */
  private fit(bytes: number): void {
    const old = this.partial!;
    if (bytes <= old.length) return;
    const grown = takeBuffer(this.growing ? Math.min(this.need, Math.max(bytes, old.length * 2)) : this.need);
    old.copy(grown, 0, 0, this.have);
    recycle(old);
    this.partial = grown;
  }
}

/**
 * Buffers given back (release(), recycle()) and reused for later frames, received or sent, on any connection
 * (fresh pages cost a page fault each). Only buffers of at least SPARE_MIN are kept, at most SPARE_MAX of them
 * and SPARE_BYTES in all in the process, so a server with 500 connections holds no more than a few of them,
 * and a restore's GET replies (~4 MiB each, up to 32 MiB) do not stay behind as hundreds of MiB.
 */
const SPARE_MIN = 1024 * 1024;
const SPARE_MAX = 8;
const SPARE_BYTES = 64 * 1024 * 1024;
const spare: Buffer[] = [];
let spareBytes = 0;

/** A buffer of `total` bytes (contents undefined): a spare one when one fits, else new memory. */
export function takeBuffer(total: number): Buffer {
  if (total >= SPARE_MIN) {
    const i = spare.findIndex((b) => b.length >= total);
    if (i >= 0) {
      const [buf] = spare.splice(i, 1);
      spareBytes -= buf.length;
      return buf.subarray(0, total);
    }
    // Rounded up so one buffer fits the next frames of about the same size.
    return Buffer.allocUnsafeSlow(Math.ceil(total / SPARE_MIN) * SPARE_MIN).subarray(0, total);
  }
  return Buffer.allocUnsafeSlow(total);
}

/** Gives back a buffer from takeBuffer(): nothing may use it (or any view of it) any more. */
export function recycle(buf: Buffer): void {
  const size = buf.buffer.byteLength;
  if (size < SPARE_MIN || spare.length >= SPARE_MAX || spareBytes + size > SPARE_BYTES) return;
  if (spare.some((b) => b.buffer === buf.buffer)) return;
  spare.push(Buffer.from(buf.buffer));
  spareBytes += size;
}

function parseFrame(raw: Buffer): Frame {
  const version = raw.readUInt8(4);
  const type = raw.readUInt8(5);
  const requestId = raw.readUInt32BE(6);
  const headerLen = raw.readUInt32BE(10);
  const start = FRAME_PREFIX + FIXED;
  if (start + headerLen > raw.length) throw new ProtocolError(`header length ${headerLen} runs past the frame end`);
  let header: unknown;
  try {
    header = headerLen === 0 ? {} : JSON.parse(raw.toString('utf8', start, start + headerLen));
  } catch {
    throw new ProtocolError('frame header is not valid JSON');
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new ProtocolError('frame header must be a JSON object');
  return { version, type, requestId, header: header as Record<string, unknown>, body: raw.subarray(start + headerLen), size: raw.length };
}

/** Split a body into pieces of the given sizes; throws when they do not add up. */
export function splitBody(body: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const size of sizes) {
    if (!Number.isInteger(size) || size < 0 || at + size > body.length) throw new ProtocolError('body sizes do not match the body');
    out.push(body.subarray(at, at + size));
    at += size;
  }
  if (at !== body.length) throw new ProtocolError('body sizes do not match the body');
  return out;
}
