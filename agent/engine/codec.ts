// The chunk format, in one place: sealing chunks (chunk-thread.ts), opening them (restore-thread.ts, tests,
// admin tools), and sealing/opening snapshots. Sealed layout (docs/design.md, "Chunk format"): version(1) flags(1)
// nonce(12) ciphertext tag(16); AES-256-GCM with the chunk id (32 bytes) or the snapshot label as additional data;
// flag 1 = brotli-compressed plaintext, flag 2 = zstd-compressed plaintext (written where the runtime has zstd,
// see zstd.ts). The worker threads import this module (bundled-worker.ts), so there is no other copy of it.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { brotliCompressSync, brotliDecompressSync, constants as zc } from 'node:zlib';
import { CHUNK_MAX, type EngineKeys } from './keys.js';
import { hasNativeZstd, zstdCompress, zstdContentSize, zstdDecompress } from './zstd.js';

/** The keys the format needs (the gear table is for chunking only). */
export type CodecKeys = Pick<EngineKeys, 'encKey' | 'idKey'>;

const FORMAT_VERSION = 1;
const FLAG_BROTLI = 1;
const FLAG_ZSTD = 2;
const HEADER = 14;
const TAG = 16;
/** Bytes sealing adds to a chunk's (possibly compressed) body. */
export const SEAL_OVERHEAD = HEADER + TAG;

/** A chunk (or snapshot) failed authentication: it was altered, truncated or sealed under another key. */
export class ChunkAuthError extends Error {
  constructor(
    readonly id: string,
    reason: string,
  ) {
    super(`chunk ${id} failed authentication (${reason})`);
    this.name = 'ChunkAuthError';
  }
}

/** A chunk's keyed id as 32 bytes (its hex form names the chunk in stores and snapshots). */
export function chunkIdBytes(keys: CodecKeys, plain: Uint8Array): Buffer {
  return createHmac('sha256', keys.idKey).update(plain).digest();
}

// zstd where the runtime has it (Node ≥ 22.15: the installers' runtime), else brotli quality 0 (zstd.ts).
const useZstd = hasNativeZstd();
const hist = new Uint32Array(256);

/**
 * Worth compressing? Order-0 entropy of a sample: already-compressed or encrypted data is close to 8 bits per
 * byte, text and most documents far below. Costs microseconds, where trial compression would cost milliseconds.
 */
function looksCompressible(chunk: Uint8Array): boolean {
  if (chunk.length < 256) return false;
  hist.fill(0);
  // Up to 4 spread-out windows of 512 bytes (random data still measures above 7.9 bits per byte).
  const win = Math.min(512, chunk.length);
  const step = chunk.length > 4 * win ? Math.floor((chunk.length - win) / 3) : 0;
  let n = 0;
  for (let w = 0; w < 4; w++) {
    const from = w * step;
    for (let i = from; i < from + win && i < chunk.length; i++) hist[chunk[i]]++;
    n += Math.min(win, chunk.length - from);
    if (step === 0) break;
  }
  let bits = 0;
  for (let b = 0; b < 256; b++) {
    const c = hist[b];
    if (c > 0) bits -= c * Math.log2(c / n);
  }
  return bits / n < 7.2;
}

/** What to seal for a chunk: its plaintext, or the plaintext compressed (flags say how) when that saves at least 1/16. */
export function compressChunk(chunk: Uint8Array): { body: Uint8Array; flags: number } {
  if (!looksCompressible(chunk)) return { body: chunk, flags: 0 };
  const packed = useZstd
    ? zstdCompress(chunk)
    : brotliCompressSync(chunk, {
        params: {
          [zc.BROTLI_PARAM_QUALITY]: 0,
          [zc.BROTLI_PARAM_SIZE_HINT]: chunk.length,
          // A 64 KiB window: faster than 1-4 MiB at quality 0 and, on text, no larger (repeats are local).
          [zc.BROTLI_PARAM_LGWIN]: 16,
        },
      });
  if (packed.length < chunk.length - (chunk.length >> 4)) return { body: packed, flags: useZstd ? FLAG_ZSTD : FLAG_BROTLI };
  return { body: chunk, flags: 0 };
}

/**
 * Seal `body` (a plaintext, or it compressed as `flags` say) into `out` at `at` under `nonce` (12 bytes, never
 * used twice under one key) with `aad` as additional data; returns the sealed length (body + SEAL_OVERHEAD).
 */
