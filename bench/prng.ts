// Seeded randomness for the benchmark corpus. Everything the corpus contains derives from the seed
// string, so two machines with the same seed and parameters generate byte-identical trees.
import { createCipheriv, createHash } from 'node:crypto';

/** sfc32: a small, fast, well-tested 32-bit generator; state comes from SHA-256 of the seed. */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spareNormal: number | undefined;

  constructor(seed: string) {
    const h = createHash('sha256').update(seed).digest();
    this.a = h.readUInt32LE(0);
    this.b = h.readUInt32LE(4);
    this.c = h.readUInt32LE(8);
    this.d = h.readUInt32LE(12);
    for (let i = 0; i < 16; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box-Muller, both values used). */
  normal(): number {
    if (this.spareNormal !== undefined) {
      const s = this.spareNormal;
      this.spareNormal = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

/**
 * `length` pseudo-random bytes for (seed, label): an AES-128-CTR keystream keyed by SHA-256(seed:label).
 * Incompressible, deterministic and fast (AES-NI), unlike a byte-at-a-time JS generator.
 */
export function randomBytesFor(seed: string, label: string, length: number): Buffer {
  const key = createHash('sha256').update(`${seed}:${label}`).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  const out = cipher.update(Buffer.alloc(length));
  cipher.final();
  return out;
}
