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
}

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

/**
 * Incremental decoder: push socket data, get whole frames. Keeps received pieces in a list and only
 * concatenates once a frame is complete, so large bodies are copied once.
 */
export class FrameDecoder {
  private pieces: Buffer[] = [];
  private buffered = 0;

  push(data: Buffer): Frame[] {
    this.pieces.push(data);
    this.buffered += data.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.buffered < FRAME_PREFIX) break;
      const need = this.peekLength();
      if (need < FIXED || need + FRAME_PREFIX > MAX_FRAME_BYTES) {
        throw new ProtocolError(`bad frame length ${need} (allowed ${FIXED}..${MAX_FRAME_BYTES - FRAME_PREFIX})`);
      }
      if (this.buffered < FRAME_PREFIX + need) break;
      const raw = this.take(FRAME_PREFIX + need);
      frames.push(parseFrame(raw));
    }
    return frames;
  }

  private peekLength(): number {
    const first = this.pieces[0];
    if (first.length >= 4) return first.readUInt32BE(0);
    const joined = Buffer.concat(this.pieces);
    this.pieces = [joined];
    return joined.readUInt32BE(0);
  }

  private take(n: number): Buffer {
    const first = this.pieces[0];
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.pieces.shift();
      else this.pieces[0] = first.subarray(n);
    } else {
      const joined = Buffer.concat(this.pieces);
      out = joined.subarray(0, n);
      this.pieces = joined.length > n ? [joined.subarray(n)] : [];
    }
    this.buffered -= n;
    return out;
  }
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
  return { version, type, requestId, header: header as Record<string, unknown>, body: raw.subarray(start + headerLen) };
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
