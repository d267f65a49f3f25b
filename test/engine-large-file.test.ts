// A large file is split across the chunk workers (issue 19): one finds the boundaries, all seal. Its chunk ids must be
// exactly those of the chunker before (one worker, each chunk cut with CHUNK_MAX of lookahead — copied below as the
// reference), so backups made before and after deduplicate against each other; and it restores byte-identical.
// A file under the large-file size goes through the one-pass reader and must match the reference as well.
import { createCipheriv, createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeAgent, manualBackup } from './helpers/agent.js';
import { storedChunks } from './helpers/engine-corpus.js';
import { tempDir } from './helpers/server.js';
import { CHUNK_AVG, CHUNK_MAX, CHUNK_MIN, deriveKeys } from '../agent/engine/keys.js';
import { chunkIdBytes } from '../agent/engine/codec.js';
import { LARGE_FILE_BYTES } from '../agent/engine/large-file.js';

const MiB = 1024 * 1024;
const DEVICE_KEY = Buffer.from('22'.repeat(32), 'hex');

/** The chunker as it was (chunk-thread.ts before issue 19): the reference for boundaries. */
function referenceChunkIds(data: Buffer): string[] {
  const keys = deriveKeys(DEVICE_KEY);
  const gear = keys.gear;
  const bits = Math.round(Math.log2(CHUNK_AVG));
  const topBits = (n: number): number => (n >= 32 ? 0xffffffff : (0xffffffff << (32 - n)) >>> 0);
  const maskS = topBits(bits + 2) | 0;
  const maskL = topBits(bits - 2) | 0;
  const cut = (start: number, end: number): number => {
    const n = end - start;
    if (n <= CHUNK_MIN) return n;
    const limit = Math.min(n, CHUNK_MAX);
    const normal = Math.min(CHUNK_AVG, limit);
    let h = 0;
    let i = CHUNK_MIN;
    for (; i < normal; i++) {
      h = ((h << 1) + gear[data[start + i]]) | 0;
      if ((h & maskS) === 0) return i + 1;
    }
    for (; i < limit; i++) {
      h = ((h << 1) + gear[data[start + i]]) | 0;
      if ((h & maskL) === 0) return i + 1;
    }
    return limit;
  };
  const ids: string[] = [];
  for (let start = 0; start < data.length; ) {
    const len = cut(start, Math.min(data.length, start + CHUNK_MAX));
    ids.push(chunkIdBytes(keys, data.subarray(start, start + len)).toString('hex'));
    start += len;
  }
  return ids;
}

/** Incompressible stretches and text stretches (compressed chunks), long runs of zeros (chunks cut at CHUNK_MAX). */
function content(bytes: number, seed: number): Buffer {
  const random = createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16)).update(Buffer.alloc(bytes));
  for (let at = 3 * MiB; at + 2 * MiB < bytes; at += 11 * MiB) {
    Buffer.from(`line ${at} of a log that compresses well\n`.repeat(50_000)).copy(random, at, 0, 2 * MiB);
  }
  random.fill(0, 7 * MiB, 16 * MiB);
  return random;
}

describe('a large file on every core', () => {
  it('has the chunk ids of the one-worker chunker and restores byte-identical; so does a file under the large-file size', async () => {
    const dir = await tempDir('holdfast-large-file-');
    const large = content(LARGE_FILE_BYTES + 37 * MiB + 12345, 1);
    const middling = content(LARGE_FILE_BYTES - 5 * MiB - 777, 2);
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'large.bin'), large);
    writeFileSync(join(dir, 'src', 'middling.bin'), middling);
    const agent = await makeAgent({
      registration: { primary: '127.0.0.1:1', alternate: '127.0.0.1:2' },
      tlsPin: Array(32).fill('AB').join(':'),
      config: { backup: manualBackup([join(dir, 'src')]) },
    });
    mkdirSync(agent.stateDir);
    writeFileSync(join(agent.stateDir, 'device.key'), `holdfast-device-key-v1 ${DEVICE_KEY.toString('hex')}\n`, { mode: 0o600 });
    const store = join(dir, 'store');
    const backup = await agent.run(['backup', '--store', store, '--quiet', '--threads', '2']);
    expect(backup.code, backup.output).toBe(0);

    const expected = new Set([...referenceChunkIds(large), ...referenceChunkIds(middling)]);
    expect(expected.size).toBeGreaterThan(40);
    expect(new Set(storedChunks(store).map((c) => c.id))).toEqual(expected);

    const out = join(dir, 'out');
    const restore = await agent.run(['restore', '--store', store, '--to', out, '--quiet']);
    expect(restore.code, restore.output).toBe(0);
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    expect(sha(readFileSync(join(out, 'src', 'large.bin')))).toBe(sha(large));
    expect(sha(readFileSync(join(out, 'src', 'middling.bin')))).toBe(sha(middling));

    // 1 MiB rewritten in the middle: the chunks of the stored version are not sealed again, only the new ones
    // are stored, and the new version restores byte-identical.
    const changed = Buffer.from(large);
    createCipheriv('aes-128-ctr', Buffer.alloc(16, 3), Buffer.alloc(16))
      .update(Buffer.alloc(MiB))
      .copy(changed, 40 * MiB);
    writeFileSync(join(dir, 'src', 'large.bin'), changed);
    const before = storedChunks(store).length;
    const again = await agent.run(['backup', '--store', store, '--quiet', '--threads', '2']);
    expect(again.code, again.output).toBe(0);
    const fresh = referenceChunkIds(changed).filter((id) => !expected.has(id));
    expect(fresh.length).toBeGreaterThan(0);
    expect(fresh.length).toBeLessThan(6);
    expect(storedChunks(store).length).toBe(before + fresh.length);
    const out2 = join(dir, 'out2');
    const restore2 = await agent.run(['restore', '--store', store, '--to', out2, '--quiet']);
    expect(restore2.code, restore2.output).toBe(0);
    expect(sha(readFileSync(join(out2, 'src', 'large.bin')))).toBe(sha(changed));
  });
});
