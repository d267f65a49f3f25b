// Small promise wrappers over yazl (write) and yauzl (read) for the .intunewin containers.
import { Buffer } from 'node:buffer';
import yauzl from 'yauzl';
import yazl from 'yazl';

export interface ZipEntryInput {
  name: string;
  data: Buffer;
  /** Deflate (true) or store (false). */
  compress: boolean;
}

// A fixed timestamp keeps packages reproducible for the same inputs and keys.
const FIXED_MTIME = new Date('2020-01-01T00:00:00Z');

export function zipBuffers(entries: ZipEntryInput[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const e of entries) zip.addBuffer(e.data, e.name, { compress: e.compress, mtime: FIXED_MTIME });
  zip.end();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c));
    zip.outputStream.on('error', reject);
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

/** Walk a zip's entries in order; `onEntry` reads an entry (or not) and resolves when done with it. */
function eachEntry(zipData: Buffer, onEntry: (zip: yauzl.ZipFile, entry: yauzl.Entry) => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(zipData, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error('not a zip file'));
      zip.on('error', reject);
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        onEntry(zip, entry).then(() => zip.readEntry(), reject);
      });
      zip.readEntry();
    });
  });
}

function readEntry(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    zip.openReadStream(entry, (err, stream) => {
      if (err || !stream) return reject(err ?? new Error(`cannot read ${entry.fileName}`));
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', reject);
      stream.on('end', () => resolve(Buffer.concat(chunks)));
    });
  });
}

/** Every file entry of a zip, by name. */
export async function unzipBuffer(zipData: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  await eachEntry(zipData, async (zip, entry) => {
    if (!entry.fileName.endsWith('/')) out.set(entry.fileName, await readEntry(zip, entry));
  });
  return out;
}

/** Compression method per entry (0 stored, 8 deflate): IntuneWinAppUtil stores the outer zip. */
export async function zipEntryMethods(zipData: Buffer): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  await eachEntry(zipData, async (_zip, entry) => {
    out.set(entry.fileName, entry.compressionMethod);
  });
  return out;
}
