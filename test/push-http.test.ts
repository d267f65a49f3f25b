// The push HTTP client on its own: Retry-After (seconds and HTTP date), backoff until the attempts run out,
// 401/403 wording, masking of secrets in dry-run output.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { HttpClient, HttpError, maskJson, maskUrl, retryAfterMs } from '../deployer/push/http.js';

let url: string;
const hits: string[] = [];
const server = createServer((req, res) => {
  hits.push(req.url ?? '');
  if (req.url === '/busy') {
    res.writeHead(503, { 'retry-after': '0' });
    return void res.end();
  }
  if (req.url === '/forbidden') {
    res.writeHead(403, { 'content-type': 'application/json' });
    return void res.end(JSON.stringify({ error: { code: 'Forbidden', message: 'Application is not authorized to perform this operation.' } }));
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end('{"ok":true}');
});

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

describe('push HTTP client', () => {
  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs('0.5')).toBe(500);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs('soon')).toBeUndefined();
  });

  it('gives up on a 503 after maxAttempts with a clear error, having retried each time', async () => {
    const before = hits.length;
    const client = new HttpClient({ service: 'Test', maxAttempts: 3, baseDelayMs: 1 });
    const err = await client.request({ step: 'busy step', method: 'GET', url: `${url}/busy` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect((err as Error).message).toBe(`Test: busy step still answered 503 after 3 attempts (GET ${url}/busy); try again later`);
    expect(hits.length - before).toBe(3);
    expect(client.retries).toHaveLength(2);
  });

  it('explains a 403 with the service message', async () => {
    const client = new HttpClient({ service: 'Microsoft Graph' });
    await expect(client.request({ step: 'create app', method: 'POST', url: `${url}/forbidden`, body: { json: {} } })).rejects.toThrow(
      /create app: 403 Forbidden .*grant it the API permissions.*\(Application is not authorized to perform this operation\.\)/,
    );
  });

  it('masks secrets in URLs, JSON, forms and headers, and sends nothing in dry-run', async () => {
    expect(maskUrl('https://x.blob.core.windows.net/c/b?sv=1&sig=abc%2Fdef&se=2030')).toBe('https://x.blob.core.windows.net/c/b?sv=1&sig=***&se=***');
    expect(maskJson({ fileEncryptionInfo: { encryptionKey: 'k', macKey: 'm', mac: 'public', fileDigest: 'd' }, client_secret: 's', name: 'n' })).toEqual({
      fileEncryptionInfo: { encryptionKey: '***', macKey: '***', mac: 'public', fileDigest: 'd' },
      client_secret: '***',
      name: 'n',
    });
    const lines: string[] = [];
    const before = hits.length;
    const client = new HttpClient({ service: 'Test', dryRun: true, log: (l) => lines.push(l) });
    const res = await client.request({
      step: 'token',
      method: 'POST',
      url: `${url}/token?code=xyz`,
      headers: { authorization: 'Bearer abc.def' },
      body: { form: { client_id: 'id', client_secret: 'topsecret' } },
    });
    expect(res.dryRun).toBe(true);
    expect(hits.length).toBe(before);
    expect(lines).toEqual([`[dry-run] token: POST ${url}/token?code=*** [authorization: Bearer ***] form client_id=id&client_secret=***`]);
  });
});
