// Restore writers: worker threads that open sealed chunks (AES-256-GCM + keyed id check, the format of
// codec.ts) and write files with sync calls, so decryption uses every core and file creation (the slow part
// of a restore) runs in parallel. Like the chunk worker, the code runs from the source text of one
// self-contained function (the agent ships as a single bundle).
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { EngineKeys } from './keys.js';

export interface WriteRequest {
  seq: number;
  /** Identifies the file across the messages of a big file. */
  file: number;
  dest: string;
  tmp: string;
  /** Sealed chunks, in file order: [id, offset in buf, length]. */
  chunks: Array<[string, number, number]>;
  /** The sealed chunks back to back (transferred to the writer, never a view into a larger buffer). */
  buf: ArrayBuffer;
  first: boolean;
  final: boolean;
  mode: number;
  mtimeMs: number;
  size: number;
  abort?: boolean;
}

export interface WriteReply {
  seq: number;
  ok: boolean;
  message?: string;
  chunkId?: string;
  /** 'auth' (chunk failed authentication), 'in-the-way' (a folder at the destination), 'io' */
  kind?: string;
}

interface WriterModules {
  wt: typeof import('node:worker_threads');
  fs: typeof import('node:fs');
  crypto: typeof import('node:crypto');
  zlib: typeof import('node:zlib');
}

function restoreWriterMain(mods: WriterModules): void {
  const { fs, crypto, zlib } = mods;
  const { parentPort, workerData } = mods.wt;
  const encKey = Buffer.from(workerData.encKey as Uint8Array);
  const idKey = Buffer.from(workerData.idKey as Uint8Array);
  const umask = workerData.umask as number;
  const win = process.platform === 'win32';
  const open = new Map<number, { fd: number; pos: number }>();

  type Fail = Error & { kind: string; chunkId?: string };
  const Fail = function (message: string, kind: string, chunkId?: string): Fail {
    return Object.assign(new Error(message), { kind, chunkId, isFail: true });
  } as unknown as new (message: string, kind: string, chunkId?: string) => Fail;

  function openChunk(id: string, data: Uint8Array): Buffer {
    const fail = (reason: string): Fail => new Fail(`chunk ${id} failed authentication (${reason})`, 'auth', id);
    const idBytes = Buffer.from(id, 'hex');
    if (idBytes.length !== 32) throw fail('malformed id');
    if (data.length < 30) throw fail('too short');
    if (data[0] !== 1) throw fail(`unknown format version ${data[0]}`);
    if ((data[1] & ~1) !== 0) throw fail(`unknown flags ${data[1]}`);
    const d = crypto.createDecipheriv('aes-256-gcm', encKey, data.subarray(2, 14));
    d.setAAD(idBytes);
    d.setAuthTag(data.subarray(data.length - 16));
    let body: Buffer;
    try {
      const a = d.update(data.subarray(14, data.length - 16));
      const b = d.final();
      body = b.length ? Buffer.concat([a, b]) : a;
    } catch {
      throw fail('GCM tag mismatch');
    }
    if (data[1] & 1) {
      try {
        body = zlib.brotliDecompressSync(body);
      } catch {
        throw fail('corrupt compressed data');
      }
    }
    const actual = crypto.createHmac('sha256', idKey).update(body).digest();
    if (!crypto.timingSafeEqual(actual, idBytes)) throw fail('content does not match its id');
    return body;
  }

  function drop(file: number, tmp: string): void {
    const st = open.get(file);
    if (st) {
      try {
        fs.closeSync(st.fd);
      } catch {
        /* already closed */
      }
      open.delete(file);
    }
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* never created */
    }
  }

  parentPort!.on('message', (m: WriteRequest) => {
    if (m.abort) {
      drop(m.file, m.tmp);
      parentPort!.postMessage({ seq: m.seq, ok: true } satisfies WriteReply);
      return;
    }
    try {
      let st = open.get(m.file);
      if (m.first) {
        // "wx" = O_CREAT|O_EXCL: fails rather than following a symlink planted at the temporary name.
        st = { fd: fs.openSync(m.tmp, 'wx', m.mode & 0o700), pos: 0 };
        open.set(m.file, st);
      }
      if (!st) throw new Fail(`internal: ${m.tmp} is not open`, 'io');
      for (const [id, off0, len] of m.chunks) {
        const plain = openChunk(id, new Uint8Array(m.buf, off0, len));
        let off = 0;
        while (off < plain.length) off += fs.writeSync(st.fd, plain, off, plain.length - off, st.pos + off);
        st.pos += plain.length;
      }
      if (m.final) {
        if (st.pos !== m.size) throw new Fail(`restored size ${st.pos} differs from the snapshot's ${m.size}`, 'io');
        const mode = m.mode & 0o7777;
        if (!win && (mode & 0o077 || (mode & 0o700 & umask) !== 0 || mode & 0o7000)) fs.fchmodSync(st.fd, mode);
        fs.futimesSync(st.fd, m.mtimeMs / 1000, m.mtimeMs / 1000);
        fs.closeSync(st.fd);
        open.delete(m.file);
        try {
          // rename replaces a file or symlink at dest without following it; a folder in the way fails.
          fs.renameSync(m.tmp, m.dest);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code ?? '';
          if (['EISDIR', 'ENOTEMPTY', 'EEXIST', 'ENOTDIR'].includes(code)) throw new Fail('a folder is in the way of a file', 'in-the-way');
          throw err;
        }
      }
      parentPort!.postMessage({ seq: m.seq, ok: true } satisfies WriteReply);
    } catch (err) {
      drop(m.file, m.tmp);
      const f = (err as { isFail?: boolean }).isFail ? (err as Fail) : new Fail((err as Error).message, 'io');
      parentPort!.postMessage({ seq: m.seq, ok: false, message: f.message, kind: f.kind, chunkId: f.chunkId } satisfies WriteReply);
    }
  });
}

