// File contents for the corpus: compressible log-like text and incompressible bytes, both seeded.
import { Prng, randomBytesFor } from './prng.js';

const HEX = Buffer.from('0123456789abcdef', 'latin1');
const LEVELS = ['INFO', 'WARN', 'DEBUG', 'ERROR'].map((l) => Buffer.from(l, 'latin1'));
const wordCache = new Map<string, Buffer[]>();

/** 256 pseudo-words (2-10 letters) for the seed: a small vocabulary compresses like real logs do. */
function vocabulary(seed: string): Buffer[] {
  let words = wordCache.get(seed);
  if (!words) {
    const rng = new Prng(`${seed}:words`);
    words = [];
    for (let i = 0; i < 256; i++) {
      const len = 2 + rng.int(9);
      let w = '';
      for (let j = 0; j < len; j++) w += String.fromCharCode(97 + rng.int(26));
      words.push(Buffer.from(w, 'latin1'));
    }
    wordCache.set(seed, words);
  }
  return words;
}

/**
 * Log lines "[0001a2b3] WARN word word ... id=9f3c2a" with a per-line counter and random id, so the
 * text compresses (~3x) but no two files share chunks by accident.
 */
export function textContent(seed: string, label: string, size: number): Buffer {
  const words = vocabulary(seed);
  const out = Buffer.allocUnsafe(size + 512);
  let rnd = randomBytesFor(seed, label, Math.max(256, size >> 2));
  let ri = 0;
  let refill = 0;
  let counter = rnd.readUInt32LE(0) >>> 4;
  ri = 4;
  let pos = 0;
  while (pos < size) {
    if (ri + 24 > rnd.length) {
      rnd = randomBytesFor(seed, `${label}:${++refill}`, 4096);
      ri = 0;
    }
    out[pos++] = 0x5b; // [
    counter = (counter + 1 + (rnd[ri++] & 15)) >>> 0;
    for (let s = 28; s >= 0; s -= 4) out[pos++] = HEX[(counter >>> s) & 15];
    out[pos++] = 0x5d; // ]
    out[pos++] = 0x20;
    const level = LEVELS[rnd[ri++] & 3];
    for (let k = 0; k < level.length; k++) out[pos++] = level[k];
    const n = 6 + (rnd[ri++] & 7);
    for (let w = 0; w < n; w++) {
      out[pos++] = 0x20;
      const word = words[rnd[ri++]];
      for (let k = 0; k < word.length; k++) out[pos++] = word[k];
    }
    out[pos++] = 0x20;
    out[pos++] = 0x69; // i
    out[pos++] = 0x64; // d
    out[pos++] = 0x3d; // =
    for (let k = 0; k < 3; k++) {
      const b = rnd[ri++];
      out[pos++] = HEX[b >> 4];
      out[pos++] = HEX[b & 15];
    }
    out[pos++] = 0x0a;
  }
  return out.subarray(0, size);
}

export function binaryContent(seed: string, label: string, size: number): Buffer {
  return randomBytesFor(seed, label, size);
}
