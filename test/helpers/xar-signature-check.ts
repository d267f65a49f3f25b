// An independent check of a signed xar (flat pkg), with openssl doing every cryptographic step: the TOC checksum is
// `openssl dgst -sha1` of the compressed TOC and must equal the one stored in the heap; the RSA signature must verify
// over that checksum (`openssl pkeyutl -verify -pkeyopt digest:sha1`) with the first certificate of the TOC; the TOC's
// certificates must chain to the given CA (`openssl verify`); and bsdtar must extract every member, which checks each
// member against the archived checksum the signed TOC holds. Nothing here comes from installers/.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { tool } from './pkg-readers.js';

export interface XarSignatureReport {
  ok: boolean;
  /** Why it failed, one line per failed step. */
  problems: string[];
  /** Subjects of the TOC's certificates, signing certificate first. */
  subjects: string[];
  signatureSize?: number;
}

const run = (cmd: string, args: string[], cwd: string) => spawnSync(cmd, args, { cwd, encoding: 'utf8' });

function xpath(tocFile: string, expr: string): string {
  const r = spawnSync(tool('xmllint'), ['--nonet', '--xpath', expr, tocFile], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

export function checkXarSignature(file: string, caFile: string, workRoot: string): XarSignatureReport {
  const work = mkdtempSync(join(workRoot, 'xar-check-'));
  const problems: string[] = [];
  const subjects: string[] = [];
  try {
    const data = readFileSync(file);
    if (data.subarray(0, 4).toString('latin1') !== 'xar!') return { ok: false, problems: ['no xar magic'], subjects };
    const headerSize = data.readUInt16BE(4);
    // The header is outside what the signature covers; readers accept only this one.
    if (headerSize !== 28 || data.readUInt16BE(6) !== 1) return { ok: false, problems: ['not a version 1 xar header of 28 bytes'], subjects };
    const tocLength = Number(data.readBigUInt64BE(8));
    if (data.readUInt32BE(24) !== 1) problems.push('checksum algorithm is not SHA-1');
    const tocZ = data.subarray(headerSize, headerSize + tocLength);
    const heap = headerSize + tocLength;
    writeFileSync(join(work, 'toc.z'), tocZ);
    let tocXml: Buffer;
    try {
      tocXml = inflateSync(tocZ);
    } catch {
      return { ok: false, problems: ['the TOC does not inflate'], subjects };
    }
    if (tocXml.length !== Number(data.readBigUInt64BE(16))) problems.push('uncompressed TOC length differs from the header');
    const toc = join(work, 'toc.xml');
    writeFileSync(toc, tocXml);
    const num = (expr: string) => Number.parseInt(xpath(toc, `string(${expr})`), 10);
    const sumOffset = num('/xar/toc/checksum/offset');
    const sumSize = num('/xar/toc/checksum/size');
    const sigOffset = num('/xar/toc/signature[@style="RSA"]/offset');
    const sigSize = num('/xar/toc/signature[@style="RSA"]/size');
    if ([sumOffset, sumSize, sigOffset, sigSize].some(Number.isNaN))
      return { ok: false, problems: [...problems, 'the TOC has no checksum or RSA signature'], subjects };

    const computed = execFileSync('openssl', ['dgst', '-sha1', '-binary', 'toc.z'], { cwd: work });
    writeFileSync(join(work, 'checksum.bin'), computed);
    if (!computed.equals(data.subarray(heap + sumOffset, heap + sumOffset + sumSize)))
      problems.push('stored TOC checksum differs from openssl dgst -sha1 of the TOC');
    writeFileSync(join(work, 'sig.bin'), data.subarray(heap + sigOffset, heap + sigOffset + sigSize));

    const certs = xpath(toc, '//*[local-name()="X509Certificate"]/text()').split(/\s+/).filter(Boolean);
    if (!certs.length) problems.push('no certificate in the TOC');
    certs.forEach((b64, i) => {
      writeFileSync(join(work, `cert${i}.der`), Buffer.from(b64, 'base64'));
      if (run('openssl', ['x509', '-inform', 'DER', '-in', `cert${i}.der`, '-out', `cert${i}.pem`], work).status !== 0)
        problems.push(`certificate ${i} is not DER X.509`);
      const r = run('openssl', ['x509', '-in', `cert${i}.pem`, '-noout', '-subject'], work);
      subjects.push(r.stdout.trim().replace(/^subject=\s*/, ''));
    });
    if (certs.length) {
      const sig = run(
        'openssl',
        ['pkeyutl', '-verify', '-certin', '-inkey', 'cert0.pem', '-in', 'checksum.bin', '-sigfile', 'sig.bin', '-pkeyopt', 'digest:sha1'],
        work,
      );
      if (!/Signature Verified Successfully/.test(sig.stdout))
        problems.push(`RSA signature over the TOC checksum does not verify: ${(sig.stdout + sig.stderr).trim()}`);
      writeFileSync(
        join(work, 'untrusted.pem'),
        certs
          .slice(1)
          .map((_, i) => readFileSync(join(work, `cert${i + 1}.pem`), 'utf8'))
          .join(''),
      );
      const chain = run('openssl', ['verify', '-CAfile', caFile, ...(certs.length > 1 ? ['-untrusted', 'untrusted.pem'] : []), 'cert0.pem'], work);
      if (chain.status !== 0 || !/: OK/.test(chain.stdout)) problems.push(`certificate chain does not verify: ${(chain.stdout + chain.stderr).trim()}`);
    }
    const out = join(work, 'members');
    mkdirSync(out);
    const x = run(tool('bsdtar'), ['-xf', file, '-C', out], work);
    if (x.status !== 0) problems.push(`bsdtar cannot extract every member: ${x.stderr.trim()}`);
    return { ok: problems.length === 0, problems, subjects, signatureSize: sigSize };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
