// A throw-away PKI made with the openssl CLI for the signing tests: root CA -> intermediate CA -> signing certificate,
// a time-stamping certificate (critical timeStamping EKU, as `openssl ts -reply` demands), and PKCS#12 bundles.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestPki {
  dir: string;
  rootCert: string;
  intermediateCert: string;
  /** Signing certificate (leaf) PEM, and leaf + intermediate PEM. */
  leafCert: string;
  chainCert: string;
  /** Leaf key, unencrypted and encrypted with `password`. */
  leafKey: string;
  leafKeyEncrypted: string;
  /** Leaf key + leaf + intermediate, protected by `password`. */
  pkcs12: string;
  password: string;
  tsaCert: string;
  tsaKey: string;
}

const openssl = (args: string[], cwd: string) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

function issue(dir: string, name: string, subject: string, issuer: { cert: string; key: string } | undefined, ext: string): void {
  writeFileSync(join(dir, `${name}.ext`), `[v3]\n${ext}\n`);
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', `${name}.key`], dir);
  if (!issuer) {
    openssl(
      ['req', '-x509', '-new', '-key', `${name}.key`, '-subj', subject, '-days', '30', '-out', `${name}.pem`, '-extensions', 'v3', '-config', `${name}.ext`],
      dir,
    );
    return;
  }
  openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`], dir);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      issuer.cert,
      '-CAkey',
      issuer.key,
      '-CAcreateserial',
      '-days',
      '30',
      '-out',
      `${name}.pem`,
      '-extfile',
      `${name}.ext`,
      '-extensions',
      'v3',
    ],
    dir,
  );
}

/** Creates the PKI in `dir` (about a second of key generation). */
export function makeTestPki(dir: string, leafSubject: string, leafEku: string): TestPki {
  const password = 'pki-pass-9f2c';
  const ca = 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash';
  issue(dir, 'root', '/O=Holdfast Test/CN=Holdfast Test Root CA', undefined, ca);
  issue(dir, 'intermediate', '/O=Holdfast Test/CN=Holdfast Test Intermediate CA', { cert: 'root.pem', key: 'root.key' }, `${ca}\nauthorityKeyIdentifier=keyid`);
  issue(
    dir,
    'leaf',
    leafSubject,
    { cert: 'intermediate.pem', key: 'intermediate.key' },
    `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=${leafEku}\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid`,
  );
  issue(
    dir,
    'tsa',
    '/O=Holdfast Test/CN=Holdfast Test TSA',
    { cert: 'root.pem', key: 'root.key' },
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping',
  );
  const pem = (f: string) => execFileSync('cat', [join(dir, f)], { encoding: 'utf8' });
  writeFileSync(join(dir, 'chain.pem'), pem('leaf.pem') + pem('intermediate.pem'));
  writeFileSync(join(dir, 'password'), password);
  openssl(['pkey', '-in', 'leaf.key', '-aes256', '-passout', 'file:password', '-out', 'leaf-encrypted.key'], dir);
  openssl(
    ['pkcs12', '-export', '-inkey', 'leaf.key', '-in', 'leaf.pem', '-certfile', 'intermediate.pem', '-passout', 'file:password', '-out', 'leaf.p12'],
    dir,
  );
  const at = (f: string) => join(dir, f);
  return {
    dir,
    rootCert: at('root.pem'),
    intermediateCert: at('intermediate.pem'),
    leafCert: at('leaf.pem'),
    chainCert: at('chain.pem'),
    leafKey: at('leaf.key'),
    leafKeyEncrypted: at('leaf-encrypted.key'),
    pkcs12: at('leaf.p12'),
    password,
    tsaCert: at('tsa.pem'),
    tsaKey: at('tsa.key'),
  };
}
