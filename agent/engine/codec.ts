// Opening sealed chunks, and sealing/opening snapshots (chunks are sealed in chunk-worker.ts).
// Sealed layout (docs/design.md, "Backup engine"): version(1) flags(1) nonce(12) ciphertext tag(16); AES-256-GCM with the
// chunk id (32 bytes) or the snapshot label as additional data; flag 1 = brotli-compressed plaintext, flag 2 =
// zstd-compressed plaintext (written where the runtime has zstd, see zstd.ts).
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { brotliCompressSync, brotliDecompressSync, constants as zc } from 'node:zlib';
import type { EngineKeys } from './keys.js';
import { zstdDecompress } from './zstd.js';

const FORMAT_VERSION = 1;
const FLAG_BROTLI = 1;
const FLAG_ZSTD = 2;
const HEADER = 14;
const TAG = 16;

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

function open(keys: EngineKeys, data: Uint8Array, aad: Uint8Array, label: string): Buffer {
  if (data.length < HEADER + TAG) throw new ChunkAuthError(label, 'too short');
  if (data[0] !== FORMAT_VERSION) throw new ChunkAuthError(label, `unknown format version ${data[0]}`);
  const flags = data[1];
  if (flags !== 0 && flags !== FLAG_BROTLI && flags !== FLAG_ZSTD) throw new ChunkAuthError(label, `unknown flags ${flags}`);
  const decipher = createDecipheriv('aes-256-gcm', keys.encKey, data.subarray(2, HEADER));
  decipher.setAAD(aad);
  decipher.setAuthTag(data.subarray(data.length - TAG));
  let body: Buffer;
  try {
    body = Buffer.concat([decipher.update(data.subarray(HEADER, data.length - TAG)), decipher.final()]);
  } catch {
    throw new ChunkAuthError(label, 'GCM tag mismatch');
  }
  if (flags !== 0) {
    try {
      body = flags === FLAG_BROTLI ? brotliDecompressSync(body) : zstdDecompress(body);
    } catch {
      throw new ChunkAuthError(label, 'corrupt compressed data');
    }
  }
  return body;
}

function seal(keys: EngineKeys, plain: Uint8Array, aad: Uint8Array, compress: boolean): Buffer {
  let body: Uint8Array = plain;
  let flags = 0;
  if (compress) {
    const packed = brotliCompressSync(plain, { params: { [zc.BROTLI_PARAM_QUALITY]: 1, [zc.BROTLI_PARAM_SIZE_HINT]: plain.length } });
    if (packed.length < plain.length) {
      body = packed;
      flags = FLAG_BROTLI;
    }
  }
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keys.encKey, nonce);
  cipher.setAAD(aad);
  const ct = Buffer.concat([cipher.update(body), cipher.final()]);
  return Buffer.concat([Buffer.from([FORMAT_VERSION, flags]), nonce, ct, cipher.getAuthTag()]);
}

/** Decrypt, decompress and check a chunk against its keyed id. */
export function openChunk(keys: EngineKeys, id: string, data: Uint8Array): Buffer {
  const idBytes = Buffer.from(id, 'hex');
  if (idBytes.length !== 32) throw new ChunkAuthError(id, 'malformed id');
  const plain = open(keys, data, idBytes, id);
  const actual = createHmac('sha256', keys.idKey).update(plain).digest();
  if (!timingSafeEqual(actual, idBytes)) throw new ChunkAuthError(id, 'content does not match its id');
  return plain;
}

function snapshotAad(id: string): Buffer {
  return Buffer.from(`holdfast-snapshot:${id}`);
}

export function sealSnapshot(keys: EngineKeys, id: string, plain: Uint8Array): Buffer {
  return seal(keys, plain, snapshotAad(id), true);
}

export function openSnapshot(keys: EngineKeys, id: string, data: Uint8Array): Buffer {
  return open(keys, data, snapshotAad(id), `snapshot ${id}`);
}
