// Key escrow: the device key wrapped for the company's public key, kept with the device's data as the blob
// "key-escrow", so an admin holding the company private key can restore a device whose key is lost.
// RSA keys: RSA-OAEP with SHA-256. EC (P-256/384/521) and X25519/X448 keys: ephemeral ECDH, HKDF-SHA256,
// AES-256-GCM. The format is in docs/design.md, "Backup engine".
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  constants,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import type { ChunkStore } from '../store.js';

export const ESCROW_BLOB = 'key-escrow';
const AAD = Buffer.from('holdfast-key-escrow-v1');

export interface EscrowRecord {
  v: 1;
  alg: 'RSA-OAEP-256' | 'ECDH-ES+HKDF-SHA256+A256GCM';
  /** SHA-256 of the company public key (SPKI DER), hex: which company key can open it. */
  companyKey: string;
  /** The wrapped device key (base64). */
  wrapped: string;
  /** ECDH only: ephemeral public key (SPKI DER, base64), GCM nonce and tag (base64). */
  epk?: string;
  nonce?: string;
  tag?: string;
  deviceId?: string;
  createdAt: string;
}

export class EscrowError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EscrowError';
  }
}

export function companyKeyFingerprint(pub: KeyObject): string {
  return createHash('sha256')
    .update(pub.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}

function publicKeyOf(pem: string): KeyObject {
  try {
    return createPublicKey(pem);
  } catch (err) {
    throw new EscrowError(`the company escrow key is not a usable public key (PEM, RSA or EC): ${(err as Error).message}`);
  }
}

function kdf(shared: Buffer, epkDer: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, epkDer, 'holdfast/v1/key-escrow', 32));
}

export function wrapDeviceKey(deviceKey: Uint8Array, companyPublicKeyPem: string, deviceId?: string): EscrowRecord {
  const pub = publicKeyOf(companyPublicKeyPem);
  const base = { v: 1 as const, companyKey: companyKeyFingerprint(pub), createdAt: new Date().toISOString(), ...(deviceId && { deviceId }) };
  const type = pub.asymmetricKeyType;
  if (type === 'rsa' || type === 'rsa-pss') {
    const wrapped = publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, deviceKey);
    return { ...base, alg: 'RSA-OAEP-256', wrapped: wrapped.toString('base64') };
  }
  if (type === 'ec' || type === 'x25519' || type === 'x448') {
    const eph = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: pub.asymmetricKeyDetails!.namedCurve! }) : generateKeyPairSync(type as 'x25519');
    const epkDer = eph.publicKey.export({ type: 'spki', format: 'der' });
    const kek = kdf(diffieHellman({ privateKey: eph.privateKey, publicKey: pub }), epkDer);
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', kek, nonce);
    c.setAAD(AAD);
    const wrapped = Buffer.concat([c.update(deviceKey), c.final()]);
    return {
      ...base,
      alg: 'ECDH-ES+HKDF-SHA256+A256GCM',
      wrapped: wrapped.toString('base64'),
      epk: epkDer.toString('base64'),
      nonce: nonce.toString('base64'),
      tag: c.getAuthTag().toString('base64'),
    };
  }
  throw new EscrowError(`company escrow key type ${type} is not supported (use RSA, EC P-256/P-384/P-521 or X25519)`);
}

export function unwrapDeviceKey(record: EscrowRecord, companyPrivateKeyPem: string, passphrase?: string): Buffer {
  let priv: KeyObject;
  try {
    priv = createPrivateKey(passphrase === undefined ? companyPrivateKeyPem : { key: companyPrivateKeyPem, passphrase });
  } catch (err) {
    throw new EscrowError(`the company private key cannot be read (PEM; pass --passphrase if it is encrypted): ${(err as Error).message}`);
  }
  if (companyKeyFingerprint(createPublicKey(priv)) !== record.companyKey) {
    throw new EscrowError(`this device's key was escrowed for another company key (fingerprint ${record.companyKey.slice(0, 16)}...)`);
  }
  try {
    if (record.alg === 'RSA-OAEP-256') {
      return privateDecrypt({ key: priv, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, Buffer.from(record.wrapped, 'base64'));
    }
    if (record.alg === 'ECDH-ES+HKDF-SHA256+A256GCM') {
      const epkDer = Buffer.from(record.epk ?? '', 'base64');
      const epk = createPublicKey({ key: epkDer, format: 'der', type: 'spki' });
      const kek = kdf(diffieHellman({ privateKey: priv, publicKey: epk }), epkDer);
      const d = createDecipheriv('aes-256-gcm', kek, Buffer.from(record.nonce ?? '', 'base64'));
      d.setAAD(AAD);
      d.setAuthTag(Buffer.from(record.tag ?? '', 'base64'));
      return Buffer.concat([d.update(Buffer.from(record.wrapped, 'base64')), d.final()]);
    }
  } catch {
    throw new EscrowError('the escrowed device key failed to unwrap (damaged escrow record)');
  }
  throw new EscrowError(`unknown escrow algorithm ${String(record.alg)}`);
}

export function parseEscrowRecord(data: Uint8Array): EscrowRecord {
  let rec: EscrowRecord;
  try {
    rec = JSON.parse(Buffer.from(data).toString('utf8')) as EscrowRecord;
  } catch {
    throw new EscrowError('the key-escrow record is damaged (not JSON)');
  }
  if (rec?.v !== 1 || typeof rec.wrapped !== 'string' || typeof rec.companyKey !== 'string') {
    throw new EscrowError('the key-escrow record has an unknown format');
  }
  return rec;
}

/** Store the escrow record unless the store already holds one for this company key. Returns true if written. */
export async function ensureEscrow(store: ChunkStore, deviceKey: Uint8Array, companyPublicKeyPem: string, deviceId?: string): Promise<boolean> {
  const want = companyKeyFingerprint(publicKeyOf(companyPublicKeyPem));
  const existing = await store.getBlob(ESCROW_BLOB);
  if (existing) {
    try {
      if (parseEscrowRecord(existing).companyKey === want) return false;
    } catch {
      // damaged: replace it
    }
  }
  const rec = wrapDeviceKey(deviceKey, companyPublicKeyPem, deviceId);
  await store.putBlob(ESCROW_BLOB, Buffer.from(JSON.stringify(rec)));
  return true;
}

/** The device key, recovered from the store's escrow record with the company private key. */
export async function recoverDeviceKey(store: ChunkStore, companyPrivateKeyPem: string, passphrase?: string): Promise<Buffer> {
  const blob = await store.getBlob(ESCROW_BLOB);
  if (!blob) throw new EscrowError('this device has no escrowed key (its config carried no company public key when it backed up)');
  return unwrapDeviceKey(parseEscrowRecord(blob), companyPrivateKeyPem, passphrase);
}
