// zstd, the chunk codec where the runtime has it. Node's zlib has zstd from 22.15 (the runtime the installers
// ship); Node 20 has none, so there chunks are compressed with brotli, and zstd chunks written by an endpoint
// are decoded with fzstd (pure JavaScript, ~140 MiB/s against ~875 natively). Restore workers run from source
// text and cannot import this module: they get the same choice through `zstdDecoderPath()`.
import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';
import { decompress as fzstdDecompress } from 'fzstd';

/** The zstd part of `node:zlib` (typed here because @types/node 20 does not have it). */
export interface ZstdZlib {
  zstdCompressSync?(data: Uint8Array, options?: { params?: Record<number, number>; chunkSize?: number }): Buffer;
  zstdDecompressSync?(data: Uint8Array, options?: { chunkSize?: number }): Buffer;
}

const native = zlib as unknown as ZstdZlib;

/** zstd compression level and window of chunks: level 1 with a 128 KiB window compressed the bench's text fastest for its size. */
export const ZSTD_LEVEL = 1;
export const ZSTD_WINDOW_LOG = 17;
/** ZSTD_c_compressionLevel and ZSTD_c_windowLog (zstd.h), as `params` keys. */
export const ZSTD_C_COMPRESSION_LEVEL = 100;
export const ZSTD_C_WINDOW_LOG = 101;

export function hasNativeZstd(): boolean {
  return typeof native.zstdCompressSync === 'function' && typeof native.zstdDecompressSync === 'function';
}

export function zstdDecompress(data: Uint8Array): Buffer {
  if (native.zstdDecompressSync) return native.zstdDecompressSync(data);
  const out = fzstdDecompress(data);
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * For restore workers on a runtime without native zstd: the file to `require` for fzstd, or null when the
 * runtime has zstd (or fzstd cannot be found: a zstd chunk then fails with a message naming the runtime).
 */
export function zstdDecoderPath(): string | null {
  if (hasNativeZstd()) return null;
  try {
    return createRequire(import.meta.url).resolve('fzstd');
  } catch {
    return null;
  }
}