export function sealInto(keys: CodecKeys, aad: Uint8Array, body: Uint8Array, flags: number, nonce: Uint8Array, out: Uint8Array, at: number): number {
  out[at] = FORMAT_VERSION;
  out[at + 1] = flags;
  out.set(nonce, at + 2);
  const cipher = createCipheriv('aes-256-gcm', keys.encKey, nonce);
  cipher.setAAD(aad);
  let off = at + HEADER;
  const ct = cipher.update(body);
  out.set(ct, off);
  off += ct.length;
  const fin = cipher.final();
  out.set(fin, off);
  off += fin.length;
  out.set(cipher.getAuthTag(), off);
  return off + TAG - at;
}

/** Memory a caller may want to collect early: bytes that opening left behind as garbage outside the V8 heap. */
export interface GarbageCount {
  bytes: number;
}

function open(keys: CodecKeys, data: Uint8Array, aad: Uint8Array, label: string, garbage?: GarbageCount): Buffer {
  if (data.length < HEADER + TAG) throw new ChunkAuthError(label, 'too short');
  if (data[0] !== FORMAT_VERSION) throw new ChunkAuthError(label, `unknown format version ${data[0]}`);
  const flags = data[1];
  if (flags !== 0 && flags !== FLAG_BROTLI && flags !== FLAG_ZSTD) throw new ChunkAuthError(label, `unknown flags ${flags}`);
  if (garbage) garbage.bytes += data.length;
  const decipher = createDecipheriv('aes-256-gcm', keys.encKey, data.subarray(2, HEADER));
  decipher.setAAD(aad);
  decipher.setAuthTag(data.subarray(data.length - TAG));
  let body: Buffer;
  try {
    const head = decipher.update(data.subarray(HEADER, data.length - TAG));
    const tail = decipher.final();
    body = tail.length ? Buffer.concat([head, tail]) : head;
  } catch {
    throw new ChunkAuthError(label, 'GCM tag mismatch');
  }
  if (flags !== 0) {
    // Output in one piece: the default 16 KiB pieces plus their final concatenation made twice the plaintext
    // in garbage. zstd frames declare the size (the spare bytes keep Node from allocating a second buffer
    // when the first is exactly full); brotli's output is guessed at 4× (text is ~3:1 here), a power of two.
    const declared = flags === FLAG_ZSTD ? zstdContentSize(body) : -1;
    const chunkSize = declared >= 0 ? Math.min(declared, CHUNK_MAX) + 64 : Math.min(CHUNK_MAX, Math.max(64 * 1024, 2 ** Math.ceil(Math.log2(body.length * 4))));
    try {
      body = flags === FLAG_BROTLI ? brotliDecompressSync(body, { chunkSize }) : zstdDecompress(body, chunkSize);
    } catch {
      throw new ChunkAuthError(label, 'corrupt compressed data');
    }
    if (garbage) garbage.bytes += body.length + chunkSize;
  }
  return body;
}

/**
 * Decrypt, decompress and check a chunk against its keyed id. `garbage` (optional) is increased by the bytes
 * this left behind for the garbage collector.
 */
export function openChunk(keys: CodecKeys, id: string, data: Uint8Array, garbage?: GarbageCount): Buffer {
  const idBytes = Buffer.from(id, 'hex');
  if (idBytes.length !== 32) throw new ChunkAuthError(id, 'malformed id');
  const plain = open(keys, data, idBytes, id, garbage);
  if (!timingSafeEqual(chunkIdBytes(keys, plain), idBytes)) throw new ChunkAuthError(id, 'content does not match its id');
  return plain;
}

function snapshotAad(id: string): Buffer {
  return Buffer.from(`holdfast-snapshot:${id}`);
}

export function sealSnapshot(keys: CodecKeys, id: string, plain: Uint8Array): Buffer {
  let body: Uint8Array = plain;
  let flags = 0;
  const packed = brotliCompressSync(plain, { params: { [zc.BROTLI_PARAM_QUALITY]: 1, [zc.BROTLI_PARAM_SIZE_HINT]: plain.length } });
  if (packed.length < plain.length) {
    body = packed;
    flags = FLAG_BROTLI;
  }
  const out = Buffer.allocUnsafe(body.length + SEAL_OVERHEAD);
  sealInto(keys, snapshotAad(id), body, flags, randomBytes(12), out, 0);
  return out;
}

export function openSnapshot(keys: CodecKeys, id: string, data: Uint8Array): Buffer {
  return open(keys, data, snapshotAad(id), `snapshot ${id}`);
}
