// Contract test server for Jamf Pro: OAuth client credentials (/api/oauth/token), packages (Jamf Pro API,
// JSON + multipart upload), configuration profiles and policies (Classic API, XML), computer extension
// attributes. Not Jamf's service: it implements the documented contract and verifies what the client
// sends (bearer token on every call, upload file name = fileName, well-formed escaped Classic XML:
// 409 on an unescaped & or <, as Jamf answers). It keeps state across calls: Jamf Pro API collections answer
// `filter` (RSQL equality) GETs and PUT updates, Classic API objects are read by name and replaced by id, and
// names are unique per collection (409 on a duplicate, as Jamf does).
import { Buffer } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FaultPlan, RequestTriggers, countWrites, listenContractServer, sendJson as json, type FaultOptions } from './contract-http.js';

export interface JamfContractServer {
  url: string;
  clientId: string;
  clientSecret: string;
  requests: Array<{ method: string; path: string; query: URLSearchParams; headers: IncomingMessage['headers'] }>;
  packages: Map<string, { body: Record<string, unknown>; uploaded?: { filename: string; bytes: Buffer } }>;
  profiles: Map<string, string>;
  policies: Map<string, string>;
  extensionAttributes: Map<string, Record<string, unknown>>;
  scripts: Map<string, Record<string, unknown>>;
  /** Answer the next `times` matching requests with `status`. */
  fail(method: string, path: RegExp, status: number, options?: FaultOptions): void;
  /** Expire every issued token (the next call gets 401). */
  expireTokens(): void;
  /** Expire every issued token when the next matching request arrives (that request already gets 401). */
  expireTokensAt(method: string, path: RegExp): void;
  /** Requests that changed something (every one but GETs and token requests), since the start. */
  writes(): number;
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

/** `field=="value"` (or unquoted) as the Jamf Pro API's RSQL filter takes it; undefined when not that form. */
function rsqlEquals(filter: string): { field: string; value: string } | undefined {
  const m = /^(\w+)==("(?:[^"\\]|\\.)*"|[^;,"]+)$/.exec(filter);
  if (!m) return undefined;
  return { field: m[1], value: m[2].startsWith('"') ? (JSON.parse(m[2]) as string) : m[2] };
}

