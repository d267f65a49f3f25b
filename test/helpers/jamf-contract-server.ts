// Contract test server for Jamf Pro: OAuth client credentials (/api/oauth/token), packages (Jamf Pro API,
// JSON + multipart upload), configuration profiles and policies (Classic API, XML), computer extension
// attributes. Not Jamf's service: it implements the documented contract and verifies what the client
// sends (bearer token on every call, upload file name = fileName, well-formed escaped Classic XML:
// 409 on an unescaped & or <, as Jamf answers).
import { Buffer } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FaultPlan, listenContractServer, sendJson as json, type FaultOptions } from './contract-http.js';

export interface JamfContractServer {
  url: string;
  clientId: string;
  clientSecret: string;
  requests: Array<{ method: string; path: string; headers: IncomingMessage['headers'] }>;
  packages: Map<string, { body: Record<string, unknown>; uploaded?: { filename: string; bytes: Buffer } }>;
  profiles: Map<string, string>;
  policies: Map<string, string>;
  extensionAttributes: Map<string, Record<string, unknown>>;
  /** Answer the next `times` matching requests with `status`. */
  fail(method: string, path: RegExp, status: number, options?: FaultOptions): void;
  /** Expire every issued token (the next call gets 401). */
  expireTokens(): void;
  close(): Promise<void>;
}

/** Decode the XML entities of a text node. */
export function xmlDecode(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos);/g, (_m, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[e]!);
}

function wellFormed(xml: string): boolean {
  try {
    execFileSync('xmllint', ['--noout', '-'], { input: xml, stdio: ['pipe', 'ignore', 'ignore'] });
    return true;
  } catch {
    return false;
  }
}

/** One part of a multipart/form-data body. */
function multipartFile(body: Buffer, contentType: string): { name: string; filename: string; bytes: Buffer } | undefined {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  if (!boundary) return undefined;
  const delimiter = Buffer.from(`--${boundary}`);
  let start = body.indexOf(delimiter);
  while (start >= 0) {
    const next = body.indexOf(delimiter, start + delimiter.length);
    if (next < 0) break;
    const part = body.subarray(start + delimiter.length + 2, next - 2);
    const headerEnd = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, headerEnd).toString('utf8');
    const name = /name="([^"]*)"/.exec(headers)?.[1];
    const filename = /filename="([^"]*)"/.exec(headers)?.[1];
    if (name && filename !== undefined) return { name, filename, bytes: part.subarray(headerEnd + 4) };
    start = next;
  }
  return undefined;
}

