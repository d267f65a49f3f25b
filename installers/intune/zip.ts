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

/** Every file entry of a zip, by name. */
export function unzipBuffer(zipData: Buffer): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(zipData, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error('not a zip file'));
      const out = new Map<string, Buffer>();
      zip.on('error', reject);
      zip.on('end', () => resolve(out));
      zip.on('entry', (entry: yauzl.Entry) => {
        if (entry.fileName.endsWith('/')) return zip.readEntry();
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e ?? new Error(`cannot read ${entry.fileName}`));
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('error', reject);
          stream.on('end', () => {
            out.set(entry.fileName, Buffer.concat(chunks));
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

/** Whether every entry of a zip is stored (not deflated): IntuneWinAppUtil stores the outer zip. */
export function zipEntryMethods(zipData: Buffer): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(zipData, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error('not a zip file'));
      const out = new Map<string, number>();
      zip.on('error', reject);
      zip.on('end', () => resolve(out));
      zip.on('entry', (entry: yauzl.Entry) => {
        out.set(entry.fileName, entry.compressionMethod);
        zip.readEntry();
      });
      zip.readEntry();
    });
  });
}
