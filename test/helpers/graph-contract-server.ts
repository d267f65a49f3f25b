// Contract test server for Microsoft Graph (beta) Win32 app upload and the Entra ID v2.0 token endpoint.
// Not Microsoft's service: it implements the documented contract (status codes, JSON shapes, upload states,
// SAS block upload with comp=block / comp=blocklist, Retry-After on 429) and verifies what the client sends:
// the committed block list must reassemble the encrypted file, whose MAC and digest must match the
// fileEncryptionInfo of the commit, or the upload state becomes commitFileFailed. It keeps state across calls
// (apps, content versions, assignments, configurations), lists collections in @odata.nextLink pages, takes
// PATCH updates (read-only properties refused, as Graph does) and can expire its tokens mid-flow.
import { Buffer } from 'node:buffer';
import { createDecipheriv, createHash, createHmac, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FaultPlan, RequestTriggers, countWrites, listenContractServer, sendJson as json, type FaultOptions } from './contract-http.js';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export interface GraphContractFile {
  id: string;
  name: string;
  size: number;
  sizeEncrypted: number;
  uploadState: string;
  blocks: Map<string, Buffer>;
  committedBlob?: Buffer;
  fileEncryptionInfo?: Record<string, string>;
  failure?: string;
}

export interface GraphContractApp {
  id: string;
  body: Record<string, unknown>;
  contentVersions: Map<string, Map<string, GraphContractFile>>;
  committedContentVersion?: string;
  assignments?: Array<Record<string, unknown>>;
}

export interface GraphContractServer {
  url: string;
  graphUrl: string;
  authorityUrl: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  requests: RecordedRequest[];
  apps: Map<string, GraphContractApp>;
  configurations: Map<string, { body: Record<string, unknown>; assignments?: Array<Record<string, unknown>> }>;
  /** Answer the next `times` matching requests with `status` (429/503 carry Retry-After). */
  fail(method: string, path: RegExp, status: number, options?: FaultOptions): void;
  /** Expire every issued token when the next matching request arrives (that request already gets 401). */
  expireTokensAt(method: string, path: RegExp): void;
  /** Requests that changed something (every one but GETs and token requests), since the start. */
  writes(): number;
  close(): Promise<void>;
}

/** Items per page of a collection GET (small, so clients must follow @odata.nextLink). */
const PAGE_SIZE = 2;

/** Properties Graph computes; a PATCH that sets them is refused. */
const READ_ONLY = ['id', 'size', 'createdDateTime', 'lastModifiedDateTime', 'uploadState', 'publishingState', 'isAssigned', 'dependentAppCount'];

const TOKEN_TTL_S = 3599;

/** Fields the contract requires when creating each app type. */
const REQUIRED_APP_FIELDS: Record<string, string[]> = {
  '#microsoft.graph.win32LobApp': [
    'displayName',
    'publisher',
    'fileName',
    'setupFilePath',
    'installCommandLine',
    'uninstallCommandLine',
    'installExperience',
    'rules',
    'returnCodes',
  ],
  '#microsoft.graph.macOSPkgApp': ['displayName', 'publisher', 'fileName', 'primaryBundleId', 'primaryBundleVersion', 'includedApps'],
};

