// The .intunewin writer and reader, without Microsoft's Windows-only IntuneWinAppUtil (format: docs/intunewin.md).
import { Buffer } from 'node:buffer';
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';

import { type ApplicationInfo, type EncryptionInfo, type MsiInfo, parseDetectionXml, renderDetectionXml } from './detection-xml.js';
import { unzipBuffer, zipBuffers } from './zip.js';

export type { ApplicationInfo, EncryptionInfo, MsiInfo } from './detection-xml.js';

export const CONTENT_ENTRY = 'IntuneWinPackage/Contents/IntunePackage.intunewin';
export const DETECTION_ENTRY = 'IntuneWinPackage/Metadata/Detection.xml';
const MAC_LENGTH = 32;
const IV_LENGTH = 16;

export interface IntuneWinInput {
  /** The setup file Intune runs (the MSI); zipped at the root of the content. */
  setupFile: string;
  /** Further files of the setup folder (zipped beside the setup file). */
  extraFiles?: string[];
  outFile: string;
  /** MSI metadata for Detection.xml; omit for a non-MSI setup file. */
  msi?: MsiInfo;
  /** Display name; defaults to the MSI product name or the setup file name. */
  name?: string;
  /** Key material for reproducible output in tests; random when omitted (as it must be in production). */
  keys?: ContentKeys;
}

export interface IntuneWinResult {
  outFile: string;
  info: ApplicationInfo;
  /** Size of the encrypted inner file (what Graph calls sizeEncrypted). */
  encryptedSize: number;
  detectionXml: string;
}

export interface EncryptedContent {
  data: Buffer;
  info: EncryptionInfo;
}

export interface ContentKeys {
  encryptionKey: Buffer;
  macKey: Buffer;
  iv: Buffer;
}

/** AES-256-CBC (PKCS7) with a fresh key and IV, then HMAC-SHA256 over IV‖ciphertext: [MAC][IV][ciphertext]. */
export function encryptContent(
  plain: Buffer,
  keys: ContentKeys = { encryptionKey: randomBytes(32), macKey: randomBytes(32), iv: randomBytes(IV_LENGTH) },
): EncryptedContent {
  if (keys.encryptionKey.length !== 32 || keys.macKey.length !== 32 || keys.iv.length !== IV_LENGTH) {
    throw new Error('intunewin: keys must be 32 bytes (AES and MAC) and the IV 16 bytes');
  }
  const cipher = createCipheriv('aes-256-cbc', keys.encryptionKey, keys.iv);
  const body = Buffer.concat([keys.iv, cipher.update(plain), cipher.final()]);
  const mac = createHmac('sha256', keys.macKey).update(body).digest();
  return {
    data: Buffer.concat([mac, body]),
    info: {
      encryptionKey: keys.encryptionKey.toString('base64'),
      macKey: keys.macKey.toString('base64'),
      initializationVector: keys.iv.toString('base64'),
      mac: mac.toString('base64'),
      profileIdentifier: 'ProfileVersion1',
      fileDigest: createHash('sha256').update(plain).digest('base64'),
      fileDigestAlgorithm: 'SHA256',
    },
  };
}

/** Checks the MAC (against the file and against Detection.xml), decrypts, checks the digest. Throws on any mismatch. */
export function decryptContent(data: Buffer, info: EncryptionInfo): Buffer {
  if (data.length < MAC_LENGTH + IV_LENGTH + 16) throw new Error('intunewin: encrypted content is too short');
  const mac = data.subarray(0, MAC_LENGTH);
  const body = data.subarray(MAC_LENGTH);
  const iv = body.subarray(0, IV_LENGTH);
  const expected = createHmac('sha256', Buffer.from(info.macKey, 'base64')).update(body).digest();
  if (!timingSafeEqual(mac, expected)) throw new Error('intunewin: MAC mismatch: the content was altered or the MAC key is wrong');
  if (!mac.equals(Buffer.from(info.mac, 'base64'))) throw new Error('intunewin: the MAC in the file differs from the Mac in Detection.xml');
  if (!iv.equals(Buffer.from(info.initializationVector, 'base64'))) throw new Error('intunewin: the IV in the file differs from Detection.xml');
  const decipher = createDecipheriv('aes-256-cbc', Buffer.from(info.encryptionKey, 'base64'), iv);
  const plain = Buffer.concat([decipher.update(body.subarray(IV_LENGTH)), decipher.final()]);
  const digest = createHash('sha256').update(plain).digest('base64');
  if (digest !== info.fileDigest) throw new Error('intunewin: FileDigest mismatch after decryption');
  return plain;
}

/** Build an .intunewin from a setup file (e.g. an MSI) exactly as Intune expects it. */
export async function writeIntuneWin(input: IntuneWinInput): Promise<IntuneWinResult> {
  const setupName = basename(input.setupFile);
  const files = [input.setupFile, ...(input.extraFiles ?? [])];
  const contentZip = await zipBuffers(await Promise.all(files.map(async (f) => ({ name: basename(f), data: await readFile(f), compress: true }))));
  const encrypted = encryptContent(contentZip, input.keys);
  const info: ApplicationInfo = {
    name: input.name ?? input.msi?.productName ?? setupName,
    unencryptedContentSize: contentZip.length,
    fileName: 'IntunePackage.intunewin',
    setupFile: setupName,
    encryptionInfo: encrypted.info,
    ...(input.msi && { msiInfo: input.msi }),
  };
  const detectionXml = renderDetectionXml(info);
  const outer = await zipBuffers([
    { name: CONTENT_ENTRY, data: encrypted.data, compress: false },
    { name: DETECTION_ENTRY, data: Buffer.from(detectionXml, 'utf8'), compress: false },
  ]);
  await writeFile(input.outFile, outer);
  return { outFile: input.outFile, info, encryptedSize: encrypted.data.length, detectionXml };
}

export interface IntuneWinPackage {
  info: ApplicationInfo;
  detectionXml: string;
  /** The encrypted inner file: what gets uploaded to Intune's storage. */
  encrypted: Buffer;
}

/** Open an .intunewin: its Detection.xml and the encrypted content. */
export async function readIntuneWin(file: string): Promise<IntuneWinPackage> {
  const entries = await unzipBuffer(await readFile(file));
  const xml = entries.get(DETECTION_ENTRY);
  const encrypted = entries.get(CONTENT_ENTRY);
  if (!xml || !encrypted) throw new Error(`${file}: not an .intunewin (needs ${CONTENT_ENTRY} and ${DETECTION_ENTRY})`);
  const detectionXml = xml.toString('utf8');
  return { info: parseDetectionXml(detectionXml), detectionXml, encrypted };
}

/** Decrypt an .intunewin back to its setup files (the round trip Intune's agent performs). */
export async function extractIntuneWin(file: string): Promise<{ info: ApplicationInfo; files: Map<string, Buffer> }> {
  const pkg = await readIntuneWin(file);
  const zip = decryptContent(pkg.encrypted, pkg.info.encryptionInfo);
  if (zip.length !== pkg.info.unencryptedContentSize) throw new Error('intunewin: UnencryptedContentSize does not match the decrypted content');
  return { info: pkg.info, files: await unzipBuffer(zip) };
}