export async function startJamfContractServer(): Promise<JamfContractServer> {
  const clientId = randomUUID();
  const clientSecret = `jamf-secret-${randomUUID()}`;
  const tokens = new Map<string, number>();
  const faults = new FaultPlan();
  const requests: JamfContractServer['requests'] = [];
  const packages: JamfContractServer['packages'] = new Map();
  const profiles = new Map<string, string>();
  const policies = new Map<string, string>();
  const extensionAttributes = new Map<string, Record<string, unknown>>();
  let nextId = 1;

  const apiError = (res: ServerResponse, status: number, code: string, description: string) =>
    json(res, status, { httpStatus: status, errors: [{ code, description, id: '0', field: null }] });
  const classic = (res: ServerResponse, status: number, text: string) => {
    res.writeHead(status, { 'content-type': status < 300 ? 'application/xml' : 'text/html' });
    res.end(text);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const method = req.method ?? 'GET';
    requests.push({ method, path, headers: req.headers });
    const fault = faults.take(method, path);
    if (fault) {
      return json(
        res,
        fault.status,
        { httpStatus: fault.status, errors: [{ code: 'INJECTED', description: 'contract test server: injected fault' }] },
        fault.headers,
      );
    }
    if (path === '/api/oauth/token' && method === 'POST') {
      const form = new URLSearchParams(body.toString('utf8'));
      if (form.get('grant_type') !== 'client_credentials' || form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret) {
        return json(res, 401, { error: 'invalid_client' });
      }
      const token = `jamf-${randomUUID()}`;
      tokens.set(token, Date.now() + 60_000);
      return json(res, 200, { access_token: token, scope: 'api-role:holdfast', token_type: 'Bearer', expires_in: 59 });
    }
    const auth = req.headers.authorization ?? '';
    const expiry = auth.startsWith('Bearer ') ? tokens.get(auth.slice(7)) : undefined;
    if (expiry === undefined || expiry < Date.now()) return apiError(res, 401, 'INVALID_TOKEN', 'Unauthorized');

    if (path === '/api/v1/packages' && method === 'POST') {
      const p = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      for (const f of ['packageName', 'fileName', 'categoryId', 'priority'])
        if (p[f] === undefined) return apiError(res, 400, 'INVALID_FIELD', `${f} is required`);
      if ([...packages.values()].some((x) => x.body.packageName === p.packageName)) return apiError(res, 409, 'DUPLICATE_FIELD', 'packageName must be unique');
      const id = String(nextId++);
      packages.set(id, { body: p });
      return json(res, 201, { id, href: `/api/v1/packages/${id}` });
    }
    const upload = /^\/api\/v1\/packages\/(\d+)\/upload$/.exec(path);
    if (upload && method === 'POST') {
      const pkg = packages.get(upload[1]);
      if (!pkg) return apiError(res, 404, 'NOT_FOUND', 'package not found');
      const part = multipartFile(body, req.headers['content-type'] ?? '');
      if (!part || part.name !== 'file') return apiError(res, 400, 'INVALID_FIELD', 'multipart field "file" expected');
      if (part.filename !== pkg.body.fileName)
        return apiError(res, 400, 'INVALID_FILENAME', `uploaded file name ${part.filename} differs from fileName ${String(pkg.body.fileName)}`);
      pkg.uploaded = { filename: part.filename, bytes: part.bytes };
      return json(res, 201, { id: upload[1], href: `/api/v1/packages/${upload[1]}` });
    }
    if ((path === '/JSSResource/osxconfigurationprofiles/id/0' || path === '/JSSResource/policies/id/0') && method === 'POST') {
      const xml = body.toString('utf8');
      if (!/xml/.test(req.headers['content-type'] ?? '') || !wellFormed(xml)) {
        return classic(res, 409, '<html><body><p>Error: Problem with request: XML is not well-formed</p></body></html>');
      }
      const isProfile = path.includes('osxconfigurationprofiles');
      const root = isProfile ? 'os_x_configuration_profile' : 'policy';
      if (!new RegExp(`<${root}>[\\s\\S]*<name>[^<]+</name>[\\s\\S]*</${root}>`).test(xml))
        return classic(res, 409, '<html><body><p>Error: name is required</p></body></html>');
      const id = String(nextId++);
      (isProfile ? profiles : policies).set(id, xml);
      return classic(res, 201, `<?xml version="1.0" encoding="UTF-8"?><${root}><id>${id}</id></${root}>`);
    }
    if (path === '/api/v1/computer-extension-attributes' && method === 'POST') {
      const ea = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      if (ea.inputType !== 'SCRIPT' || typeof ea.scriptContents !== 'string' || !ea.name)
        return apiError(res, 400, 'INVALID_FIELD', 'name, inputType SCRIPT and scriptContents are required');
      if ([...extensionAttributes.values()].some((x) => x.name === ea.name)) return apiError(res, 409, 'DUPLICATE_FIELD', 'name must be unique');
      const id = String(nextId++);
      extensionAttributes.set(id, ea);
      return json(res, 201, { id, href: `/api/v1/computer-extension-attributes/${id}` });
    }
    return apiError(res, 404, 'NOT_FOUND', `no route ${method} ${path}`);
  };

  const http = await listenContractServer(handle, (res, err) => apiError(res, 500, 'INTERNAL', err.message));
  const url = http.url;
  return {
    url,
    clientId,
    clientSecret,
    requests,
    packages,
    profiles,
    policies,
    extensionAttributes,
    fail: (method, path, status, options) => faults.add(method, path, status, options),
    expireTokens() {
      for (const k of tokens.keys()) tokens.set(k, 0);
    },
    close: http.close,
  };
}
