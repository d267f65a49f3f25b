// The product archive's signature, as productsign writes it: RSA PKCS#1 v1.5 over the SHA-1 TOC checksum, taken as an
// already computed digest (DigestInfo(SHA-1, checksum)), with the Developer ID Installer certificate chain in the TOC.
// The identity comes from PEM files (certificate chain + key) or a PKCS#12 bundle, as Keychain Access exports it.
import { X509Certificate, constants, createPrivateKey, createPublicKey, privateEncrypt, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import forge from 'node-forge';
import type { XarSigner } from './xar.js';

/** DER prefix of DigestInfo { sha1, NULL } with a 20-byte digest (RFC 8017 section 9.2, note 1). */
const SHA1_DIGEST_INFO = Buffer.from('3021300906052b0e03021a05000414', 'hex');

export interface InstallerIdentityFiles {
  /** PEM certificate file: the signing certificate first, then any intermediates. */
  certificate?: string;
  /** PEM private key file (may be encrypted; `password` unlocks it). */
  key?: string;
  /** PKCS#12 bundle holding the key and the certificate chain (`password` opens it). */
  pkcs12?: string;
}

export interface InstallerIdentity {
  key: KeyObject;
  /** DER certificates, signing certificate first. */
  chain: Buffer[];
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Orders certificates leaf first: the one whose public key matches the key, then each one's issuer. */
function orderChain(key: KeyObject, ders: Buffer[]): Buffer[] {
  const certs = ders.map((der) => new X509Certificate(der));
  const publicDer = (k: KeyObject) => k.export({ type: 'spki', format: 'der' });
  const mine = publicDer(createPublicKey(key));
  let current = certs.find((c) => publicDer(c.publicKey).equals(mine));
  if (!current) throw new Error('the installer signing certificate does not match its private key');
  const chain: X509Certificate[] = [];
  while (current && !chain.includes(current)) {
    chain.push(current);
    const child: X509Certificate = current;
    current = certs.find((c) => !chain.includes(c) && child.checkIssued(c) && child.verify(c.publicKey));
  }
  return chain.map((c) => c.raw);
}

function fromPkcs12(der: Buffer, password: string | undefined, file: string): { key: KeyObject; certs: Buffer[] } {
  let p12: forge.pkcs12.Pkcs12Pfx;
  try {
    p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(forge.util.createBuffer(der.toString('binary'))), password ?? '');
  } catch (err) {
    // forge's messages name neither the password nor the key material.
    throw new Error(`cannot open the PKCS#12 file ${file}: ${(err as Error).message}`);
  }
  const bags = (type: string) => p12.getBags({ bagType: type })[type] ?? [];
  const keyBag = [...bags(forge.pki.oids.pkcs8ShroudedKeyBag), ...bags(forge.pki.oids.keyBag)].find((b) => b.key);
  if (!keyBag?.key) throw new Error(`the PKCS#12 file ${file} holds no private key`);
  const key = createPrivateKey(forge.pki.privateKeyToPem(keyBag.key));
  const certs = bags(forge.pki.oids.certBag).flatMap((b) =>
    b.cert ? [Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(b.cert)).getBytes(), 'binary')] : [],
  );
  return { key, certs };
}

/** Reads the identity; errors name the file, never the password. */
export async function loadInstallerIdentity(files: InstallerIdentityFiles, password?: string): Promise<InstallerIdentity> {
  let key: KeyObject;
  let certs: Buffer[];
  if (files.pkcs12) {
    ({ key, certs } = fromPkcs12(await readFile(files.pkcs12), password, files.pkcs12));
  } else if (files.certificate && files.key) {
    try {
      key = createPrivateKey({ key: await readFile(files.key), passphrase: password });
    } catch (err) {
      throw new Error(`cannot read the private key ${files.key}${password === undefined ? ' (no password given)' : ''}: ${(err as Error).message}`);
    }
    const pem = await readFile(files.certificate, 'utf8');
    certs = (pem.match(PEM_CERT) ?? []).map((c) => new X509Certificate(c).raw);
    if (!certs.length) throw new Error(`${files.certificate} holds no PEM certificate`);
  } else {
    throw new Error('an installer signing identity needs a PKCS#12 file, or a certificate and a key');
  }
  if (key.asymmetricKeyType !== 'rsa') throw new Error(`the installer signing key is ${key.asymmetricKeyType}: xar signatures need an RSA key`);
  return { key, chain: orderChain(key, certs) };
}

/** The xar signer of an identity: what productsign computes (checked by `openssl pkeyutl -verify -pkeyopt digest:sha1`). */
export function xarSigner(identity: InstallerIdentity): XarSigner {
  const bits = identity.key.asymmetricKeyDetails?.modulusLength;
  if (!bits) throw new Error('cannot tell the RSA key length of the installer signing key');
  return {
    certificates: identity.chain,
    length: Math.ceil(bits / 8),
    sign: (checksum) => privateEncrypt({ key: identity.key, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([SHA1_DIGEST_INFO, checksum])),
  };
}
