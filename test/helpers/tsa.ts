// A local RFC 3161 time-stamping authority for the signing tests: `openssl ts -reply` behind an HTTP handler on
// 127.0.0.1 (port 0), as osslsigncode's -ts posts application/timestamp-query and expects application/timestamp-reply.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { writeFile, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface LocalTsa {
  url: string;
  /** Queries answered with a time stamp. */
  readonly replies: number;
  close(): Promise<void>;
}

export async function startTsa(dir: string, signer: { cert: string; key: string }): Promise<LocalTsa> {
  const config = join(dir, 'tsa.cnf');
  writeFileSync(join(dir, 'tsaserial'), '01\n');
  writeFileSync(
    config,
    [
      'oid_section = oids',
      '[ oids ]',
      'tsa_policy1 = 1.3.6.1.4.1.99999.1',
      '[ tsa ]',
      'default_tsa = tsa_config',
      '[ tsa_config ]',
      `serial = ${join(dir, 'tsaserial')}`,
      `signer_cert = ${signer.cert}`,
      `signer_key = ${signer.key}`,
      'signer_digest = sha256',
      'default_policy = tsa_policy1',
      'digests = sha1, sha256, sha384, sha512',
      'accuracy = secs:1',
      'ess_cert_id_alg = sha256',
      '',
    ].join('\n'),
  );
  let replies = 0;
  let n = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const id = ++n;
      const query = join(dir, `q${id}.tsq`);
      const reply = join(dir, `r${id}.tsr`);
      try {
        if (req.method !== 'POST' || req.headers['content-type'] !== 'application/timestamp-query')
          throw new Error(`unexpected ${req.method} ${req.headers['content-type']}`);
        await writeFile(query, Buffer.concat(chunks));
        await execFileP('openssl', ['ts', '-reply', '-config', config, '-queryfile', query, '-out', reply]);
        const body = await readFile(reply);
        replies++;
        res.writeHead(200, { 'content-type': 'application/timestamp-reply', 'content-length': body.length });
        res.end(body);
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/tsa`,
    get replies() {
      return replies;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
