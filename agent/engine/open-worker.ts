// Restore-side chunk opening on worker threads: decrypt (AES-256-GCM), decompress and check each chunk against
// its keyed id off the main thread, which keeps the network and file writes. Sealed chunks travel to a worker
// and plaintext back in one transferred ArrayBuffer per batch (never structured-clone copies).
//
// Like chunk-worker.ts, the worker runs from the source text of `openWorkerMain` (the agent is one bundled
// file): that function must be self-contained. Its checks are those of codec.ts `openChunk`, with the same
// failure reasons, so a tampered chunk reads the same whichever path opened it.
import { Worker } from 'node:worker_threads';
import { ChunkAuthError } from './codec.js';
import type { EngineKeys } from './keys.js';

interface OpenRequest {
  seq: number;
  buf: ArrayBuffer;
  ids: string[];
  /** [offset, length] of each sealed chunk in buf. */
  spans: Array<[number, number]>;
}

interface OpenReply {
  seq: number;
  buf: ArrayBuffer;
  /** Per chunk: [offset, length] of its plaintext in buf, or the reason it failed authentication. */
  results: Array<[number, number] | string>;
}

interface OpenWorkerModules {
  wt: typeof import('node:worker_threads');
  crypto: typeof import('node:crypto');
  zlib: typeof import('node:zlib');
}

function openWorkerMain(mods: OpenWorkerModules): void {
  const { parentPort, workerData } = mods.wt;
  const { crypto, zlib } = mods;
  const encKey = Buffer.from(workerData.encKey as Uint8Array);
  const idKey = Buffer.from(workerData.idKey as Uint8Array);
  const HEADER = 14;
  const TAG = 16;

  function open(id: string, data: Buffer): Buffer | string {
    const idBytes = Buffer.from(id, 'hex');
    if (idBytes.length !== 32) return 'malformed id';
    if (data.length < HEADER + TAG) return 'too short';
    if (data[0] !== 1) return `unknown format version ${data[0]}`;
    const flags = data[1];
    if ((flags & ~1) !== 0) return `unknown flags ${flags}`;
    const decipher = crypto.createDecipheriv('aes-256-gcm', encKey, data.subarray(2, HEADER));
    decipher.setAAD(idBytes);
    decipher.setAuthTag(data.subarray(data.length - TAG));
    let body: Buffer;
    try {
      const head = decipher.update(data.subarray(HEADER, data.length - TAG));
      const tail = decipher.final();
      body = tail.length ? Buffer.concat([head, tail]) : head;
    } catch {
      return 'GCM tag mismatch';
    }
    if (flags & 1) {
      try {
        body = zlib.brotliDecompressSync(body);
      } catch {
        return 'corrupt compressed data';
      }
    }
    const actual = crypto.createHmac('sha256', idKey).update(body).digest();
    if (!crypto.timingSafeEqual(actual, idBytes)) return 'content does not match its id';
    return body;
  }

  parentPort!.on('message', (req: OpenRequest) => {
    const src = Buffer.from(req.buf);
    const plains: Array<Buffer | string> = req.ids.map((id, i) => open(id, src.subarray(req.spans[i][0], req.spans[i][0] + req.spans[i][1])));
    let total = 0;
    for (const p of plains) if (typeof p !== 'string') total += p.length;
    const out = new Uint8Array(new ArrayBuffer(total));
    let at = 0;
    const results: OpenReply['results'] = plains.map((p) => {
      if (typeof p === 'string') return p;
      out.set(p, at);
      at += p.length;
      return [at - p.length, p.length];
    });
    const reply: OpenReply = { seq: req.seq, buf: out.buffer, results };
    parentPort!.postMessage(reply, [out.buffer]);
  });
}

/** A small pool of opening workers; `close()` ends them (a restore must not keep the process alive). */
export class ChunkOpenerPool {
  private readonly workers: Worker[] = [];
  private readonly waiting = new Map<number, { ids: string[]; resolve: (m: Map<string, Buffer | Error>) => void; reject: (e: Error) => void }>();
  private seq = 0;
  private turn = 0;
  private failed: Error | undefined;

  constructor(
    private readonly keys: EngineKeys,
    /** One worker by default: the main thread (TLS, file writes) is busy too, and a second worker cost ~60 MiB RSS for no measured gain. */
    private readonly size = 1,
  ) {}

  private worker(): Worker {
    if (this.workers.length < this.size) {
      const source =
        'var __name = (f) => f;\n' +
        `(${openWorkerMain.toString()})({ wt: require('node:worker_threads'), crypto: require('node:crypto'), zlib: require('node:zlib') });`;
      const w = new Worker(source, { eval: true, workerData: { encKey: this.keys.encKey, idKey: this.keys.idKey } });
      w.on('message', (m: OpenReply) => this.onReply(m));
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => {
        if (code !== 0) this.fail(new Error(`chunk opening worker exited with code ${code}`));
      });
      this.workers.push(w);
      return w;
    }
    return this.workers[this.turn++ % this.workers.length];
  }

  /** Open (authenticate, decompress) sealed chunks; a chunk that fails becomes a ChunkAuthError for its id. */
  open(chunks: Array<{ id: string; data: Uint8Array }>): Promise<Map<string, Buffer | Error>> {
    if (this.failed) return Promise.reject(this.failed);
    if (chunks.length === 0) return Promise.resolve(new Map());
    let total = 0;
    for (const c of chunks) total += c.data.byteLength;
    // One copy into a buffer the worker can own: received data may share memory with other frames.
    const buf = new Uint8Array(new ArrayBuffer(total));
    const spans: Array<[number, number]> = [];
    let at = 0;
    for (const c of chunks) {
      buf.set(c.data, at);
      spans.push([at, c.data.byteLength]);
      at += c.data.byteLength;
    }
    const seq = this.seq++;
    const ids = chunks.map((c) => c.id);
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, { ids, resolve, reject });
      const req: OpenRequest = { seq, buf: buf.buffer, ids, spans };
      this.worker().postMessage(req, [buf.buffer]);
    });
  }

  private onReply(m: OpenReply): void {
    const w = this.waiting.get(m.seq);
    if (!w) return;
    this.waiting.delete(m.seq);
    const out = new Map<string, Buffer | Error>();
    const plain = Buffer.from(m.buf);
    m.results.forEach((r, i) => {
      out.set(w.ids[i], typeof r === 'string' ? new ChunkAuthError(w.ids[i], r) : plain.subarray(r[0], r[0] + r[1]));
    });
    w.resolve(out);
  }

  private fail(err: Error): void {
    this.failed ??= err;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }

  async close(): Promise<void> {
    this.failed ??= new Error('chunk opening pool is closed');
    const workers = this.workers.splice(0);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
