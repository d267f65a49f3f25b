// Reading a TLS socket into one reused buffer instead of a new Buffer per read (Node's `onread` option).
//
// A TLS socket hands JS a freshly allocated Buffer for every ~16 KiB it decrypts; receiving a restore's
// ~1 GB that way costs measurably more CPU (allocation, page faults, GC of external memory) than decrypting
// into one 64 KiB buffer the reader copies out of. Node offers this as `onread: { buffer, callback }`, but
// `tls.connect` ignores the option when it is given `socket:` (Node 20: `onread: !socket ? onread : null` in
// _tls_wrap.js), and the agent always is, since it opens TCP (or a proxy tunnel) itself. So the option is
// installed the way net.Socket's constructor installs it, on the three fields it would have set, found by
// their symbols' descriptions, and on the handle (`useUserBuffer`). When anything of that is not as
// expected (another Node version), nothing is changed and the socket keeps emitting 'data' as usual.
import type { Socket } from 'node:net';

/** Receives each read; the bytes are valid only during the call (the buffer is then overwritten). */
export type ReusedReader = (data: Buffer) => void;

const READ_BUFFER_BYTES = 64 * 1024;
/**
 * One buffer for every socket of the process: a read fills it and its callback runs at once, on this thread, before
 * any other read can (the reader copies out what it keeps). A buffer per socket cost a server with 2,000 agents
 * connected 125 MiB.
 */
let shared: Buffer | undefined;

const readers = new WeakMap<Socket, { set(reader: ReusedReader): void }>();

/**
 * Makes `socket` (a TLS socket just created, not yet reading application data) read into one reused buffer.
 * Until a reader is attached with takeReusedReads(), each read is copied and pushed to the socket's own
 * stream as before ('data' events, backpressure). Returns false, changing nothing, when this Node does not
 * look like the one this was written against.
 */
export function readIntoReusedBuffer(socket: Socket): boolean {
  const symbols = Object.getOwnPropertySymbols(socket);
  const find = (name: string) => symbols.filter((s) => s.description === name);
  const [kBuffer, kBufferCb, kBufferGen] = [find('kBuffer'), find('kBufferCb'), find('kBufferGen')].map((s) => (s.length === 1 ? s[0] : undefined));
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (b: Uint8Array) => void } })._handle;
  const fields = socket as unknown as Record<symbol, unknown>;
  if (!kBuffer || !kBufferCb || !kBufferGen || typeof handle?.useUserBuffer !== 'function') return false;
  if (fields[kBuffer] !== null || fields[kBufferCb] !== null || fields[kBufferGen] !== null) return false;
  shared ??= Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  const buffer = shared;
  let reader: ReusedReader | undefined;
  try {
    handle.useUserBuffer(buffer);
  } catch {
    return false;
  }
  fields[kBuffer] = buffer;
  // Returning false stops reading until the stream is resumed (what a full stream buffer does normally).
  fields[kBufferCb] = (n: number, buf: Buffer): boolean => {
    if (reader) {
      reader(buf.subarray(0, n));
      return true;
    }
    return socket.push(Buffer.from(buf.subarray(0, n)));
  };
  readers.set(socket, { set: (r) => (reader = r) });
  return true;
}

/**
 * When `socket` was set up by readIntoReusedBuffer, routes its reads to `reader` from now on (instead of
 * 'data' events; bytes already pushed to the stream still come as 'data') and returns true.
 */
export function takeReusedReads(socket: unknown, reader: ReusedReader): boolean {
  const entry = readers.get(socket as Socket);
  if (!entry) return false;
  entry.set(reader);
  return true;
}
