// zstd, the chunk codec where the runtime has it. Node's zlib has zstd from 22.15 (the runtime the installers
// ship); Node 20 has none, so there chunks are compressed with brotli, and zstd chunks written by an endpoint
// are decoded with fzstd (pure JavaScript, ~140 MiB/s against ~875 natively). The worker bundles carry fzstd
// like any other import (bundled-worker.ts), so a bundle copied anywhere decodes zstd without node_modules.
import * as zlib from 'node:zlib';
import { decompress as fzstdDecompress } from 'fzstd';

/** The zstd part of `node:zlib` (typed here because @types/node 20 does not have it). */
interface ZstdZlib {
  zstdCompressSync?(data: Uint8Array, options?: { params?: Record<number, number>; chunkSize?: number }): Buffer;
  zstdDecompressSync?(data: Uint8Array, options?: { chunkSize?: number }): Buffer;
}

const native = zlib as unknown as ZstdZlib;

/** zstd compression level and window of chunks: level 1 with a 128 KiB window compressed the bench's text fastest for its size. */
const ZSTD_LEVEL = 1;
const ZSTD_WINDOW_LOG = 17;
/** ZSTD_c_compressionLevel and ZSTD_c_windowLog (zstd.h), as `params` keys. */
const ZSTD_C_COMPRESSION_LEVEL = 100;
const ZSTD_C_WINDOW_LOG = 101;
const CHUNK_PARAMS = { params: { [ZSTD_C_COMPRESSION_LEVEL]: ZSTD_LEVEL, [ZSTD_C_WINDOW_LOG]: ZSTD_WINDOW_LOG } };

export function hasNativeZstd(): boolean {
  return typeof native.zstdCompressSync === 'function' && typeof native.zstdDecompressSync === 'function';
}

/** Compress a chunk with the chunk settings; only where hasNativeZstd(). */
export function zstdCompress(data: Uint8Array): Buffer {
  if (!native.zstdCompressSync) throw new Error(`Node ${process.version} has no zstd compressor (Node 22.15 or later has it)`);
  return native.zstdCompressSync(data, CHUNK_PARAMS);
}

/** Decompress one zstd frame; `chunkSize`: the size of the output pieces (natively; fzstd sizes its own output). */
export function zstdDecompress(data: Uint8Array, chunkSize?: number): Buffer {
  if (native.zstdDecompressSync) return native.zstdDecompressSync(data, chunkSize === undefined ? undefined : { chunkSize });
  const out = fzstdDecompress(data);
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * The plaintext size a zstd frame header declares (Frame_Content_Size, RFC 8878 §3.1.1.1), or -1 when absent.
 * zstd chunks are one frame with the size set, so decoding can write into one buffer of exactly that size.
 */
export function zstdContentSize(b: Buffer): number {
  if (b.length < 6 || b.readUInt32LE(0) !== 0xfd2fb528) return -1;
  const descriptor = b[4];
  const sizeFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const at = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][descriptor & 3];
  const n = sizeFlag === 0 ? singleSegment : [0, 2, 4, 8][sizeFlag];
  if (n === 0 || at + n > b.length) return -1;
  if (n === 1) return b[at];
  if (n === 2) return b.readUInt16LE(at) + 256;
  if (n === 4) return b.readUInt32LE(at);
  return Number(b.readBigUInt64LE(at));
}