/** The <name> inside a Classic document's <general> (or its root), decoded. */
function classicName(xml: string): string | undefined {
  const m = /<name>([^<]*)<\/name>/.exec(xml);
  return m ? xmlDecode(m[1]) : undefined;
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
  const scripts = new Map<string, Record<string, unknown>>();
  const triggers = new RequestTriggers();
  let nextId = 1;

  /** A Jamf Pro API collection: list with filter, create, read, replace; `unique` names the field that must be unique. */
  const collections: Array<{
    path: string;
    items: Map<string, Record<string, unknown>>;
    unique: string;
    validate(b: Record<string, unknown>): string | undefined;
  }> = [
    {
      path: '/api/v1/computer-extension-attributes',
      items: extensionAttributes,
      unique: 'name',
      validate: (ea) =>
        ea.inputType !== 'SCRIPT' || typeof ea.scriptContents !== 'string' || !ea.name ? 'name, inputType SCRIPT and scriptContents are required' : undefined,
    },
    {
      path: '/api/v1/scripts',
      items: scripts,
      unique: 'name',
      validate: (sc) =>
        !sc.name || typeof sc.scriptContents !== 'string' || !['BEFORE', 'AFTER', 'AT_REBOOT'].includes(String(sc.priority))
          ? 'name, scriptContents and priority (BEFORE, AFTER, AT_REBOOT) are required'
          : undefined,
    },
  ];

  const apiError = (res: ServerResponse, status: number, code: string, description: string) =>
    json(res, status, { httpStatus: status, errors: [{ code, description, id: '0', field: null }] });
  const classic = (res: ServerResponse, status: number, text: string) => {
    res.writeHead(status, { 'content-type': status < 300 ? 'application/xml' : 'text/html' });
    res.end(text);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    requests.push({ method, path, query: url.searchParams, headers: req.headers });
    triggers.fire(method, path);
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

    const listFiltered = (items: Map<string, Record<string, unknown>>) => {
      const filter = url.searchParams.get('filter');
      const eq = filter ? rsqlEquals(filter) : undefined;
      if (filter && !eq) return apiError(res, 400, 'INVALID_RSQL', `unsupported filter ${filter}`);
      const results = [...items.entries()].map(([id, b]): Record<string, unknown> => ({ ...b, id })).filter((b) => !eq || String(b[eq.field]) === eq.value);
      return json(res, 200, { totalCount: results.length, results });
    };
    const packageBodies = new Map([...packages.entries()].map(([id, p]) => [id, p.body]));
    if (path === '/api/v1/packages' && method === 'GET') return listFiltered(packageBodies);
    const pkgItem = /^\/api\/v1\/packages\/(\d+)$/.exec(path);
    if (pkgItem && (method === 'GET' || method === 'PUT')) {
      const pkg = packages.get(pkgItem[1]);
      if (!pkg) return apiError(res, 404, 'NOT_FOUND', 'package not found');
      if (method === 'GET') return json(res, 200, { ...pkg.body, id: pkgItem[1] });
      const p = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      for (const f of ['packageName', 'fileName', 'categoryId', 'priority'])
        if (p[f] === undefined) return apiError(res, 400, 'INVALID_FIELD', `${f} is required`);
      if ([...packages.entries()].some(([id, x]) => id !== pkgItem[1] && x.body.packageName === p.packageName))
        return apiError(res, 409, 'DUPLICATE_FIELD', 'packageName must be unique');
      pkg.body = { ...p };
      delete pkg.body.id;
      return json(res, 200, { ...pkg.body, id: pkgItem[1] });
    }
    for (const c of collections) {
      if (path === c.path && method === 'GET') return listFiltered(c.items);
      const item = path.startsWith(`${c.path}/`) ? path.slice(c.path.length + 1) : undefined;
      if ((path === c.path && method === 'POST') || (item && method === 'PUT')) {
        const b = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        delete b.id;
        const bad = c.validate(b);
        if (bad) return apiError(res, 400, 'INVALID_FIELD', bad);
        if (item && !c.items.has(item)) return apiError(res, 404, 'NOT_FOUND', 'not found');
        if ([...c.items.entries()].some(([id, x]) => id !== item && x[c.unique] === b[c.unique]))
          return apiError(res, 409, 'DUPLICATE_FIELD', `${c.unique} must be unique`);
        const id = item ?? String(nextId++);
        c.items.set(id, b);
        return json(res, item ? 200 : 201, item ? { ...b, id } : { id, href: `${c.path}/${id}` });
      }
      if (item && method === 'GET') {
        const found = c.items.get(item);
        return found ? json(res, 200, { ...found, id: item }) : apiError(res, 404, 'NOT_FOUND', 'not found');
      }
    }
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
    const classicMatch = /^\/JSSResource\/(osxconfigurationprofiles|policies)\/(id|name)\/([^/]+)$/.exec(path);
    if (classicMatch) {
      const [, kind, by, ref] = classicMatch;
      const store = kind === 'policies' ? policies : profiles;
      const root = kind === 'policies' ? 'policy' : 'os_x_configuration_profile';
      const key = decodeURIComponent(ref);
      const id = by === 'id' ? key : [...store.entries()].find(([, x]) => classicName(x) === key)?.[0];
      if (method === 'GET') {
        const xml = id ? store.get(id) : undefined;
        if (!xml) return classic(res, 404, '<html><body><p>The server has not found anything matching the request URI</p></body></html>');
        // Jamf answers with the object's id inside <general>.
        return classic(res, 200, xml.replace(/^<\?xml[^>]*>/, '').replace('<general>', `<general><id>${id}</id>`));
      }
      if (method === 'POST' || method === 'PUT') {
        const xml = body.toString('utf8');
        if (!/xml/.test(req.headers['content-type'] ?? '') || !wellFormed(xml)) {
          return classic(res, 409, '<html><body><p>Error: Problem with request: XML is not well-formed</p></body></html>');
        }
        if (!new RegExp(`<${root}>[\\s\\S]*<name>[^<]+</name>[\\s\\S]*</${root}>`).test(xml))
          return classic(res, 409, '<html><body><p>Error: name is required</p></body></html>');
        if (method === 'POST' && !(by === 'id' && key === '0')) return classic(res, 409, '<html><body><p>Error: create with POST .../id/0</p></body></html>');
        if (method === 'PUT' && (!id || !store.has(id))) return classic(res, 404, '<html><body><p>Not Found</p></body></html>');
        const newId = method === 'POST' ? String(nextId++) : id!;
        if ([...store.entries()].some(([other, x]) => other !== newId && classicName(x) === classicName(xml)))
          return classic(res, 409, '<html><body><p>Error: Duplicate name</p></body></html>');
        store.set(newId, xml);
        return classic(res, 201, `<?xml version="1.0" encoding="UTF-8"?><${root}><id>${newId}</id></${root}>`);
      }
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
    scripts,
    expireTokens() {
      for (const k of tokens.keys()) tokens.set(k, 0);
    },
    expireTokensAt(method, path) {
      triggers.add(method, path, () => {
        for (const k of tokens.keys()) tokens.set(k, 0);
      });
    },
    writes: () => countWrites(requests, /^\/api\/oauth\/token$/),
    close: http.close,
  };
}
