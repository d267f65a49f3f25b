// Push apps and profiles to Microsoft Intune through Microsoft Graph (beta), the documented upload flow:
// token, app, content version, file entry, storage URI, blocks + block list, commit, committed version, assign.
// Win32 apps upload the .intunewin's encrypted content; macOS pkg apps the pkg, encrypted the same way.
import { Buffer } from 'node:buffer';
import { setTimeout as delay } from 'node:timers/promises';

import type { GraphBody } from '../../installers/intune/graph-app.js';
import type { EncryptionInfo, IntuneWinPackage } from '../../installers/intune/intunewin.js';
import { BearerSession, type IssuedToken } from './bearer.js';
import { HttpClient, HttpError, type HttpRequest, type HttpResponse } from './http.js';

export interface GraphPushOptions {
  tenantId: string;
  clientId: string;
  /** From the environment only; never printed. */
  clientSecret: string;
  /** Graph API root, default https://graph.microsoft.com/beta. */
  graphUrl?: string;
  /** Entra ID (login) root, default https://login.microsoftonline.com. */
  authorityUrl?: string;
  /** Entra group the app is assigned to (required intent); omit to skip the assignment. */
  groupId?: string;
  intent?: 'required' | 'available';
  /** Block size for the storage upload (Graph uploaders use 6 MiB). */
  blockSize?: number;
  pollIntervalMs?: number;
  pollTimeoutMs?: number;
  dryRun?: boolean;
  log?: (line: string) => void;
  http?: Partial<ConstructorParameters<typeof HttpClient>[0]>;
}

export interface GraphPushResult {
  appId: string;
  contentVersionId: string;
  fileId: string;
  blocks: number;
  retries: number;
  assigned: boolean;
}

/** What goes into the content version: the encrypted bytes and how they were encrypted. */
export interface IntuneContent {
  name: string;
  /** Size before encryption. */
  size: number;
  encrypted: Buffer;
  encryptionInfo: EncryptionInfo;
}

export function contentOfIntuneWin(pkg: IntuneWinPackage): IntuneContent {
  return { name: pkg.info.fileName, size: pkg.info.unencryptedContentSize, encrypted: pkg.encrypted, encryptionInfo: pkg.info.encryptionInfo };
}

/** One authenticated Graph conversation: a client-credentials token (renewed on expiry) and the retrying HTTP client. */
export class GraphSession {
  readonly http: HttpClient;
  readonly graph: string;
  private readonly authority: string;
  private readonly bearer: BearerSession;

  constructor(readonly options: GraphPushOptions) {
    this.http = new HttpClient({ service: 'Microsoft Graph', dryRun: options.dryRun, log: options.log, ...options.http });
    this.graph = (options.graphUrl ?? 'https://graph.microsoft.com/beta').replace(/\/+$/, '');
    this.authority = (options.authorityUrl ?? 'https://login.microsoftonline.com').replace(/\/+$/, '');
    this.bearer = new BearerSession(
      this.http,
      () => this.issue(),
      (l) => this.log(l),
      60_000,
    );
  }

  get dryRun(): boolean {
    return this.http.dryRun;
  }

  log(line: string): void {
    this.options.log?.(line);
  }

  /** The documented v2.0 client-credentials request (docs/mdm.md: why not msal-node here). */
  private async issue(): Promise<IssuedToken> {
    this.log('graph: requesting a token (client credentials)');
    const res = await this.http.request({
      step: 'token',
      method: 'POST',
      read: true,
      url: `${this.authority}/${encodeURIComponent(this.options.tenantId)}/oauth2/v2.0/token`,
      body: {
        form: {
          grant_type: 'client_credentials',
          client_id: this.options.clientId,
          client_secret: this.options.clientSecret,
          scope: `${new URL(this.graph).origin}/.default`,
        },
      },
    });
    return BearerSession.read('Microsoft Graph', res, 3600);
  }

  /** A Graph call (path below the API root) with the bearer token. */
  async call(req: Omit<HttpRequest, 'url' | 'headers'> & { path: string }): Promise<HttpResponse> {
    const { path, ...rest } = req;
    return this.bearer.call({ ...rest, url: `${this.graph}${path}` });
  }