/** A pool of restore writers; `send` resolves with the writer's reply. Files stick to one writer. */
export class WriterPool {
  private readonly workers: Worker[];
  private readonly waiting = new Map<number, (r: WriteReply) => void>();
  private seq = 0;
  private failure: Error | undefined;

  constructor(keys: EngineKeys, count = Math.min(4, Math.max(2, availableParallelism()))) {
    const source =
      'var __name = (f) => f;\n' +
      `(${restoreWriterMain.toString()})({ wt: require('node:worker_threads'), fs: require('node:fs'), crypto: require('node:crypto'), zlib: require('node:zlib') });`;
    const umask = process.platform === 'win32' ? 0 : process.umask();
    this.workers = Array.from({ length: count }, () => {
      const w = new Worker(source, { eval: true, workerData: { encKey: keys.encKey, idKey: keys.idKey, umask } });
      w.on('message', (r: WriteReply) => {
        const done = this.waiting.get(r.seq);
        this.waiting.delete(r.seq);
        done?.(r);
      });
      w.on('error', (err) => this.fail(err));
      w.on('exit', (code) => {
        if (code !== 0) this.fail(new Error(`restore writer exited with code ${code}`));
      });
      return w;
    });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const [, done] of this.waiting) done({ seq: -1, ok: false, message: err.message, kind: 'io' });
    this.waiting.clear();
  }

  /** Send sealed chunks for a file; they are copied once into one transferable buffer. */
  send(req: Omit<WriteRequest, 'seq' | 'chunks' | 'buf'>, sealed: Array<[string, Uint8Array]>): Promise<WriteReply> {
    if (this.failure) return Promise.resolve({ seq: -1, ok: false, message: this.failure.message, kind: 'io' });
    let total = 0;
    for (const [, d] of sealed) total += d.byteLength;
    const buf = new ArrayBuffer(total);
    const view = new Uint8Array(buf);
    const chunks: WriteRequest['chunks'] = [];
    let off = 0;
    for (const [id, d] of sealed) {
      view.set(d, off);
      chunks.push([id, off, d.byteLength]);
      off += d.byteLength;
    }
    const seq = this.seq++;
    const msg: WriteRequest = { ...req, seq, chunks, buf };
    return new Promise((resolve) => {
      this.waiting.set(seq, resolve);
      this.workers[req.file % this.workers.length].postMessage(msg, [buf]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
