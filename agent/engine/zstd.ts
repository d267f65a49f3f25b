// zstd, the chunk codec where the runtime has it. Node's zlib has zstd from 22.15 (the runtime the installers
// ship); Node 20 has none, so there chunks are compressed with brotli, and zstd chunks written by an endpoint
// are decoded with fzstd (pure JavaScript, ~140 MiB/s against ~875 natively). Restore workers run from source
// text and cannot import this module: they get fzstd's own source text through `zstdDecoderSource()`.
import { readFileSync } from 'node:fs';
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

/** fzstd's CommonJS build as text, compiled into the agent bundle by scripts/build.mjs; absent when run from source. */
declare const __HOLDFAST_FZSTD_SOURCE__: string | undefined;

/**
 * For restore workers on a runtime without native zstd: fzstd's source text (CommonJS, evaluated by the
 * worker), or null when the runtime has zstd. The bundle carries the text, so a bundle copied anywhere (an
 * installed agent, the extension's) decodes zstd without a node_modules folder beside it; run from source,
 * the text is read from node_modules. Null when neither has it: a zstd chunk then fails naming the runtime.
 */
export function zstdDecoderSource(): string | null {
  if (hasNativeZstd()) return null;
  if (typeof __HOLDFAST_FZSTD_SOURCE__ === 'string') return __HOLDFAST_FZSTD_SOURCE__;
  try {
    return readFileSync(createRequire(import.meta.url).resolve('fzstd'), 'utf8');
  } catch {
    return null;
  }
}