export async function startGraphContractServer(): Promise<GraphContractServer> {
  const tenantId = randomUUID();
  const clientId = randomUUID();
  const clientSecret = `secret-${randomUUID()}`;
  const tokens = new Set<string>();
  const apps = new Map<string, GraphContractApp>();
  const requests: RecordedRequest[] = [];
  const faults = new FaultPlan();
  const files = new Map<string, GraphContractFile>();
  const configurations = new Map<string, { body: Record<string, unknown>; assignments?: Array<Record<string, unknown>> }>();
  const triggers = new RequestTriggers();
  let base = '';

  const appView = (app: GraphContractApp) => ({
    ...app.body,
    id: app.id,
    committedContentVersion: app.committedContentVersion ?? null,
    isAssigned: Boolean(app.assignments?.length),
    publishingState: app.committedContentVersion ? 'published' : 'notPublished',
  });

  /** One page of a collection, with @odata.nextLink to the next (skiptoken = offset). */
  const page = (res: ServerResponse, url: URL, items: unknown[]) => {
    const skip = Number(url.searchParams.get('$skiptoken') ?? '0');
    const next = new URL(url.href);
    next.searchParams.set('$skiptoken', String(skip + PAGE_SIZE));
    return json(res, 200, {
      '@odata.context': `${base}/beta/$metadata`,
      value: items.slice(skip, skip + PAGE_SIZE),
      ...(skip + PAGE_SIZE < items.length && { '@odata.nextLink': next.href }),
    });
  };

  /** Graph keeps assignments with ids of their own. */
  const withIds = (list: unknown): Array<Record<string, unknown>> =>
    (Array.isArray(list) ? list : []).map((a: Record<string, unknown>) => ({ ...a, id: `${randomUUID()}` }));

  const graphError = (res: ServerResponse, status: number, code: string, message: string) => json(res, status, { error: { code, message } });

  const verifyCommit = (file: GraphContractFile): void => {
    const info = file.fileEncryptionInfo!;
    const blob = file.committedBlob;
    if (!blob) return void (file.failure = 'no committed block list');
    if (blob.length !== file.sizeEncrypted) return void (file.failure = `blob is ${blob.length} bytes, sizeEncrypted said ${file.sizeEncrypted}`);
    const mac = blob.subarray(0, 32);
    const body = blob.subarray(32);
    const expected = createHmac('sha256', Buffer.from(info.macKey ?? '', 'base64'))
      .update(body)
      .digest();
    if (!mac.equals(expected) || mac.toString('base64') !== info.mac) return void (file.failure = 'MAC does not match fileEncryptionInfo');
    if (body.subarray(0, 16).toString('base64') !== info.initializationVector) return void (file.failure = 'IV does not match');
    try {
      const d = createDecipheriv('aes-256-cbc', Buffer.from(info.encryptionKey ?? '', 'base64'), body.subarray(0, 16));
      const plain = Buffer.concat([d.update(body.subarray(16)), d.final()]);
      if (createHash('sha256').update(plain).digest('base64') !== info.fileDigest) return void (file.failure = 'fileDigest does not match');
      if (plain.length !== file.size) return void (file.failure = `decrypted size ${plain.length} differs from size ${file.size}`);
    } catch (err) {
      return void (file.failure = `decryption failed: ${(err as Error).message}`);
    }
    if (info.profileIdentifier !== 'ProfileVersion1' || info.fileDigestAlgorithm !== 'SHA256')
      return void (file.failure = 'unexpected profile or digest algorithm');
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> => {
    const url = new URL(req.url ?? '/', base);
    const path = url.pathname;
    const method = req.method ?? 'GET';
    requests.push({ method, path, query: url.searchParams, headers: req.headers, body });
    triggers.fire(method, path);

    const fault = faults.take(method, path);
    if (fault) {
      return json(
        res,
        fault.status,
        { error: { code: fault.status === 429 ? 'TooManyRequests' : 'ServiceUnavailable', message: 'contract test server: injected fault' } },
        fault.headers,
      );
    }

    // Entra ID v2.0 token endpoint (client credentials).
    const tokenMatch = /^\/login\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path);
    if (tokenMatch && method === 'POST') {
      const form = new URLSearchParams(body.toString('utf8'));
      if (!/application\/x-www-form-urlencoded/.test(req.headers['content-type'] ?? ''))
        return json(res, 400, { error: 'invalid_request', error_description: 'form body expected' });
      if (tokenMatch[1] !== tenantId) return json(res, 400, { error: 'invalid_tenant', error_description: 'tenant not found' });
      if (form.get('grant_type') !== 'client_credentials') return json(res, 400, { error: 'unsupported_grant_type' });
      if (form.get('scope') !== `${new URL(base).origin}/.default`)
        return json(res, 400, { error: 'invalid_scope', error_description: `scope must be ${new URL(base).origin}/.default` });
      if (form.get('client_id') !== clientId || form.get('client_secret') !== clientSecret)
        return json(res, 401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' });
      const token = `tok-${randomUUID()}`;
      tokens.add(token);
      return json(res, 200, { token_type: 'Bearer', expires_in: TOKEN_TTL_S, access_token: token });
    }

    // Azure Blob storage, addressed by the SAS URL the file entry hands out.
    const blobMatch = /^\/blob\/([^/]+)$/.exec(path);
    if (blobMatch && method === 'PUT') {
      const file = files.get(blobMatch[1]);
      if (!file || url.searchParams.get('sig') !== `sig-${file.id}`) {
        res.writeHead(403, { 'content-type': 'application/xml' });
        return void res.end('<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code></Error>');
      }
      const comp = url.searchParams.get('comp');
      if (comp === 'block') {
        const id = url.searchParams.get('blockid') ?? '';
        if (req.headers['x-ms-blob-type'] !== 'BlockBlob') return json(res, 400, { error: 'x-ms-blob-type: BlockBlob required' });
        const lengths = new Set([...file.blocks.keys()].map((k) => Buffer.from(k, 'base64').length));
        lengths.add(Buffer.from(id, 'base64').length);
        if (!id || lengths.size > 1) {
          res.writeHead(400, { 'content-type': 'application/xml' });
          return void res.end(
            '<?xml version="1.0" encoding="utf-8"?><Error><Code>InvalidBlobOrBlock</Code><Message>block ids must all have the same length</Message></Error>',
          );
        }
        file.blocks.set(id, body);
        res.writeHead(201, { 'x-ms-request-server-encrypted': 'true' });
        return void res.end();
      }
      if (comp === 'blocklist') {
        const ids = [...body.toString('utf8').matchAll(/<(Latest|Uncommitted|Committed)>([^<]*)<\/\1>/g)].map((m) => m[2]);
        const missing = ids.filter((id) => !file.blocks.has(id));
        if (ids.length === 0 || missing.length) {
          res.writeHead(400, { 'content-type': 'application/xml' });
          return void res.end('<?xml version="1.0" encoding="utf-8"?><Error><Code>InvalidBlockList</Code></Error>');
        }
        file.committedBlob = Buffer.concat(ids.map((id) => file.blocks.get(id)!));
        res.writeHead(201, { etag: `"${randomUUID()}"` });
        return void res.end();
      }
      return json(res, 400, { error: 'comp=block or comp=blocklist expected' });
    }

    // Graph: bearer token on every call.
    const graphPath = path.startsWith('/beta/') ? path.slice('/beta'.length) : undefined;
    if (graphPath === undefined) return graphError(res, 404, 'NotFound', `no route ${method} ${path}`);
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ') || !tokens.has(auth.slice(7)))
      return graphError(res, 401, 'InvalidAuthenticationToken', 'Access token is empty or invalid.');
    let parsed: Record<string, unknown> = {};
    if (body.length) {
      if (!/application\/json/.test(req.headers['content-type'] ?? '')) return graphError(res, 415, 'UnsupportedMediaType', 'JSON expected');
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        return graphError(res, 400, 'BadRequest', 'invalid JSON');
      }
    }

    if (graphPath === '/deviceAppManagement/mobileApps' && method === 'GET') {
      const filter = url.searchParams.get('$filter');
      const isof = filter === null ? undefined : /^isof\('([\w.]+)'\)$/.exec(filter)?.[1];
      if (filter !== null && !isof) return graphError(res, 400, 'BadRequest', `unsupported $filter ${filter}`);
      return page(res, url, [...apps.values()].filter((a) => !isof || a.body['@odata.type'] === `#${isof}`).map(appView));
    }
    if (graphPath === '/deviceManagement/deviceConfigurations' && method === 'GET') {
      return page(
        res,
        url,
        [...configurations.entries()].map(([id, c]) => ({ ...c.body, id })),
      );
    }
    if (graphPath === '/deviceAppManagement/mobileApps' && method === 'POST') {
      const required = REQUIRED_APP_FIELDS[String(parsed['@odata.type'])];
      if (!required) return graphError(res, 400, 'BadRequest', `@odata.type must be one of ${Object.keys(REQUIRED_APP_FIELDS).join(', ')}`);
      for (const f of required) {
        if (parsed[f] === undefined) return graphError(res, 400, 'BadRequest', `${f} is required`);
      }
      const id = randomUUID();
      apps.set(id, { id, body: parsed, contentVersions: new Map() });
      return json(res, 201, { ...parsed, id, uploadState: 0, publishingState: 'notPublished', createdDateTime: new Date().toISOString() });
    }
    if (graphPath === '/deviceManagement/deviceConfigurations' && method === 'POST') {
      if (parsed['@odata.type'] !== '#microsoft.graph.macOSCustomConfiguration')
        return graphError(res, 400, 'BadRequest', 'only #microsoft.graph.macOSCustomConfiguration is supported here');
      for (const f of ['displayName', 'payloadName', 'payloadFileName', 'payload'])
        if (typeof parsed[f] !== 'string') return graphError(res, 400, 'BadRequest', `${f} is required`);
      const id = randomUUID();
      configurations.set(id, { body: parsed });
      return json(res, 201, { ...parsed, id, version: 1, createdDateTime: new Date().toISOString() });
    }
    const confMatch = /^\/deviceManagement\/deviceConfigurations\/([^/]+)(\/assign|\/assignments)?$/.exec(graphPath);
    const conf = confMatch ? configurations.get(confMatch[1]) : undefined;
    if (confMatch && !conf) return graphError(res, 404, 'ResourceNotFound', 'configuration not found');
    if (conf && confMatch?.[2] === '/assign' && method === 'POST') {
      conf.assignments = withIds(parsed.assignments);
      return json(res, 200, { value: conf.assignments });
    }
    if (conf && confMatch?.[2] === '/assignments' && method === 'GET') return page(res, url, conf.assignments ?? []);
    if (conf && !confMatch?.[2] && method === 'PATCH') {
      if (parsed['@odata.type'] !== conf.body['@odata.type']) return graphError(res, 400, 'BadRequest', '@odata.type must name the configuration type');
      const ro = READ_ONLY.filter((k) => k in parsed);
      if (ro.length) return graphError(res, 400, 'BadRequest', `read-only properties: ${ro.join(', ')}`);
      conf.body = { ...conf.body, ...parsed };
      res.writeHead(204);
      return void res.end();
    }
    const appMatch = /^\/deviceAppManagement\/mobileApps\/([^/]+)(\/.*)?$/.exec(graphPath);
    const app = appMatch ? apps.get(appMatch[1]) : undefined;
    if (appMatch && !app) return graphError(res, 404, 'ResourceNotFound', 'app not found');
    const rest = appMatch?.[2] ?? '';
    if (app && rest === '' && method === 'GET') return json(res, 200, appView(app));
    if (app && rest === '/assignments' && method === 'GET') return page(res, url, app.assignments ?? []);
    if (app && rest === '' && method === 'PATCH') {
      if (parsed['@odata.type'] !== app.body['@odata.type']) return graphError(res, 400, 'BadRequest', '@odata.type must name the app type');
      const ro = READ_ONLY.filter((k) => k in parsed);
      if (ro.length) return graphError(res, 400, 'BadRequest', `read-only properties: ${ro.join(', ')}`);
      const v = parsed.committedContentVersion as string | undefined;
      if (v !== undefined) {
        const files = app.contentVersions.get(v);
        if (!files || [...files.values()].some((f) => f.uploadState !== 'commitFileSuccess'))
          return graphError(res, 400, 'BadRequest', 'content version has uncommitted files');
        app.committedContentVersion = v;
      }
      app.body = { ...app.body, ...parsed };
      res.writeHead(204);
      return void res.end();
    }
    if (app && rest === '/assign' && method === 'POST') {
      if (!app.committedContentVersion) return graphError(res, 400, 'BadRequest', 'app has no committed content');
      app.assignments = withIds(parsed.mobileAppAssignments);
      res.writeHead(204);
      return void res.end();
    }
    const appType = app ? String(app.body['@odata.type']).slice(1) : '';
    if (app && rest === `/${appType}/contentVersions` && method === 'POST') {
      const id = String(app.contentVersions.size + 1);
      app.contentVersions.set(id, new Map());
      return json(res, 201, { '@odata.type': '#microsoft.graph.mobileAppContent', id });
    }
    const cvMatch = /^\/(microsoft\.graph\.\w+)\/contentVersions\/([^/]+)\/files(?:\/([^/]+)(\/commit|\/renewUpload)?)?$/.exec(rest);
    const [, cvType, cvId, fileRef, action] = cvMatch ?? [];
    if (cvMatch && cvType !== appType) return graphError(res, 400, 'BadRequest', `the app is a ${appType}, not a ${cvType}`);
    const cv = cvMatch && app ? app.contentVersions.get(cvId) : undefined;
    if (cvMatch && !cv) return graphError(res, 404, 'ResourceNotFound', 'content version not found');
    if (cv && !fileRef && method === 'POST') {
      if (typeof parsed.name !== 'string' || typeof parsed.size !== 'number' || typeof parsed.sizeEncrypted !== 'number')
        return graphError(res, 400, 'BadRequest', 'name, size and sizeEncrypted are required');
      const file: GraphContractFile = {
        id: randomUUID(),
        name: parsed.name,
        size: parsed.size,
        sizeEncrypted: parsed.sizeEncrypted,
        uploadState: 'azureStorageUriRequestPending',
        blocks: new Map(),
      };
      cv.set(file.id, file);
      files.set(file.id, file);
      return json(res, 201, fileView(file));
    }
    const file = cv && fileRef ? cv.get(fileRef) : undefined;
    if (cv && fileRef && !file) return graphError(res, 404, 'ResourceNotFound', 'file not found');
    if (file && !action && method === 'GET') {
      // Each poll moves a pending state on, as the service does after a while.
      const view = fileView(file);
      if (file.uploadState === 'azureStorageUriRequestPending') file.uploadState = 'azureStorageUriRequestSuccess';
      else if (file.uploadState === 'azureStorageUriRenewalPending') file.uploadState = 'azureStorageUriRenewalSuccess';
      else if (file.uploadState === 'commitFilePending') {
        verifyCommit(file);
        file.uploadState = file.failure ? 'commitFileFailed' : 'commitFileSuccess';
      }
      return json(res, 200, view);
    }
    if (file && action === '/commit' && method === 'POST') {
      const info = parsed.fileEncryptionInfo as Record<string, string> | undefined;
      if (!info) return graphError(res, 400, 'BadRequest', 'fileEncryptionInfo is required');
      file.fileEncryptionInfo = info;
      file.uploadState = 'commitFilePending';
      res.writeHead(200);
      return void res.end();
    }
    if (file && action === '/renewUpload' && method === 'POST') {
      file.uploadState = 'azureStorageUriRenewalPending';
      res.writeHead(200);
      return void res.end();
    }
    return graphError(res, 404, 'NotFound', `no route ${method} ${path}`);
  };

  const fileView = (file: GraphContractFile) => ({
    '@odata.type': '#microsoft.graph.mobileAppContentFile',
    id: file.id,
    name: file.name,
    size: file.size,
    sizeEncrypted: file.sizeEncrypted,
    isCommitted: file.uploadState === 'commitFileSuccess',
    uploadState: file.uploadState,
    azureStorageUri:
      file.uploadState.startsWith('azureStorageUri') && file.uploadState.endsWith('Success')
        ? `${base}/blob/${file.id}?sv=2019-07-07&sr=b&se=2099-01-01&sp=rcw&sig=sig-${file.id}`
        : null,
    azureStorageUriExpirationDateTime: null,
    manifest: null,
  });

  const http = await listenContractServer(handle, (res, err) => graphError(res, 500, 'InternalServerError', err.message));
  base = http.url;
  return {
    url: base,
    graphUrl: `${base}/beta`,
    authorityUrl: `${base}/login`,
    tenantId,
    clientId,
    clientSecret,
    requests,
    apps,
    configurations,
    fail: (method, path, status, options) => faults.add(method, path, status, options),
    expireTokensAt: (method, path) => triggers.add(method, path, () => tokens.clear()),
    writes: () => countWrites(requests, /\/oauth2\/v2\.0\/token$/),
    close: http.close,
  };
}
