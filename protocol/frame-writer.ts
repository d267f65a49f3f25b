// Writes frames to a socket one at a time, each as few buffers as possible, one socket write each.
//
// A frame is many pieces (header, JSON, one buffer per chunk). Written corked, or queued behind a write in
// progress, they reach Node's TLS socket as one writev, and its C++ side joins them into a freshly allocated
// buffer before encrypting (a copy of every byte sent). Here frames wait in our own queue and the socket is
// given one buffer at a time, the next once the last one's write callback ran, so it never joins anything:
// a GET reply built in one buffer (server/session.ts) is encrypted straight from that buffer, and the
// caller learns when the bytes are no longer needed. The bytes on the wire are the same.
import type { Writable } from 'node:stream';

interface Queued {
  parts: Buffer[];
  written?: () => void;
}

export class FrameWriter {
  private readonly queue: Queued[] = [];
  private writing = false;
  private ending = false;
  private started = 0;

  constructor(private readonly socket: Writable) {}

  /**
   * Queues one frame (encodeFrame's pieces). `written` runs once the socket has taken all of it (its write
   * callback ran), or failed.
   */
  write(parts: Buffer[], written?: () => void): void {
    if (this.ending) return;
    this.queue.push({ parts, written });
    if (!this.writing) this.next();
  }

  /** When the frame being written started (performance.now()), or undefined when none is. */
  get writingSince(): number | undefined {
    return this.writing ? this.started : undefined;
  }

  /** Ends the socket after the queued frames. */
  end(): void {
    this.ending = true;
    if (!this.writing) this.socket.end();
  }

  private next(): void {
    const item = this.queue.shift();
    if (!item) {
      this.writing = false;
      if (this.ending) this.socket.end();
      return;
    }
    this.writing = true;
    this.started = performance.now();
    const segments = segmentsOf(item.parts);
    let i = 0;
    const step = () => {
      if (i === segments.length) {
        item.written?.();
        this.next();
        return;
      }
      this.socket.write(segments[i++], step);
    };
    step();
  }
}

/**
 * The frame's pieces as few buffers as possible without copying big ones: pieces that lie back to back in
 * one ArrayBuffer become one view, and runs of small pieces are joined (a small copy).
 */
function segmentsOf(parts: Buffer[]): Buffer[] {
  const merged: Buffer[] = [];
  for (const p of parts) {
    if (p.length === 0) continue;
    const last = merged[merged.length - 1];
    if (last && last.buffer === p.buffer && last.byteOffset + last.length === p.byteOffset) {
      merged[merged.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + p.length);
    } else merged.push(p);
  }
  const out: Buffer[] = [];
  let small: Buffer[] = [];
  let smallBytes = 0;
  const flush = () => {
    if (small.length) out.push(small.length === 1 ? small[0] : Buffer.concat(small, smallBytes));
    small = [];
    smallBytes = 0;
  };
  for (const m of merged) {
    if (m.length >= SMALL) {
      flush();
      out.push(m);
    } else {
      small.push(m);
      smallBytes += m.length;
      if (smallBytes >= SMALL) flush();
    }
  }
  flush();
  return out;
}

/** Frames below this are joined with Buffer.concat (pooled small memory) instead of a spare buffer. */
const SMALL = 8 * 1024;