  /** Every object of a collection, following @odata.nextLink pages. */
  async list(step: string, path: string): Promise<Array<Record<string, unknown>>> {
    const out: Array<Record<string, unknown>> = [];
    let url: string | undefined = `${this.graph}${path}`;
    while (url) {
      const res = await this.bearer.call({ step, method: 'GET', url });
      const page = (res.json ?? {}) as { value?: Array<Record<string, unknown>>; '@odata.nextLink'?: string };
      if (!Array.isArray(page.value)) throw new HttpError(`Microsoft Graph: ${step}: the response carries no value array`, res.status, step);
      out.push(...page.value);
      url = page['@odata.nextLink'];
    }
    return out;
  }

  /** The id of a created object, or a placeholder in a dry run. */
  id(res: HttpResponse, step: string, placeholder: string): string {
    if (res.dryRun) return placeholder;
    const v = (res.json as Record<string, unknown> | undefined)?.id;
    if (typeof v !== 'string' || v === '') throw new HttpError(`Microsoft Graph: ${step}: the response has no id`, res.status, step);
    return v;
  }
}

/** The app types whose content goes up through content versions. */
export function contentAppType(app: GraphBody): 'microsoft.graph.win32LobApp' | 'microsoft.graph.macOSPkgApp' {
  const type = app['@odata.type'].replace(/^#/, '');
  if (type !== 'microsoft.graph.win32LobApp' && type !== 'microsoft.graph.macOSPkgApp') throw new Error(`cannot push an app of type ${app['@odata.type']}`);
  return type;
}

/** Create the app (no content yet); returns its id. */
export async function createIntuneApp(session: GraphSession, app: GraphBody): Promise<string> {
  const type = contentAppType(app);
  session.log(`graph: creating the app ${JSON.stringify(String(app.displayName ?? ''))} (${type.slice('microsoft.graph.'.length)})`);
  const created = await session.call({ step: 'create app', method: 'POST', path: '/deviceAppManagement/mobileApps', body: { json: app } });
  return session.id(created, 'create app', '{appId}');
}

export interface UploadedContent {
  contentVersionId: string;
  fileId: string;
  blocks: number;
}

/**
 * Upload `content` into a new content version of the app and commit it (the documented flow: content version,
 * file entry, storage URI, blocks + block list, commit, commit state). The app's committed version is not changed.
 */
export async function uploadIntuneContent(session: GraphSession, appId: string, type: string, content: IntuneContent): Promise<UploadedContent> {
  const options = session.options;
  const dry = session.dryRun;
  const pollInterval = options.pollIntervalMs ?? 5000;
  const pollTimeout = options.pollTimeoutMs ?? 10 * 60_000;
  const appPath = `/deviceAppManagement/mobileApps/${appId}`;

  const version = await session.call({ step: 'content version', method: 'POST', path: `${appPath}/${type}/contentVersions`, body: { json: {} } });
  const contentVersionId = session.id(version, 'content version', '{contentVersionId}');
  const versionPath = `${appPath}/${type}/contentVersions/${contentVersionId}`;

  const fileRes = await session.call({
    step: 'file entry',
    method: 'POST',
    path: `${versionPath}/files`,
    body: {
      json: {
        '@odata.type': '#microsoft.graph.mobileAppContentFile',
        name: content.name,
        size: content.size,
        sizeEncrypted: content.encrypted.length,
        manifest: null,
        isDependency: false,
      },
    },
  });
  const fileId = session.id(fileRes, 'file entry', '{fileId}');
  const filePath = `${versionPath}/files/${fileId}`;

  const poll = async (step: string, want: string): Promise<Record<string, unknown>> => {
    if (dry) {
      session.log(`[dry-run] ${step}: GET ${session.graph}${filePath} until uploadState is ${want}`);
      return { azureStorageUri: 'https://{storageAccount}.blob.core.windows.net/{container}/{blob}?sv={sv}&sig=***' };
    }
    const deadline = Date.now() + pollTimeout;
    for (;;) {
      const res = await session.call({ step, method: 'GET', path: filePath });
      const body = (res.json ?? {}) as Record<string, unknown>;
      const state = String(body.uploadState ?? '');
      if (state === want) return body;
      if (/failed|timedout/i.test(state)) throw new HttpError(`Microsoft Graph: ${step}: upload state ${state}`, res.status, step);
      if (Date.now() > deadline) throw new HttpError(`Microsoft Graph: ${step}: still ${state || 'pending'} after ${pollTimeout / 1000} s`, res.status, step);
      await delay(pollInterval);
    }
  };

  session.log('graph: waiting for the storage URI');
  let sas = String((await poll('storage URI', 'azureStorageUriRequestSuccess')).azureStorageUri ?? '');
  if (!dry && !/^https?:\/\//.test(sas)) throw new HttpError('Microsoft Graph: storage URI: the file entry carries no azureStorageUri', 200, 'storage URI');

  const blockSize = options.blockSize ?? 6 * 1024 * 1024;
  const data = content.encrypted;
  const total = Math.max(1, Math.ceil(data.length / blockSize));
  const blockIds: string[] = [];
  let sasIssuedAt = Date.now();
  for (let i = 0; i < total; i++) {
    // The SAS URI lives about 10 minutes: renew it well before on long uploads.
    if (!dry && Date.now() - sasIssuedAt > 7 * 60_000) {
      await session.call({ step: 'renew upload', method: 'POST', path: `${filePath}/renewUpload`, body: { json: {} } });
      sas = String((await poll('storage URI', 'azureStorageUriRenewalSuccess')).azureStorageUri ?? sas);
      sasIssuedAt = Date.now();
    }
    // Block ids must all have the same length: a fixed-width counter, base64.
    const id = Buffer.from(`block-${String(i).padStart(6, '0')}`).toString('base64');
    blockIds.push(id);
    session.log(`graph: uploading block ${i + 1}/${total}`);
    await session.http.request({
      step: `upload block ${i + 1}/${total}`,
      method: 'PUT',
      url: `${sas}&comp=block&blockid=${encodeURIComponent(id)}`,
      headers: { 'x-ms-blob-type': 'BlockBlob' },
      timeoutMs: 600_000,
      body: { bytes: data.subarray(i * blockSize, Math.min(data.length, (i + 1) * blockSize)) },
    });
  }
  const blockList = `<?xml version="1.0" encoding="utf-8"?><BlockList>${blockIds.map((id) => `<Latest>${id}</Latest>`).join('')}</BlockList>`;
  await session.http.request({ step: 'block list', method: 'PUT', url: `${sas}&comp=blocklist`, body: { text: blockList, contentType: 'application/xml' } });

  const e = content.encryptionInfo;
  session.log('graph: committing the file');
  await session.call({
    step: 'commit',
    method: 'POST',
    path: `${filePath}/commit`,
    body: {
      json: {
        fileEncryptionInfo: {
          '@odata.type': 'microsoft.graph.fileEncryptionInfo',
          encryptionKey: e.encryptionKey,
          macKey: e.macKey,
          initializationVector: e.initializationVector,
          mac: e.mac,
          profileIdentifier: e.profileIdentifier,
          fileDigest: e.fileDigest,
          fileDigestAlgorithm: e.fileDigestAlgorithm,
        },
      },
    },
  });
  await poll('commit state', 'commitFileSuccess');

  return { contentVersionId, fileId, blocks: total };
}

/** Make `contentVersionId` the app's committed content, writing `settings` (display version, rules...) with it. */
export async function commitIntuneApp(
  session: GraphSession,
  appId: string,
  type: string,
  settings: Record<string, unknown>,
  contentVersionId?: string,
): Promise<void> {
  await session.call({
    step: contentVersionId ? 'committed version' : 'update app',
    method: 'PATCH',
    path: `/deviceAppManagement/mobileApps/${appId}`,
    body: { json: { ...settings, '@odata.type': `#${type}`, ...(contentVersionId && { committedContentVersion: contentVersionId }) } },
  });
}

export interface GraphAssignment {
  target?: { '@odata.type'?: string; groupId?: string };
  [k: string]: unknown;
}

/** The app's assignments as Graph lists them. */
export async function intuneAppAssignments(session: GraphSession, appId: string): Promise<GraphAssignment[]> {
  return (await session.list('read assignments', `/deviceAppManagement/mobileApps/${appId}/assignments`)) as GraphAssignment[];
}

/** POST /assign replaces every assignment: send the ones kept together with the group's new one. */
export async function assignIntuneApp(session: GraphSession, appId: string, groupId: string, kept: GraphAssignment[] = []): Promise<void> {
  session.log(`graph: assigning the app to group ${groupId}`);
  const keep = kept.map(({ id: _id, ...a }) => a);
  await session.call({
    step: 'assign',
    method: 'POST',
    path: `/deviceAppManagement/mobileApps/${appId}/assign`,
    body: {
      json: {
        mobileAppAssignments: [
          ...keep,
          {
            '@odata.type': '#microsoft.graph.mobileAppAssignment',
            intent: session.options.intent ?? 'required',
            target: { '@odata.type': '#microsoft.graph.groupAssignmentTarget', groupId },
            settings: null,
          },
        ],
      },
    },
  });
}

/**
 * Create the app described by `app` (a win32LobApp or macOSPkgApp body), upload `content` into a new content
 * version, commit it, make it the app's committed version, and assign the app when a group is given.
 */
export async function pushIntuneApp(
  content: IntuneContent,
  app: GraphBody,
  options: GraphPushOptions,
  session = new GraphSession(options),
): Promise<GraphPushResult> {
  const type = contentAppType(app);
  const appId = await createIntuneApp(session, app);
  const up = await uploadIntuneContent(session, appId, type, content);
  await commitIntuneApp(session, appId, type, {}, up.contentVersionId);
  if (options.groupId) await assignIntuneApp(session, appId, options.groupId);
  return { appId, ...up, retries: session.http.retries.length, assigned: Boolean(options.groupId) };
}

/** Create a device configuration (e.g. macOSCustomConfiguration) and assign it when a group is given. */
export async function pushIntuneProfile(
  body: GraphBody,
  options: GraphPushOptions,
  session = new GraphSession(options),
): Promise<{ id: string; assigned: boolean }> {
  session.log(`graph: creating the configuration ${JSON.stringify(String(body.displayName ?? ''))}`);
  const res = await session.call({
    step: `profile ${String(body.payloadFileName ?? body.displayName ?? '')}`,
    method: 'POST',
    path: '/deviceManagement/deviceConfigurations',
    body: { json: body },
  });
  const id = session.id(res, 'profile', '{deviceConfigurationId}');
  if (!options.groupId) return { id, assigned: false };
  await assignIntuneProfile(session, id, options.groupId);
  return { id, assigned: true };
}

/** Write a configuration's settings and payload in place (its assignments stay). */
export async function updateIntuneProfile(session: GraphSession, id: string, body: GraphBody): Promise<void> {
  session.log(`graph: updating the configuration ${JSON.stringify(String(body.displayName ?? ''))}`);
  await session.call({
    step: `update profile ${String(body.payloadFileName ?? body.displayName ?? '')}`,
    method: 'PATCH',
    path: `/deviceManagement/deviceConfigurations/${id}`,
    body: { json: body },
  });
}

export async function intuneProfileAssignments(session: GraphSession, id: string): Promise<GraphAssignment[]> {
  return (await session.list('read profile assignments', `/deviceManagement/deviceConfigurations/${id}/assignments`)) as GraphAssignment[];
}

/** POST /assign replaces every assignment: the kept ones go with the group's new one. */
export async function assignIntuneProfile(session: GraphSession, id: string, groupId: string, kept: GraphAssignment[] = []): Promise<void> {
  await session.call({
    step: 'assign profile',
    method: 'POST',
    path: `/deviceManagement/deviceConfigurations/${id}/assign`,
    body: {
      json: {
        assignments: [
          ...kept.map(({ id: _id, ...a }) => a),
          {
            '@odata.type': '#microsoft.graph.deviceConfigurationAssignment',
            target: { '@odata.type': '#microsoft.graph.groupAssignmentTarget', groupId },
          },
        ],
      },
    },
  });
}
