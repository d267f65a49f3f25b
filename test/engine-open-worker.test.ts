// The restore's worker-thread chunk opener must accept exactly what codec.ts openChunk accepts, with the same
// failure reasons, and must not touch the caller's buffers (it works on a transferred copy).
import { afterAll, describe, expect, it } from 'vitest';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { brotliCompressSync } from 'node:zlib';
import { deriveKeys } from '../agent/engine/keys.js';
import { ChunkAuthError, openChunk } from '../agent/engine/codec.js';
import { ChunkOpenerPool } from '../agent/engine/open-worker.js';

const keys = deriveKeys(randomBytes(32));
const pool = new ChunkOpenerPool(keys, 2);
afterAll(() => pool.close());

/** Seal a chunk in the on-disk format (docs/design.md, "Backup engine"): version, flags, nonce, ciphertext, tag. */
function seal(plain: Buffer, compress: boolean): { id: string; data: Buffer } {
  const idBytes = createHmac('sha256', keys.idKey).update(plain).digest();
  const body = compress ? brotliCompressSync(plain) : plain;
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keys.encKey, nonce);
  cipher.setAAD(idBytes);
  const ct = Buffer.concat([cipher.update(body), cipher.final()]);
  return { id: idBytes.toString('hex'), data: Buffer.concat([Buffer.from([1, compress ? 1 : 0]), nonce, ct, cipher.getAuthTag()]) };
}

function codecReason(id: string, data: Buffer): string {
  try {
    openChunk(keys, id, data);
  } catch (err) {
    expect(err).toBeInstanceOf(ChunkAuthError);
    return (err as Error).message;
  }
  throw new Error('codec accepted a bad chunk');
}

describe('restore chunk opener (worker threads)', () => {
  it('opens plain and compressed chunks byte-identically and leaves the caller buffers intact', async () => {
    const text = Buffer.from('line of log text with some repeats\n'.repeat(5000));
    const random = randomBytes(300_000);
    const a = seal(text, true);
    const b = seal(random, false);
    const before = [Buffer.from(a.data), Buffer.from(b.data)];
    const out = await pool.open([a, b]);
    expect(out.get(a.id)).toEqual(text);
    expect(out.get(b.id)).toEqual(random);
    expect(a.data.equals(before[0]) && b.data.equals(before[1])).toBe(true);
    // Many batches at once over both workers: every answer goes to its own request.
    const many = Array.from({ length: 12 }, (_, i) => seal(Buffer.from(`chunk ${i} `.repeat(1000 + i)), i % 2 === 0));
    const results = await Promise.all(many.map((c) => pool.open([c])));
    results.forEach((r, i) => expect(r.get(many[i].id)?.toString()).toBe(`chunk ${i} `.repeat(1000 + i)));
  });

  it('fails each tampered chunk alone, with the same reason codec.ts gives', async () => {
    const good = seal(Buffer.from('untouched neighbour '.repeat(100)), true);
    const flipped = seal(Buffer.from('ciphertext flipped '.repeat(100)), true);
    flipped.data[20] ^= 1;
    const wrongId = seal(Buffer.from('stored under another id '.repeat(100)), false);
    const other = seal(Buffer.from('the other content'), false);
    const swapped = { id: other.id, data: wrongId.data };
    const short = { id: seal(Buffer.from('x'), false).id, data: Buffer.alloc(10) };
    const version = seal(Buffer.from('future format'), false);
    version.data[0] = 2;
    const flags = seal(Buffer.from('unknown flag'), false);
    flags.data[1] = 4;
    const bad = [flipped, swapped, short, version, flags];
    const out = await pool.open([good, ...bad]);
    expect(out.get(good.id)?.toString()).toBe('untouched neighbour '.repeat(100));
    for (const c of bad) {
      const err = out.get(c.id);
      expect(err).toBeInstanceOf(ChunkAuthError);
      expect((err as ChunkAuthError).id).toBe(c.id);
      expect((err as Error).message).toBe(codecReason(c.id, c.data));
    }
  });
});
