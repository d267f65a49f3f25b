// CRC-32 variants the pkg formats need: gzip's reflected CRC-32 (for stitching gzip members) and the
// POSIX `cksum` CRC that Apple's BOM stores per file. Both stream, so 100 MB runtimes never sit in memory twice.

const GZIP_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

const CKSUM_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** gzip/zlib CRC-32; pass the previous value to continue over more data. */
export function crc32(data: Uint8Array, previous = 0): number {
  let c = ~previous >>> 0;
  for (let i = 0; i < data.length; i++) c = GZIP_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** POSIX `cksum` (IEEE 1003.1): CRC over the bytes, then over the length in least-significant-first bytes. */
export class PosixCksum {
  private crc = 0;
  private length = 0;

  update(data: Uint8Array): this {
    let c = this.crc;
    for (let i = 0; i < data.length; i++) c = ((c << 8) ^ CKSUM_TABLE[((c >>> 24) ^ data[i]) & 0xff]) >>> 0;
    this.crc = c;
    this.length += data.length;
    return this;
  }

  digest(): number {
    let c = this.crc;
    for (let n = this.length; n > 0; n = Math.floor(n / 256)) c = ((c << 8) ^ CKSUM_TABLE[((c >>> 24) ^ (n & 0xff)) & 0xff]) >>> 0;
    return ~c >>> 0;
  }
}

export function posixCksum(data: Uint8Array): number {
  return new PosixCksum().update(data).digest();
}
