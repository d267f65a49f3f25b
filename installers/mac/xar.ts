// xar writer: the outer container of a flat package. Layout: 28-byte big-endian header ("xar!"),
// zlib-compressed XML table of contents, then the heap. The heap starts with the SHA-1 of the compressed
// TOC; each file's data follows in TOC order with its archived and extracted SHA-1 in the TOC. A signed archive
// (productsign's layout) carries an RSA signature over that checksum right after it, and its certificates in the TOC.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { once } from 'node:events';
import { deflateSync } from 'node:zlib';
import { xmlEscape } from '../../common/xml.js';

export interface XarFile {
  /** Slash-separated path inside the archive; parent directories are created implicitly. */
  path: string;
  data: Buffer | { file: string };
  /** Octal permission bits, default 0o644. */
  mode?: number;
  /** zlib-encode in the heap (small XML members); big already-compressed members stay stored. */
  compress?: boolean;
}

/** What signs the TOC checksum (installers/mac/pkg-signature.ts makes one from a Developer ID Installer identity). */
export interface XarSigner {
  /** DER certificates, signing certificate first, then its issuers. */
  certificates: Buffer[];
  /** Length of every signature `sign` returns (the RSA modulus length in bytes); reserved in the heap. */
  length: number;
  sign(tocChecksum: Buffer): Buffer;
}

export interface XarOptions {
  /** Mode of implied directories (default 0o755). */
  dirMode?: number;
  mtime?: Date;
  signer?: XarSigner;
}

export const XAR_HEADER_SIZE = 28;
const CKSUM_SHA1 = 1;
const SHA1_LENGTH = 20;

interface Prepared {
  file: XarFile;
  name: string;
  archived: Buffer | { file: string };
  length: number;
  size: number;
  archivedSha1: string;
  extractedSha1: string;
  offset: number;
}

async function sha1OfFile(file: string): Promise<{ sha1: string; size: number }> {
  const h = createHash('sha1');
  let size = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha1: h.digest('hex'), size };
}

const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');

interface DirNode {
  name: string;
  children: Map<string, DirNode>;
  files: Prepared[];
  order: Array<DirNode | Prepared>;
}

function fileXml(p: Prepared, id: number, indent: string, times: string): string {
  const enc = p.file.compress ? 'application/x-gzip' : 'application/octet-stream';
  const mode = (p.file.mode ?? 0o644).toString(8).padStart(4, '0');
  return (
    `${indent}<file id="${id}">\n` +
    `${indent} <data>\n` +
    `${indent}  <length>${p.length}</length>\n` +
    `${indent}  <offset>${p.offset}</offset>\n` +
    `${indent}  <size>${p.size}</size>\n` +
    `${indent}  <encoding style="${enc}"/>\n` +
    `${indent}  <extracted-checksum style="sha1">${p.extractedSha1}</extracted-checksum>\n` +
    `${indent}  <archived-checksum style="sha1">${p.archivedSha1}</archived-checksum>\n` +
    `${indent} </data>\n` +
    times.replaceAll('@', indent) +
    `${indent} <mode>${mode}</mode>\n${indent} <uid>0</uid>\n${indent} <gid>0</gid>\n${indent} <user>root</user>\n${indent} <group>wheel</group>\n` +
    `${indent} <type>file</type>\n${indent} <name>${xmlEscape(p.name, `xar entry name ${JSON.stringify(p.name.slice(0, 80))}`)}</name>\n` +
    `${indent}</file>\n`
  );
}

/** The TOC's `<signature>`: where the RSA signature lies in the heap, and the certificates that check it. */
function signatureXml(signer: XarSigner): string {
  if (!signer.certificates.length) throw new Error('xar: a signature needs at least the signing certificate');
  const certs = signer.certificates.map((der) => `     <X509Certificate>${der.toString('base64')}</X509Certificate>\n`).join('');
  return (
    `  <signature style="RSA">\n   <offset>${SHA1_LENGTH}</offset>\n   <size>${signer.length}</size>\n` +
    `   <KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#">\n    <X509Data>\n${certs}    </X509Data>\n   </KeyInfo>\n  </signature>\n`
  );
}

