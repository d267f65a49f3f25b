// The restore workers authenticate chunks (codec.ts openChunk, on the worker thread) and write
// the files themselves: byte-identical with mode and mtime, nothing at the destination and no temporary file
// left when a chunk fails, big files across several units, half-written files discarded on close.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCipheriv, createHmac, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync } from 'node:zlib';
import { deriveKeys } from '../agent/engine/keys.js';
import { openChunk } from '../agent/engine/codec.js';
import { RestoreWorkerPool, type FileTask, type RestoreUnit } from '../agent/engine/restore-worker.js';
import { tempDir } from './helpers/server.js';
import { ChunkLease } from '../agent/store.js';

const keys = deriveKeys(randomBytes(32));
const pool = new RestoreWorkerPool(keys, 2);
let dir: string;

beforeAll(async () => {
  dir = await tempDir('holdfast-restore-worker-');
});
afterAll(async () => {
  await pool.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Seal a chunk in the on-disk format (docs/design.md, "Backup engine"): version, flags, nonce, ciphertext, tag. */
function seal(plain: Buffer, compress: boolean): { id: string; data: Buffer } {
  return sealBody(plain, compress ? brotliCompressSync(plain) : plain, compress ? 1 : 0);
}

/** Seal `body` (the plaintext, or it compressed as `flag` says: 1 brotli, 2 zstd) under the plaintext's id. */
function sealBody(plain: Buffer, body: Buffer, flag: number): { id: string; data: Buffer } {
  const idBytes = createHmac('sha256', keys.idKey).update(plain).digest();
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keys.encKey, nonce);
  cipher.setAAD(idBytes);
  const ct = Buffer.concat([cipher.update(body), cipher.final()]);
  return { id: idBytes.toString('hex'), data: Buffer.concat([Buffer.from([1, flag]), nonce, ct, cipher.getAuthTag()]) };
}

const authFailure = (id: string, reason: string): string => `chunk ${id} failed authentication (${reason})`;

/** 400 lines of text and the zstd frame Node 22's zlib made of them (level 1, window 2^17), as an endpoint writes it. */
const ZSTD_PLAIN = Buffer.from(Array.from({ length: 400 }, (_, i) => `zstd fixture line ${i} of the restore test\n`).join(''));
const ZSTD_FRAME = Buffer.from(
  'KLUv/WAyQM0NAEbdPxSwmw4nS0yNpBpmJaWUKaUkzZGuBEgANAA0ADMzMzMjIiIiIvL////btm3bbdu2LUmSJLlt27aikbscAMPCAEPAgEICw8KAQsBAAUMAQUJABAwgGBwEDCg0MDgYEAQIMCw8BERERDMzMzMzIiIiIiL///+/bdu23bZt25IkSZLbtm1bLBaLxWKxWCxWVVVVVUVERERENAFVRUREREQ0MzMzMyMiIiIi8v///9u2bdtt27YtSZIkuW3btgWDwWAwGAwGg1VVVVVVREQBVVVVVVVERERERDMzMzMzIiIiIiL///+/bdu23bZt25IkSZLbtm1bNBqNRqPRaDRaVVVVAYGQqCHo7v8b0TeqAxL4VxBQEPgv9QchhSpQhYogKSiBJlCCiqAYJIEmUDL52SyTz2W5zLBAykIRtIIkpARKQQk0giKUBMpAgfNcPpfLZfJ8QSWogkWwFJRAFShBRVAUkkATKEFZcKpm0zqXfjNpyaO/LFrk0D+D1vnzmz3v12Lv+7r83b6Wf9+t5ev3Zfndfi1+313L1/fl8lva+ctZ3/zVLDN/MQsv/5Y1s/JDyQRGiAITsQBUFQ==',
  'base64',
);

let nextKey = 0;
function task(dest: string, size: number, chunks: number[], extra: Partial<FileTask> = {}): FileTask {
  return { key: nextKey++, dest, mode: 0o644, mtime: 1_600_000_000.1234565, size, chunks, first: true, last: true, ...extra };
}

/** A unit as a restore hands it over: the fetched chunks in a lease (of the caller's buffers), the missing ones with their message. */
function unit(chunks: Array<{ id: string; data: Buffer | string }>, files: FileTask[]): RestoreUnit {
  const fetched = chunks.filter((c): c is { id: string; data: Buffer } => typeof c.data !== 'string');
  const failed = new Map(chunks.flatMap((c) => (typeof c.data === 'string' ? [[c.id, c.data] as const] : [])));
  const lease = new ChunkLease(
    fetched.map((c) => c.id),
    fetched.map((c) => c.data),
  );
  return { ids: chunks.map((c) => c.id), leases: [lease], failed, files };
}

describe('restore workers', () => {
  it('write files byte-identically with mode and mtime (to the microsecond), sharing chunks; caller buffers intact', async () => {
    const out = join(dir, 'ok');
    mkdirSync(out);
    const text = Buffer.from('line of log text with some repeats\n'.repeat(5000));
    const random = randomBytes(300_000);
    const a = seal(text, true);
    const b = seal(random, false);
    const before = [Buffer.from(a.data), Buffer.from(b.data)];
    const both = task(join(out, 'both.bin'), text.length + random.length, [0, 1], { mode: 0o750 });
    const again = task(join(out, 'text.log'), text.length, [0], { mode: 0o600 });
    const empty = task(join(out, 'empty'), 0, []);
    const r = await pool.run(unit([a, b], [both, again, empty]), pool.pick());
    expect(r.failed).toEqual([]);
    expect(r.ok.sort()).toEqual([both.key, again.key, empty.key].sort());
    expect(r.written).toEqual([text.length + random.length, text.length, 0]);
    expect(readFileSync(both.dest).equals(Buffer.concat([text, random]))).toBe(true);
    expect(readFileSync(again.dest).equals(text)).toBe(true);
    expect(readFileSync(empty.dest).length).toBe(0);
    expect(lstatSync(both.dest).mode & 0o7777).toBe(0o750);
    expect(lstatSync(again.dest).mode & 0o7777).toBe(0o600);
    const st = lstatSync(both.dest, { bigint: true });
    expect(st.mtimeNs / 1000n).toBe(1_600_000_000_123_456n);
    expect(a.data.equals(before[0]) && b.data.equals(before[1])).toBe(true);
    expect(readdirSync(out).sort()).toEqual(['both.bin', 'empty', 'text.log']);
  });

  it('many units at once over both workers: every result goes to its own unit', async () => {
    const out = join(dir, 'many');
    mkdirSync(out);
    const chunks = Array.from({ length: 12 }, (_, i) => seal(Buffer.from(`chunk ${i} `.repeat(1000 + i)), i % 2 === 0));
    const results = await Promise.all(
      chunks.map((c, i) => pool.run(unit([c], [task(join(out, `f${i}`), `chunk ${i} `.length * (1000 + i), [0])]), pool.pick())),
    );
    results.forEach((r) => {
      expect(r.failed).toEqual([]);
    });
    chunks.forEach((_, i) => {
      expect(readFileSync(join(out, `f${i}`), 'utf8')).toBe(`chunk ${i} `.repeat(1000 + i));
    });
  });

  it('fails each file with a tampered chunk alone, with the reason and the chunk id; nothing left behind', async () => {
    const out = join(dir, 'bad');
    mkdirSync(out);
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
    const bothCodecs = seal(Buffer.from('brotli and zstd at once'), false);
    bothCodecs.data[1] = 3;
    const badZstd = sealBody(Buffer.from('not zstd inside'), Buffer.from('not zstd inside'), 2);
    const bad = [flipped, swapped, short, version, flags, bothCodecs, badZstd];
    const reasons = [
      'GCM tag mismatch',
      'GCM tag mismatch',
      'too short',
      'unknown format version 2',
      'unknown flags 4',
      'unknown flags 3',
      'corrupt compressed data',
    ];
    const missing = { id: seal(Buffer.from('never stored'), false).id, data: 'chunk is missing from the server' };
    const all = [good, ...bad, missing];
    // Each bad file starts with the good chunk, so a failure must also undo bytes already written.
    const files = all.map((_c, i) => task(join(out, `f${i}`), 9999, i === 0 ? [0] : [0, i], { size: i === 0 ? 2000 : 9999 }));
    const r = await pool.run(unit(all, files), pool.pick());
    expect(r.ok).toEqual([files[0].key]);
    expect(readFileSync(files[0].dest, 'utf8')).toBe('untouched neighbour '.repeat(100));
    expect(r.failed).toHaveLength(bad.length + 1);
    bad.forEach((c, i) => {
      const f = r.failed.find((x) => x.key === files[i + 1].key)!;
      expect(f.message).toBe(authFailure(c.id, reasons[i]));
      expect(f.chunkId).toBe(c.id);
    });
    expect(r.failed.find((x) => x.key === files[all.length - 1].key)).toEqual({
      key: files[all.length - 1].key,
      message: 'chunk is missing from the server',
      chunkId: missing.id,
    });
    expect(readdirSync(out)).toEqual(['f0']);
  });

  it('applies modes the umask would strip (0666, 0777) and special bits (setuid, sticky) exactly', async () => {
    const out = join(dir, 'modes');
    mkdirSync(out);
    const c = seal(Buffer.from('mode test '.repeat(50)), false);
    const modes = [0o666, 0o777, 0o4755, 0o1777, 0o644, 0o600, 0o400];
    const files = modes.map((mode, i) => task(join(out, `m${i}`), 500, [0], { mode }));
    const old = process.umask(0o022);
    try {
      const r = await pool.run(unit([c], files), pool.pick());
      expect(r.ok).toHaveLength(modes.length);
    } finally {
      process.umask(old);
    }
    expect(files.map((f) => lstatSync(f.dest).mode & 0o7777)).toEqual(modes);
  });

  it('opens zstd chunks (flag 2), natively where the runtime has zstd and with fzstd where not (worker and main thread)', async () => {
    const out = join(dir, 'zstd');
    mkdirSync(out);
    const c = sealBody(ZSTD_PLAIN, ZSTD_FRAME, 2);
    expect(openChunk(keys, c.id, c.data).equals(ZSTD_PLAIN)).toBe(true);
    const t = task(join(out, 'from-zstd.log'), ZSTD_PLAIN.length, [0]);
    const r = await pool.run(unit([c], [t]), pool.pick());
    expect(r).toEqual({ ok: [t.key], failed: [], written: [ZSTD_PLAIN.length] });
    expect(readFileSync(t.dest).equals(ZSTD_PLAIN)).toBe(true);
  });

  it('a file across several units: parts in order on one worker; a bad chunk in a later part leaves nothing', async () => {
    const out = join(dir, 'parts');
    mkdirSync(out);
    const pieces = [randomBytes(200_000), Buffer.from('text '.repeat(50_000)), randomBytes(70_000)];
    const sealed = pieces.map((p, i) => seal(p, i === 1));
    const size = pieces.reduce((n, p) => n + p.length, 0);
    const w = pool.pick();
    const whole = { key: nextKey++, dest: join(out, 'big.bin'), mode: 0o640, mtime: 1_700_000_000.5, size };
    const r1 = await pool.run(unit([sealed[0]], [{ ...whole, chunks: [0], first: true, last: false }]), w);
    expect(r1).toEqual({ ok: [], failed: [], written: [pieces[0].length] });
    expect(existsSync(whole.dest)).toBe(false);
    const r2 = await pool.run(unit(sealed.slice(1), [{ ...whole, chunks: [0, 1], first: false, last: true }]), w);
    expect(r2.ok).toEqual([whole.key]);
    expect(readFileSync(whole.dest).equals(Buffer.concat(pieces))).toBe(true);
    expect(lstatSync(whole.dest).mode & 0o777).toBe(0o640);

    const broken = { ...whole, key: nextKey++, dest: join(out, 'broken.bin') };
    const tampered = { ...sealed[1], data: Buffer.from(sealed[1].data) };
    tampered.data[30] ^= 0x10;
    await pool.run(unit([sealed[0]], [{ ...broken, chunks: [0], first: true, last: false }]), w);
    const bad = await pool.run(unit([tampered], [{ ...broken, chunks: [0], first: false, last: false }]), w);
    expect(bad.failed).toEqual([{ key: broken.key, message: authFailure(tampered.id, 'GCM tag mismatch'), chunkId: tampered.id }]);
    // The last part still arrives (it was fetched meanwhile): it is ignored, and nothing appears.
    const late = await pool.run(unit([sealed[2]], [{ ...broken, chunks: [0], first: false, last: true }]), w);
    expect(late).toEqual({ ok: [], failed: [], written: [0] });
    expect(readdirSync(out)).toEqual(['big.bin']);
  });

  it('replaces a symlink planted at the destination (never follows it) and refuses a folder in the way', async () => {
    const out = join(dir, 'hostile');
    mkdirSync(join(out, 'folder'), { recursive: true });
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'precious');
    symlinkSync(victim, join(out, 'link.txt'));
    const c = seal(Buffer.from('restored content'), false);
    const viaLink = task(join(out, 'link.txt'), 16, [0]);
    const onFolder = task(join(out, 'folder'), 16, [0]);
    const r = await pool.run(unit([c], [viaLink, onFolder]), pool.pick());
    expect(r.ok).toEqual([viaLink.key]);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(lstatSync(viaLink.dest).isFile()).toBe(true);
    expect(readFileSync(viaLink.dest, 'utf8')).toBe('restored content');
    expect(r.failed).toEqual([{ key: onFolder.key, message: `refusing to restore ${JSON.stringify(onFolder.dest)}: a folder is in the way of a file` }]);
    expect(readdirSync(out).sort()).toEqual(['folder', 'link.txt']);
  });

  it('close() discards a half-written file and ends the workers', async () => {
    const out = join(dir, 'closing');
    mkdirSync(out);
    const own = new RestoreWorkerPool(keys, 1);
    const c = seal(randomBytes(50_000), false);
    const r = await own.run(unit([c], [task(join(out, 'half.bin'), 100_000, [0], { last: false })]), own.pick());
    expect(r.written).toEqual([50_000]);
    expect(readdirSync(out)).toHaveLength(1); // the temporary file, while the file is open
    await own.close();
    expect(readdirSync(out)).toEqual([]);
    await expect(own.run(unit([c], [task(join(out, 'x'), 50_000, [0])]), 0)).rejects.toThrow(/closed/);
  });
});