/** Writes a xar archive of `files` (heap order = given order) to `out`. */
export async function writeXar(out: string, files: XarFile[], opts: XarOptions = {}): Promise<void> {
  const when = (opts.mtime ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const times = `@ <ctime>${when}</ctime>\n@ <mtime>${when}</mtime>\n@ <atime>${when}</atime>\n`;
  const dirMode = (opts.dirMode ?? 0o755).toString(8).padStart(4, '0');

  // Heap: the TOC checksum, the signature (if any), then the members.
  const signer = opts.signer;
  let offset = SHA1_LENGTH + (signer?.length ?? 0);
  const prepared: Prepared[] = [];
  const seen = new Set<string>();
  for (const file of files) {
    if (!file.path || file.path.split('/').some((s) => s === '' || s === '.' || s === '..'))
      throw new Error(`xar: bad member path ${JSON.stringify(file.path)}`);
    if (seen.has(file.path)) throw new Error(`xar: duplicate member ${file.path}`);
    seen.add(file.path);
    let archived: Buffer | { file: string };
    let size: number;
    let extractedSha1: string;
    let archivedSha1: string;
    let length: number;
    if (Buffer.isBuffer(file.data)) {
      size = file.data.length;
      extractedSha1 = sha1(file.data);
      archived = file.compress ? deflateSync(file.data, { level: 9 }) : file.data;
      archivedSha1 = file.compress ? sha1(archived) : extractedSha1;
      length = archived.length;
    } else {
      if (file.compress) throw new Error(`xar: ${file.path}: compress only in-memory members`);
      const h = await sha1OfFile(file.data.file);
      archived = file.data;
      size = length = h.size;
      extractedSha1 = archivedSha1 = h.sha1;
    }
    prepared.push({ file, name: file.path.split('/').at(-1)!, archived, length, size, archivedSha1, extractedSha1, offset });
    offset += length;
  }

  // Nest files under their directories, keeping first-seen order (productbuild: component dir first).
  const root: DirNode = { name: '', children: new Map(), files: [], order: [] };
  for (const p of prepared) {
    let node = root;
    for (const part of p.file.path.split('/').slice(0, -1)) {
      let child = node.children.get(part);
      if (!child) {
        child = { name: part, children: new Map(), files: [], order: [] };
        node.children.set(part, child);
        node.order.push(child);
      }
      node = child;
    }
    node.order.push(p);
  }
  let id = 0;
  const render = (node: DirNode, indent: string): string =>
    node.order
      .map((n) => {
        if ('archived' in n) return fileXml(n, ++id, indent, times);
        const myId = ++id;
        return (
          `${indent}<file id="${myId}">\n` +
          times.replaceAll('@', indent) +
          `${indent} <mode>${dirMode}</mode>\n${indent} <uid>0</uid>\n${indent} <gid>0</gid>\n${indent} <user>root</user>\n${indent} <group>wheel</group>\n` +
          `${indent} <type>directory</type>\n${indent} <name>${xmlEscape(n.name, `xar folder name ${JSON.stringify(n.name.slice(0, 80))}`)}</name>\n` +
          render(n, `${indent} `) +
          `${indent}</file>\n`
        );
      })
      .join('');

  const toc =
    '<?xml version="1.0" encoding="UTF-8"?>\n<xar>\n <toc>\n' +
    `  <creation-time>${when}</creation-time>\n` +
    `  <checksum style="sha1">\n   <offset>0</offset>\n   <size>${SHA1_LENGTH}</size>\n  </checksum>\n` +
    (signer ? signatureXml(signer) : '') +
    render(root, '  ') +
    ' </toc>\n</xar>\n';
  const tocRaw = Buffer.from(toc, 'utf8');
  const tocZ = deflateSync(tocRaw, { level: 9 });

  const header = Buffer.alloc(XAR_HEADER_SIZE);
  header.write('xar!', 0, 'ascii');
  header.writeUInt16BE(XAR_HEADER_SIZE, 4);
  header.writeUInt16BE(1, 6);
  header.writeBigUInt64BE(BigInt(tocZ.length), 8);
  header.writeBigUInt64BE(BigInt(tocRaw.length), 16);
  header.writeUInt32BE(CKSUM_SHA1, 24);

  const ws = createWriteStream(out);
  const write = async (b: Buffer) => {
    if (!ws.write(b)) await once(ws, 'drain');
  };
  const closed = once(ws, 'close');
  try {
    await write(header);
    await write(tocZ);
    const checksum = createHash('sha1').update(tocZ).digest();
    await write(checksum);
    if (signer) {
      const signature = signer.sign(checksum);
      if (signature.length !== signer.length) throw new Error(`xar: the signature has ${signature.length} bytes, ${signer.length} were reserved`);
      await write(signature);
    }
    for (const p of prepared) {
      if (Buffer.isBuffer(p.archived)) await write(p.archived);
      else {
        let n = 0;
        for await (const chunk of createReadStream(p.archived.file, { highWaterMark: 1 << 20 })) {
          n += (chunk as Buffer).length;
          await write(chunk as Buffer);
        }
        if (n !== p.length) throw new Error(`xar: ${p.archived.file} changed while being archived`);
      }
    }
    ws.end();
    await closed;
  } catch (err) {
    ws.destroy();
    throw err;
  }
  const written = (await stat(out)).size;
  if (written !== XAR_HEADER_SIZE + tocZ.length + offset) throw new Error(`xar: wrote ${written} bytes, expected ${XAR_HEADER_SIZE + tocZ.length + offset}`);
}
